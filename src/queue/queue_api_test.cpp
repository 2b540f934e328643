// The waiting-room routes of the HTTP API as a pure function, with fake services: routing,
// validation, admission-token checks before any storage call, and the outcome mapping.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include "http/api.hpp"
#include "http/api_test_support.hpp"
#include "http/fake_services.hpp"
#include "queue/admission.hpp"

namespace ticketing::http {
namespace {

namespace json = boost::json;
using purchase::Outcome;

const std::string kSecret(32, 'k');
constexpr std::int64_t kNow = 1'800'000'000;

class QueueApiTest : public ::testing::Test {
 protected:
  QueueApiTest()
      : jwt_(kSecret),
        codec_(kSecret),
        queue_(codec_, kNow * 1000),
        api_(
            purchase_, jwt_, [] { return kNow; }, &queue_) {}

  Response Call(bhttp::verb method, std::string target, std::string body = "",
                std::string token = "", std::string admission = "") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!admission.empty()) headers.emplace_back("X-Admission-Token", admission);
    return CallApi(api_, method, std::move(target), std::move(body), token, headers);
  }
  std::string Buyer(std::string id = "alice") { return jwt_.Sign({id, false}, kNow + 60); }
  std::string Admin() { return jwt_.Sign({"ops", true}, kNow + 60); }
  static json::value Body(const Response& r) { return ResponseJson(r); }
  static std::string Code(const Response& r) { return ErrorCode(r); }

  FakePurchase purchase_;
  auth::JwtCodec jwt_;
  queue::AdmissionCodec codec_;
  FakeQueue queue_;
  Api api_;
};

TEST_F(QueueApiTest, JoinStatusAndInfo) {
  auto j = Call(bhttp::verb::post, "/queue/7/join", "", Buyer());
  ASSERT_EQ(j.result_int(), 200) << j.body();
  EXPECT_EQ(Body(j).at("position").as_int64(), 3);
  EXPECT_EQ(Body(j).at("aheadOfYou").as_int64(), 2);
  auto s = Call(bhttp::verb::get, "/queue/7/status?x=1&ticket=7-abc", "", Buyer());
  ASSERT_EQ(s.result_int(), 200);
  EXPECT_EQ(queue_.last_ticket, "7-abc");
  EXPECT_EQ(Body(s).at("admissionToken").as_string(), "tok");
  auto i = Call(bhttp::verb::get, "/queue/7");
  ASSERT_EQ(i.result_int(), 200);
  EXPECT_EQ(Body(i).at("length").as_int64(), 42);
  EXPECT_TRUE(Body(i).at("soldOut").as_bool());
}

TEST_F(QueueApiTest, QueueErrorsMap) {
  EXPECT_EQ(Call(bhttp::verb::get, "/queue/7/status", "", Buyer()).result_int(), 400);
  EXPECT_EQ(Call(bhttp::verb::get, "/queue/7/status?ticket=", "", Buyer()).result_int(), 400);
  EXPECT_EQ(Call(bhttp::verb::post, "/queue/7/join").result_int(), 401);
  queue_.next = Outcome::kTicketNotFound;
  auto r = Call(bhttp::verb::get, "/queue/7/status?ticket=x", "", Buyer());
  EXPECT_EQ(r.result_int(), 404);
  EXPECT_EQ(Code(r), "TICKET_NOT_FOUND");
  queue_.next = Outcome::kQueueNotEnabled;
  r = Call(bhttp::verb::post, "/queue/7/join", "", Buyer());
  EXPECT_EQ(r.result_int(), 409);
  EXPECT_EQ(Code(r), "QUEUE_NOT_ENABLED");
  queue_.next = Outcome::kQueueFull;
  r = Call(bhttp::verb::post, "/queue/7/join", "", Buyer());
  EXPECT_EQ(r.result_int(), 503);
  EXPECT_EQ(Code(r), "QUEUE_FULL");
  queue_.next = Outcome::kProductNotFound;
  EXPECT_EQ(Code(Call(bhttp::verb::get, "/queue/7")), "PRODUCT_NOT_FOUND");
}

