// The OpenAPI document against the route table and against real answers: every route in the
// table is in the document and nothing else is; the document is valid OpenAPI 3.1 by a real
// validator (npm @seriousme/openapi-schema-validator, run by tests/openapi/validate.mjs); and
// what the API answers on every route (storage faked) matches the schema the document gives.
#include "http/api.hpp"
#include "http/api_test_support.hpp"
#include "http/openapi.hpp"
#include "http/openapi_validator.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

namespace ticketing::http {
namespace {

namespace json = boost::json;
using purchase::Outcome;

const std::string kSecret(32, 'k');
constexpr std::int64_t kNow = 1'800'000'000;

// Answers every call with a plausible value, so each route's success answer can be checked.
class FullService : public purchase::Service {
 public:
  template <class T>
  using R = net::awaitable<purchase::Result<T>>;

  R<purchase::Reservation> Reserve(std::string, std::int64_t id, int q) override {
    co_return purchase::Result<purchase::Reservation>{
        Outcome::kOk, {"7-" + std::string(32, 'a'), id, q, "held", 1000'000, 700'000}};
  }
  R<std::vector<purchase::Reservation>> ListReservations(std::string, std::int64_t id) override {
    co_return purchase::Result<std::vector<purchase::Reservation>>{
        Outcome::kOk, {{"7-" + std::string(32, 'b'), id, 1, "held", 1000'000, 700'000}}};
  }
  net::awaitable<purchase::ConfirmResult> Confirm(std::string, std::string rid) override {
    co_return purchase::ConfirmResult{Outcome::kOk, {5, rid, 7, 1, 1999}, true};
  }
  net::awaitable<Outcome> Cancel(std::string, std::string) override { co_return Outcome::kOk; }
  R<purchase::Reservation> GetReservation(std::string, std::string rid) override {
    co_return purchase::Result<purchase::Reservation>{Outcome::kOk, {rid, 7, 1, "held", 1000, 0}};
  }
  R<purchase::Product> CreateProduct(purchase::NewProduct p) override {
    co_return purchase::Result<purchase::Product>{
        Outcome::kOk,
        {9, p.name, p.price_cents, p.stock, p.stock, p.per_user_limit, p.hold_seconds}};
  }
  static purchase::Product Gig(std::int64_t id) {
    purchase::Product p{id, "Gig", 4950, 100, 42, 2, 300};
    p.sale_starts_at_ms = 1'800'000'000'000;
    p.queue = purchase::QueueSettings{};
    return p;
  }
  R<purchase::Product> GetProduct(std::int64_t id) override {
    co_return purchase::Result<purchase::Product>{Outcome::kOk, Gig(id)};
  }
  R<purchase::Product> UpdateProduct(std::int64_t id, purchase::ProductChanges) override {
    co_return purchase::Result<purchase::Product>{Outcome::kOk, Gig(id)};
  }
  R<purchase::StockSync> SyncStock(std::int64_t) override {
    co_return purchase::Result<purchase::StockSync>{Outcome::kOk, {10, 8, 9, 1}};
  }
  net::awaitable<purchase::Readiness> CheckReady() override {
    co_return purchase::Readiness{true, true};
  }
  R<purchase::Page<purchase::Product>> ListProducts(std::int64_t, int) override {
    co_return purchase::Result<purchase::Page<purchase::Product>>{Outcome::kOk, {{Gig(1)}, "1"}};
  }
  R<purchase::ProductFigures> GetProductFigures(std::int64_t id) override {
    purchase::ProductFigures f;
    f.product = Gig(id);
    f.database_stock = 50;
    f.sold = 50;
    f.orders = 25;
    f.held = 6;
    f.confirming = 2;
    co_return purchase::Result<purchase::ProductFigures>{Outcome::kOk, f};
  }
  R<purchase::StockChange> ChangeStock(std::string, std::int64_t, std::int64_t,
                                       std::string) override {
    co_return purchase::Result<purchase::StockChange>{Outcome::kOk, {110, 60, 52, 0}};
  }
  R<purchase::Product> SetPaused(std::string, std::int64_t id, bool paused) override {
    auto p = Gig(id);
    p.paused = paused;
    co_return purchase::Result<purchase::Product>{Outcome::kOk, p};
  }
  R<purchase::Page<purchase::HoldRow>> ListHolds(std::int64_t, std::string, std::string,
                                                 int) override {
    co_return purchase::Result<purchase::Page<purchase::HoldRow>>{
        Outcome::kOk, {{{"7-" + std::string(32, 'c'), "bob", 2, "held", 1'800'000'300'000,
                         1'800'000'000'000}},
                       ""}};
  }
  static purchase::OrderRow Row(bool refunded) {
    purchase::OrderRow o{{5, "7-x", 7, 1, 4950}, "bob", 1'800'000'000'000, std::nullopt};
    if (refunded) o.refunded_at_ms = 1'800'000'100'000;
    return o;
  }
  R<purchase::Page<purchase::OrderRow>> ListOrders(std::int64_t, std::int64_t, int) override {
    co_return purchase::Result<purchase::Page<purchase::OrderRow>>{
        Outcome::kOk, {{Row(false), Row(true)}, "5"}};
  }
  R<purchase::Refund> RefundOrder(std::string, std::int64_t) override {
    co_return purchase::Result<purchase::Refund>{Outcome::kOk, {Row(true), false}};
  }
  R<purchase::Page<purchase::AuditEntry>> ListAudit(std::int64_t, int) override {
    co_return purchase::Result<purchase::Page<purchase::AuditEntry>>{
        Outcome::kOk,
        {{{3, 1'800'000'000'000, "ops", "refund", 7, 5, R"({"state":"paid"})",
           R"({"state":"refunded"})"},
          {2, 1'800'000'000'000, "ops", "product_create", 7, 0, "", R"({"name":"Gig"})"}},
         ""}};
  }
};

class FullQueue : public queue::Service {
 public:
  net::awaitable<purchase::Result<queue::Place>> Join(std::string, std::int64_t) override {
    co_return purchase::Result<queue::Place>{Outcome::kOk, Waiting()};
  }
  net::awaitable<purchase::Result<queue::Place>> Status(std::string, std::int64_t,
                                                        std::string) override {
    co_return purchase::Result<queue::Place>{Outcome::kOk, Waiting()};
  }
  net::awaitable<purchase::Result<queue::LineInfo>> Info(std::int64_t id) override {
    queue::LineInfo i;
    i.product_id = id;
    i.enabled = true;
    i.length = 4;
    co_return purchase::Result<queue::LineInfo>{Outcome::kOk, i};
  }
  std::optional<std::string> VerifyAdmission(std::string_view, std::string_view,
                                             std::int64_t) const override {
    return std::nullopt;
  }
  static queue::Place Waiting() {
    queue::Place p;
    p.ticket = "7-" + std::string(32, 'd');
    p.state = "waiting";
    p.position = 3;
    p.ahead_of_you = 2;
    p.line_length = 9;
    return p;
  }
};

// A body the route accepts.
std::string ValidBody(std::string_view schema) {
  if (schema == "ReserveRequest") return R"({"productId":7,"quantity":1})";
  if (schema == "ReservationRef") return R"({"reservationId":"7-abc"})";
  if (schema == "NewProduct") return R"({"name":"Gig","price":49.5,"stock":10})";
  if (schema == "ProductPatch") return R"({"saleStartsAt":null})";
  if (schema == "StockRequest") return R"({"add":5})";
  if (schema == "DemoLogin") return R"({"nickname":"minji"})";
  return "";
}

std::string Concrete(const RouteInfo& r) {
  std::string path(r.path);
  for (auto [from, to] :
       {std::pair{"{id}", "7"}, std::pair{"{rid}", "7-abc"}, std::pair{"{file}", "sale.js"}}) {
    if (auto at = path.find(from); at != std::string::npos) path.replace(at, strlen(from), to);
  }
  if (r.query.find("productId") != std::string_view::npos) path += "?productId=7";
  if (r.query.find("ticket") != std::string_view::npos) path += "?ticket=7-abc";
  return path;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

class OpenApiTest : public ::testing::Test {
 protected:
  OpenApiTest() : jwt_(kSecret), api_(service_, jwt_, [] { return kNow; }, &queue_) {
    WebOptions web;
    web.demo_login = true;
    web.cors_origins = {"https://shop.example"};
    api_.Configure(web);
  }
  FullService service_;
  FullQueue queue_;
  auth::JwtCodec jwt_;
  Api api_;
};

TEST_F(OpenApiTest, DocumentAndRouteTableAgree) {
  const auto doc = json::parse(OpenApiJson()).as_object();
  std::set<std::pair<std::string, std::string>> in_doc, in_table;
  for (const auto& [path, item] : doc.at("paths").as_object()) {
    for (const auto& [method, op] : item.as_object()) {
      in_doc.emplace(Lower(method), std::string(path));
      EXPECT_TRUE(op.as_object().contains("responses"));
    }
  }
  for (const auto& r : Routes()) {
    in_table.emplace(Lower(bhttp::to_string(r.method)), r.path);
    in_table.emplace("options", r.path);  // every path answers a CORS preflight
  }
  EXPECT_EQ(in_doc, in_table);
  EXPECT_EQ(doc.at("openapi").as_string(), "3.1.0");
}

// Calls every route the way a client following the document would, and has a real OpenAPI
// validator judge the document and the answers.
TEST_F(OpenApiTest, ValidDocumentAndAnswersMatchIt) {
  json::array samples;
  for (const auto& r : Routes()) {
    const std::string token = r.access == Access::kAdmin   ? jwt_.Sign({"ops", true}, kNow + 60)
                              : r.access == Access::kBuyer ? jwt_.Sign({"bob", false}, kNow + 60)
                                                           : "";
    auto res = CallApi(api_, r.method, Concrete(r), ValidBody(r.request), token);
    EXPECT_EQ(res.result_int(), r.status) << r.path << ": " << res.body();
    if (r.response == "text" || r.response == "html" || r.response == "asset" ||
        r.response == "events") {
      continue;
    }
    samples.push_back({{"method", Lower(bhttp::to_string(r.method))},
                       {"path", r.path},
                       {"status", res.result_int()},
                       {"body", json::parse(res.body())}});
  }
  // An error answer is checked too (the `default` response).
  auto missing = CallApi(api_, bhttp::verb::post, "/purchase/reserve", "{}",
                         jwt_.Sign({"bob", false}, kNow + 60));
  samples.push_back({{"method", "post"}, {"path", "/purchase/reserve"},
                     {"status", missing.result_int()}, {"body", json::parse(missing.body())}});

  // And a refused preflight (an origin not in CORS_ORIGINS).
  auto refused = CallApi(api_, bhttp::verb::options, "/purchase/reserve", "", "",
                         {{"Origin", "https://evil.example"}});
  EXPECT_EQ(refused.result_int(), 403);
  samples.push_back({{"method", "options"}, {"path", "/purchase/reserve"},
                     {"status", refused.result_int()}, {"body", json::parse(refused.body())}});

  if (!OpenApiValidatorInstalled()) {
    GTEST_SKIP() << "the validator is not installed: npm ci --prefix tests/openapi";
  }
  const auto run = RunOpenApiValidator(OpenApiJson(), json::serialize(samples));
  EXPECT_EQ(run.status, 0) << run.output;
  std::printf("%s", run.output.c_str());
}

TEST_F(OpenApiTest, DocsPageNeedsNothingFromOutside) {
  auto res = CallApi(api_, bhttp::verb::get, "/docs");
  ASSERT_EQ(res.result_int(), 200);
  EXPECT_NE(res[bhttp::field::content_type].find("text/html"), std::string::npos);
  EXPECT_NE(res.body().find("/openapi.json"), std::string::npos);
  EXPECT_EQ(res.body().find("http://"), std::string::npos);
  EXPECT_EQ(res.body().find("https://"), std::string::npos);
  EXPECT_EQ(res.body().find("<script src"), std::string::npos);
}

}  // namespace
}  // namespace ticketing::http