TEST_F(QueueApiTest, AdmissionTokenIsCheckedBeforeTheReserve) {
  const std::string ticket = "7-" + std::string(32, 'c');
  auto good = codec_.Sign(7, "alice", ticket, kNow * 1000 + 60'000);
  auto r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer(), good);
  EXPECT_EQ(r.result_int(), 201);
  EXPECT_EQ(purchase_.last_ticket, ticket);
  const std::string bad[] = {
      codec_.Sign(7, "bob", ticket, kNow * 1000 + 60'000),    // another buyer's
      codec_.Sign(8, "alice", ticket, kNow * 1000 + 60'000),  // another product's
      codec_.Sign(7, "alice", ticket, kNow * 1000),           // expired
      queue::AdmissionCodec(std::string(32, 'z')).Sign(7, "alice", ticket, kNow * 1000 + 60'000),
      "garbage"};
  for (const auto& token : bad) {
    purchase_.reserves = 0;
    auto res = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer(), token);
    EXPECT_EQ(res.result_int(), 403) << token;
    EXPECT_EQ(Code(res), "NOT_ADMITTED");
    EXPECT_EQ(purchase_.reserves, 0) << "a bad token reached the store";
  }
  purchase_.next = Outcome::kNotAdmitted;
  r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer());
  EXPECT_EQ(purchase_.last_ticket, "");
  EXPECT_EQ(Code(r), "NOT_ADMITTED");
  purchase_.next = Outcome::kSaleNotOpen;
  r = Call(bhttp::verb::post, "/purchase/reserve", R"({"productId":7})", Buyer());
  EXPECT_EQ(r.result_int(), 403);
  EXPECT_EQ(Code(r), "SALE_NOT_OPEN");
}

TEST_F(QueueApiTest, ProductSettingsAreValidated) {
  auto r = Call(bhttp::verb::post, "/admin/products",
                R"({"name":"Gig","price":5,"stock":10,"saleStartsAt":"2030-01-01T10:00:00+02:00",
                    "queue":{"admitPerSecond":20,"maxActive":200}})",
                Admin());
  ASSERT_EQ(r.result_int(), 201) << r.body();
  auto b = Body(r);
  EXPECT_EQ(b.at("saleStartsAt").as_string(), "2030-01-01T08:00:00.000Z");
  EXPECT_TRUE(b.at("queue").at("enabled").as_bool());
  EXPECT_EQ(b.at("queue").at("admitPerSecond").as_int64(), 20);
  EXPECT_EQ(b.at("queue").at("admissionTtlSeconds").as_int64(), 120);

  auto p = Call(bhttp::verb::patch, "/admin/products/7", R"({"queue":{"enabled":false}})", Admin());
  EXPECT_EQ(p.result_int(), 200) << p.body();
  EXPECT_EQ(purchase_.last_changes.queue_enabled, false);
  EXPECT_FALSE(purchase_.last_changes.sale_starts_at_ms.has_value());
  p = Call(bhttp::verb::patch, "/admin/products/7", R"({"saleStartsAt":null})", Admin());
  ASSERT_TRUE(purchase_.last_changes.sale_starts_at_ms.has_value());
  EXPECT_FALSE(purchase_.last_changes.sale_starts_at_ms->has_value());
  EXPECT_EQ(Call(bhttp::verb::post, "/admin/products/7", "{}", Admin()).result_int(), 405);
  for (const char* bad : {R"({"queue":[]})", R"({"queue":{"maxActive":0}})",
                          R"({"queue":{"admissionTtlSeconds":3601}})", R"({"saleStartsAt":5})",
                          R"({"saleStartsAt":"2030-02-30T00:00:00Z"})", R"({"name":"x"})"}) {
    auto res = Call(bhttp::verb::patch, "/admin/products/7", bad, Admin());
    EXPECT_EQ(res.result_int(), 400) << bad;
    EXPECT_EQ(Code(res), "INVALID_REQUEST") << bad;
  }
}

}  // namespace
}  // namespace ticketing::http
