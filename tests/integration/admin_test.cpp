// The admin console end to end: the real server binary (two of them where it matters), real
// Redis and MariaDB. Stock changes and refunds race a running sale and the books must balance
// after each; refunds happen once however many servers are asked; pause stops a rush.
#include "http/api.hpp"
#include "http/openapi_validator.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"
#include "tests/support/tokens.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <thread>

namespace ticketing::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

std::map<std::string, std::string> ServerEnv() {
  return {{"DB_TIMEOUT_SECONDS", "2"},
          {"CONFIRM_LEASE_SECONDS", "8"},
          {"SWEEP_INTERVAL_MS", "100"},
          {"QUEUE_TICK_MS", "100"},
          {"QUEUE_POLL_TIMEOUT_SECONDS", "30"}};
}

class Admin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess(SharedServices(), ServerEnv());
    server_->Start();
    second_ = new ServerProcess(SharedServices(), ServerEnv());
    second_->Start();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete second_;
    server_ = second_ = nullptr;
  }

  Admin() : api_(server_->port()), stores_(SharedServices()) {}

  std::string Ops() { return Token("ops-alice", true); }

  std::int64_t CreateProduct(int stock, int limit = 5, json::object extra = {}) {
    json::object body{{"name", "Gig"}, {"price", 10}, {"stock", stock}, {"perUserLimit", limit}};
    for (auto& [k, v] : extra) body[k] = v;
    auto r = api_.Post("/admin/products", json::serialize(body), Ops());
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json.at("id").as_int64();
  }
  std::string Path(std::int64_t product, const std::string& rest = "") {
    return "/admin/products/" + std::to_string(product) + rest;
  }
  Reply Reserve(HttpClient& c, std::int64_t product, const std::string& user, int qty = 1) {
    return c.Post("/purchase/reserve",
                  json::serialize(json::object{{"productId", product}, {"quantity", qty}}),
                  Token(user));
  }
  Reply Confirm(HttpClient& c, const std::string& rid, const std::string& user) {
    return c.Post("/purchase/confirm", json::serialize(json::object{{"reservationId", rid}}),
                  Token(user));
  }
  Reply Stock(std::int64_t product, const char* op, int n) {
    return api_.Post(Path(product, "/stock"), json::serialize(json::object{{op, n}}), Ops());
  }
  std::string Id(const Reply& r, const char* field) {
    return std::string(r.json.at(field).as_string());
  }
  // Waits until no hold of the product is confirming (in-flight confirms settled).
  void Settle(std::int64_t product) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline &&
           stores_.HeldUnits(product, true) != stores_.HeldUnits(product, false)) {
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  long long Sql(const std::string& q) { return stores_.SqlInt(q); }

  static ServerProcess* server_;
  static ServerProcess* second_;
  HttpClient api_;
  Stores stores_;
};

ServerProcess* Admin::server_ = nullptr;
ServerProcess* Admin::second_ = nullptr;

TEST_F(Admin, EveryAdminRouteWantsAnAdminToken) {
  auto product = CreateProduct(1);
  int checked = 0;
  for (const auto& route : http::Routes()) {
    // By path, not by the table's access flag: a route under /admin/ must be admin-only.
    if (!route.path.starts_with("/admin/")) continue;
    std::string path(route.path);
    if (auto at = path.find("{id}"); at != std::string::npos) {
      path.replace(at, 4, std::to_string(product));
    }
    const std::string method(http::bhttp::to_string(route.method));
    auto none = api_.Send({method, path, "{}", ""});
    EXPECT_EQ(none.status, 401) << method << " " << path;
    EXPECT_EQ(none.ErrorCode(), "UNAUTHORIZED") << method << " " << path;
    auto buyer = api_.Send({method, path, "{}", Token("bob")});
    EXPECT_EQ(buyer.status, 403) << method << " " << path;
    EXPECT_EQ(buyer.ErrorCode(), "FORBIDDEN") << method << " " << path;
    ++checked;
  }
  EXPECT_GE(checked, 12);
  // Nothing happened on the product.
  EXPECT_EQ(Sql("SELECT paused FROM products WHERE id=" + std::to_string(product)), 0);
  EXPECT_EQ(Sql("SELECT total_stock FROM products WHERE id=" + std::to_string(product)), 1);
}

TEST_F(Admin, ProductFiguresAndPagedListings) {
  auto product = CreateProduct(10, 5);
  auto a = Reserve(api_, product, "fig-a", 2);
  auto b = Reserve(api_, product, "fig-b", 3);
  auto c = Reserve(api_, product, "fig-c", 1);
  ASSERT_EQ(a.status, 201);
  ASSERT_EQ(b.status, 201);
  ASSERT_EQ(c.status, 201);
  ASSERT_EQ(Confirm(api_, Id(a, "reservationId"), "fig-a").status, 201);
  ASSERT_EQ(api_.Post("/purchase/cancel",
                      json::serialize(json::object{{"reservationId", Id(c, "reservationId")}}),
                      Token("fig-c"))
                .status,
            200);
  auto f = api_.Get(Path(product), Ops());
  ASSERT_EQ(f.status, 200) << f.body;
  const auto& o = f.json.as_object();
  EXPECT_EQ(o.at("totalStock").as_int64(), 10);
  EXPECT_EQ(o.at("sold").as_int64(), 2);
  EXPECT_EQ(o.at("orders").as_int64(), 1);
  EXPECT_EQ(o.at("held").as_int64(), 3);
  EXPECT_EQ(o.at("confirming").as_int64(), 0);
  EXPECT_EQ(o.at("available").as_int64(), 5);
  EXPECT_EQ(o.at("databaseStock").as_int64(), 8);
  EXPECT_EQ(o.at("holdsCancelled").as_int64(), 1);
  EXPECT_EQ(o.at("holdsExpired").as_int64(), 0);
  EXPECT_EQ(o.at("paused").as_bool(), false);
  EXPECT_TRUE(o.at("line").is_object()) << f.body;

  // Live holds: one held (b); the confirmed and cancelled ones are not live.
  auto holds = api_.Get(Path(product, "/reservations"), Ops());
  ASSERT_EQ(holds.status, 200) << holds.body;
  ASSERT_EQ(holds.json.at("items").as_array().size(), 1u);
  EXPECT_EQ(holds.json.at("items").at(0).at("user").as_string(), "fig-b");
  EXPECT_EQ(holds.json.at("items").at(0).at("quantity").as_int64(), 3);
  EXPECT_EQ(api_.Get(Path(product, "/reservations?state=confirming"), Ops())
                .json.at("items").as_array().size(), 0u);
  EXPECT_EQ(api_.Get(Path(product, "/reservations?state=bogus"), Ops()).status, 400);
  EXPECT_EQ(api_.Get(Path(product, "/reservations?cursor=nonsense"), Ops()).status, 400);

  // Holds page by page: every live hold exactly once.
  auto paged = CreateProduct(20, 1);
  std::set<std::string> made;
  for (int i = 0; i < 7; ++i) {
    auto r = Reserve(api_, paged, "page-" + std::to_string(i));
    ASSERT_EQ(r.status, 201);
    made.insert(Id(r, "reservationId"));
  }
  std::set<std::string> seen;
  std::string cursor;
  for (int pages = 0; pages < 10; ++pages) {
    auto r = api_.Get(Path(paged, "/reservations?limit=3&state=held") +
                          (cursor.empty() ? "" : "&cursor=" + cursor),
                      Ops());
    ASSERT_EQ(r.status, 200) << r.body;
    for (const auto& h : r.json.at("items").as_array()) {
      EXPECT_TRUE(seen.insert(std::string(h.at("reservationId").as_string())).second);
    }
    if (r.json.at("nextCursor").is_null()) break;
    cursor = std::string(r.json.at("nextCursor").as_string());
  }
  EXPECT_EQ(seen, made);

  // Orders page by page.
  std::vector<std::string> rids(made.begin(), made.end());
  int confirmed = 0;
  for (int i = 0; i < 7; ++i) {
    for (const auto& rid : rids) {
      if (Confirm(api_, rid, "page-" + std::to_string(i)).status == 201) ++confirmed;
    }
  }
  EXPECT_EQ(confirmed, 7);
  std::set<std::int64_t> order_ids;
  cursor.clear();
  for (int pages = 0; pages < 10; ++pages) {
    auto r = api_.Get(Path(paged, "/orders?limit=2") + (cursor.empty() ? "" : "&cursor=" + cursor),
                      Ops());
    ASSERT_EQ(r.status, 200) << r.body;
    for (const auto& o : r.json.at("items").as_array()) {
      EXPECT_EQ(o.at("state").as_string(), "paid");
      EXPECT_TRUE(order_ids.insert(o.at("orderId").as_int64()).second);
    }
    if (r.json.at("nextCursor").is_null()) break;
    cursor = std::string(r.json.at("nextCursor").as_string());
  }
  EXPECT_EQ(order_ids.size(), 7u);

  // Products page by page reach both products.
  std::set<std::int64_t> products;
  cursor.clear();
  for (int pages = 0; pages < 1000; ++pages) {
    auto r = api_.Get("/admin/products?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor),
                      Ops());
    ASSERT_EQ(r.status, 200) << r.body;
    for (const auto& p : r.json.at("items").as_array()) products.insert(p.at("id").as_int64());
    if (r.json.at("nextCursor").is_null()) break;
    cursor = std::string(r.json.at("nextCursor").as_string());
  }
  EXPECT_TRUE(products.count(product) && products.count(paged));
  EXPECT_EQ(api_.Get("/admin/products?limit=0", Ops()).status, 400);
  EXPECT_EQ(api_.Get(Path(999999999), Ops()).ErrorCode(), "PRODUCT_NOT_FOUND");
  stores_.ExpectInvariants(product);
  stores_.ExpectInvariants(paged);
}

TEST_F(Admin, RemoveTakesOnlyFreeUnits) {
  auto product = CreateProduct(3, 5);
  auto hold = Reserve(api_, product, "rm-a", 2);
  ASSERT_EQ(hold.status, 201);
  auto r = Stock(product, "remove", 2);
  ASSERT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.ErrorCode(), "STOCK_IN_USE");
  EXPECT_EQ(r.json.at("removable").as_int64(), 1);
  r = Stock(product, "remove", 1);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.at("totalStock").as_int64(), 2);
  EXPECT_EQ(r.json.at("available").as_int64(), 0);
  // The hold is untouched and still confirms.
  EXPECT_EQ(Confirm(api_, Id(hold, "reservationId"), "rm-a").status, 201);
  r = Stock(product, "add", 4);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json.at("totalStock").as_int64(), 6);
  EXPECT_EQ(r.json.at("available").as_int64(), 4);
  EXPECT_EQ(stores_.Available(product), 4);
  // Bad input changes nothing.
  EXPECT_EQ(api_.Post(Path(product, "/stock"), R"({"add":1,"remove":1})", Ops()).status, 400);
  EXPECT_EQ(api_.Post(Path(product, "/stock"), R"({"add":0})", Ops()).status, 400);
  EXPECT_EQ(api_.Post(Path(product, "/stock"), R"({"add":"5"})", Ops()).status, 400);
  EXPECT_EQ(api_.Post(Path(product, "/stock"), R"({})", Ops()).status, 400);
  EXPECT_EQ(Sql("SELECT total_stock FROM products WHERE id=" + std::to_string(product)), 6);
  stores_.ExpectInvariants(product);
}

TEST_F(Admin, StockChangeRetriedWithItsKeyHappensOnce) {
  auto product = CreateProduct(10, 5);
  const std::string id = std::to_string(product);
  const Call add{"POST", Path(product, "/stock"), R"({"add":5})", Ops(),
                 {{"Idempotency-Key", "batch-7"}}};
  const std::vector<Call> calls(4, add);
  auto on_second = std::async(std::launch::async, [&] { return Concurrent(second_->port(), calls); });
  auto replies = Concurrent(server_->port(), calls);
  for (auto& r : on_second.get()) replies.push_back(r);
  int first = 0;
  for (const auto& r : replies) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json.at("totalStock").as_int64(), 15);
    if (!r.json.at("repeated").as_bool()) ++first;
  }
  EXPECT_EQ(first, 1);
  EXPECT_EQ(Sql("SELECT total_stock FROM products WHERE id=" + id), 15);
  EXPECT_EQ(stores_.Available(product), 15);
  // The key names that change: another change under it is refused.
  auto other = api_.Send({"POST", Path(product, "/stock"), R"({"remove":5})", Ops(),
                          {{"Idempotency-Key", "batch-7"}}});
  EXPECT_EQ(other.status, 409);
  EXPECT_EQ(other.ErrorCode(), "IDEMPOTENCY_CONFLICT");
  const Call remove{"POST", Path(product, "/stock"), R"({"remove":2})", Ops(),
                    {{"Idempotency-Key", "pull-2"}}};
  EXPECT_FALSE(api_.Send(remove).json.at("repeated").as_bool());
  auto again = api_.Send(remove);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_TRUE(again.json.at("repeated").as_bool());
  EXPECT_EQ(Sql("SELECT total_stock FROM products WHERE id=" + id), 13);
  EXPECT_EQ(stores_.Available(product), 13);
  EXPECT_EQ(api_.Send({"POST", Path(product, "/stock"), R"({"add":1})", Ops(),
                       {{"Idempotency-Key", "no spaces"}}})
                .status,
            400);
  stores_.ExpectInvariants(product);
}

// A create whose answer was lost is retried with its key: one product, the same answer, on any
// server, however many retries run at once; the key with another product is refused.
TEST_F(Admin, ProductCreateRetriedWithItsKeyMakesOneProduct) {
  const std::string body = R"({"name":"Retried gig","price":12,"stock":7,"perUserLimit":2})";
  const Call create{"POST", "/admin/products", body, Ops(), {{"Idempotency-Key", "create-77"}}};
  const auto before = Sql("SELECT COUNT(*) FROM products");
  const std::vector<Call> calls(4, create);
  auto on_second = std::async(std::launch::async, [&] { return Concurrent(second_->port(), calls); });
  auto replies = Concurrent(server_->port(), calls);
  for (auto& r : on_second.get()) replies.push_back(r);
  std::set<std::int64_t> ids;
  for (const auto& r : replies) {
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(r.json.at("name").as_string(), "Retried gig");
    EXPECT_EQ(r.json.at("totalStock").as_int64(), 7);
    ids.insert(r.json.at("id").as_int64());
  }
  ASSERT_EQ(ids.size(), 1u);
  const auto product = *ids.begin();
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM products"), before + 1);
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM audit_log WHERE action='product_create' AND product_id=" +
                std::to_string(product)),
            1);
  EXPECT_EQ(stores_.Available(product), 7);
  // Later, after a sale began: the retry still answers with that product, and changes nothing.
  auto r = Reserve(api_, product, "retry-buyer");
  ASSERT_EQ(r.status, 201) << r.body;
  auto again = api_.Send(create);
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.json.at("id").as_int64(), product);
  EXPECT_EQ(stores_.Available(product), 6);
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM products"), before + 1);
  // The key names that product: another body under it is refused, and makes nothing.
  auto other = api_.Send({"POST", "/admin/products",
                          R"({"name":"Another gig","price":12,"stock":7,"perUserLimit":2})",
                          Ops(), {{"Idempotency-Key", "create-77"}}});
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(other.ErrorCode(), "IDEMPOTENCY_CONFLICT");
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM products"), before + 1);
  EXPECT_EQ(api_.Send({"POST", "/admin/products", body, Ops(), {{"Idempotency-Key", "no spaces"}}})
                .status,
            400);
  // Without a key every create is a new product, as before.
  EXPECT_NE(CreateProduct(1), CreateProduct(1));
  stores_.ExpectInvariants(product);
}

// Buyers reserve and confirm (or cancel) on two servers while an admin adds and removes units
// and refunds orders: after the rush settles, the books balance.
TEST_F(Admin, StockChangesAndRefundsRacingASale) {
  const int initial = 40;
  auto product = CreateProduct(initial, 1000);
  std::atomic<bool> stop{false};
  std::atomic<int> confirmed{0};
  std::vector<std::thread> buyers;
  for (int t = 0; t < 4; ++t) {
    buyers.emplace_back([&, t] {
      HttpClient c(t % 2 ? second_->port() : server_->port());
      for (int i = 0; !stop; ++i) {
        const std::string user = "race-" + std::to_string(t) + "-" + std::to_string(i % 7);
        auto r = Reserve(c, product, user, 1 + i % 3);
        if (r.status != 201) {
          std::this_thread::sleep_for(milliseconds(5));
          continue;
        }
        const auto rid = Id(r, "reservationId");
        if (i % 4 == 0) {
          c.Post("/purchase/cancel", json::serialize(json::object{{"reservationId", rid}}),
                 Token(user));
        } else if (Confirm(c, rid, user).status == 201) {
          ++confirmed;
        }
      }
    });
  }
  int added = 0, removed = 0, refunded = 0, refused = 0;
  const std::string id = std::to_string(product);
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  // EXPECT and stop, not ASSERT: the buyers' threads must be joined.
  bool failed = false;
  for (int step = 0; !failed && std::chrono::steady_clock::now() < until; ++step) {
    if (step % 3 == 0) {
      auto r = Stock(product, "add", 5);
      EXPECT_EQ(r.status, 200) << r.body;
      failed = r.status != 200;
      if (!failed) added += 5;
    } else if (step % 3 == 1) {
      auto r = Stock(product, "remove", 3);
      if (r.status == 200) {
        removed += 3;
      } else {
        EXPECT_EQ(r.status, 409) << r.body;
        failed = r.status != 409;
        ++refused;
      }
    } else {
      const std::string order = stores_.Sql(
          "SELECT MIN(id) FROM orders WHERE refunded_at IS NULL AND product_id=" + id);
      if (order != "NULL" && !order.empty()) {
        auto r = api_.Post("/admin/orders/" + order + "/refund", "", Ops());
        EXPECT_EQ(r.status, 200) << r.body;
        failed = r.status != 200;
        if (!failed && !r.json.at("repeated").as_bool()) ++refunded;
      }
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  stop = true;
  for (auto& b : buyers) b.join();
  ASSERT_FALSE(failed);
  // The last change is an add: its own step must give Redis the units (no later reconcile).
  ASSERT_EQ(Stock(product, "add", 5).status, 200);
  added += 5;
  Settle(product);
  std::printf("race: %d confirmed, +%d units, -%d units (%d removes refused), %d refunds\n",
              confirmed.load(), added, removed, refused, refunded);
  EXPECT_GT(confirmed.load(), 0);
  EXPECT_GT(added, 0);
  EXPECT_GT(removed + refused, 0);
  EXPECT_GT(refunded, 0);
  EXPECT_EQ(Sql("SELECT total_stock FROM products WHERE id=" + id), initial + added - removed);
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM orders WHERE refunded_at IS NOT NULL AND product_id=" + id),
            refunded);
  stores_.ExpectInvariants(product);
  // Every change left its audit row.
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM audit_log WHERE action='stock_add' AND product_id=" + id),
            added / 5);
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM audit_log WHERE action='stock_remove' AND product_id=" + id),
            removed / 3);
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM audit_log WHERE action='refund' AND product_id=" + id),
            refunded);
}

TEST_F(Admin, RefundHappensOnceAcrossServers) {
  auto product = CreateProduct(5, 2);
  const std::string id = std::to_string(product);
  auto hold = Reserve(api_, product, "refund-me", 2);
  ASSERT_EQ(hold.status, 201);
  auto order = Confirm(api_, Id(hold, "reservationId"), "refund-me");
  ASSERT_EQ(order.status, 201);
  const auto order_id = order.json.at("orderId").as_int64();
  EXPECT_EQ(Reserve(api_, product, "refund-me").ErrorCode(), "LIMIT_REACHED");

  std::vector<Call> calls(6, Call{"POST", "/admin/orders/" + std::to_string(order_id) + "/refund",
                                  "", Ops()});
  auto on_second = std::async(std::launch::async, [&] { return Concurrent(second_->port(), calls); });
  auto replies = Concurrent(server_->port(), calls);
  for (auto& r : on_second.get()) replies.push_back(r);
  int first = 0;
  for (const auto& r : replies) {
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json.at("state").as_string(), "refunded");
    if (!r.json.at("repeated").as_bool()) ++first;
  }
  EXPECT_EQ(first, 1);
  EXPECT_EQ(Sql("SELECT stock FROM products WHERE id=" + id), 5);
  EXPECT_EQ(stores_.Available(product), 5);
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM audit_log WHERE action='refund' AND order_id=" +
                std::to_string(order_id)),
            1);
  EXPECT_EQ(stores_.Redis({"GET", Stores::Prefix(product) + ":u:refund-me"}), "NIL");
  stores_.ExpectInvariants(product);
  // The buyer's limit is free again, in Redis and in the database.
  auto again = Reserve(api_, product, "refund-me", 2);
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(Confirm(api_, Id(again, "reservationId"), "refund-me").status, 201);
  stores_.ExpectInvariants(product);
  EXPECT_EQ(api_.Post("/admin/orders/999999999/refund", "", Ops()).ErrorCode(), "ORDER_NOT_FOUND");
}

TEST_F(Admin, PauseDuringARush) {
  auto product = CreateProduct(100, 5);
  const std::string id = std::to_string(product);
  std::vector<std::pair<std::string, std::string>> holds;
  for (int i = 0; i < 5; ++i) {
    const std::string user = "pause-" + std::to_string(i);
    auto r = Reserve(api_, product, user);
    ASSERT_EQ(r.status, 201);
    holds.emplace_back(Id(r, "reservationId"), user);
  }
  auto p = api_.Post(Path(product, "/pause"), "", Ops());
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_TRUE(p.json.at("paused").as_bool());
  EXPECT_TRUE(api_.Get("/products/" + id).json.at("paused").as_bool());

  std::vector<Call> rush;
  for (int i = 0; i < 200; ++i) {
    rush.push_back({"POST", "/purchase/reserve",
                    json::serialize(json::object{{"productId", product}}),
                    Token("rush-p-" + std::to_string(i))});
  }
  auto on_second = std::async(std::launch::async, [&] { return Concurrent(second_->port(), rush); });
  for (const auto& r : Concurrent(server_->port(), rush)) {
    EXPECT_EQ(r.status, 409);
    EXPECT_EQ(r.ErrorCode(), "SALE_PAUSED");
  }
  for (const auto& r : on_second.get()) EXPECT_EQ(r.ErrorCode(), "SALE_PAUSED");
  // Live holds still confirm (and cancel) while paused.
  for (std::size_t i = 0; i + 1 < holds.size(); ++i) {
    EXPECT_EQ(Confirm(api_, holds[i].first, holds[i].second).status, 201);
  }
  EXPECT_EQ(api_.Post("/purchase/cancel",
                      json::serialize(json::object{{"reservationId", holds.back().first}}),
                      Token(holds.back().second))
                .status,
            200);
  // Pausing twice is one change; the pause survives Redis losing everything.
  EXPECT_EQ(api_.Post(Path(product, "/pause"), "", Ops()).status, 200);
  EXPECT_EQ(Sql("SELECT COUNT(*) FROM audit_log WHERE action='pause' AND product_id=" + id), 1);
  stores_.Redis({"FLUSHALL"});
  EXPECT_EQ(Reserve(api_, product, "after-flush").ErrorCode(), "SALE_PAUSED");
  auto resumed = api_.Post(Path(product, "/resume"), "", Ops());
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  EXPECT_FALSE(resumed.json.at("paused").as_bool());
  EXPECT_EQ(Reserve(api_, product, "after-resume").status, 201);
  Settle(product);
  stores_.ExpectInvariants(product);
}

TEST_F(Admin, PausedLineAdmitsNobodyAndKeepsPlaces) {
  // Waiters join before the sale opens; the admin pauses; then the sale start passes.
  json::object extra{{"queue", {{"enabled", true}, {"admitPerSecond", 100}, {"maxActive", 100}}},
                     {"saleStartsAt", "2099-01-01T00:00:00Z"}};
  auto product = CreateProduct(10, 1, extra);
  const std::string id = std::to_string(product);
  auto join = api_.Post("/queue/" + id + "/join", "", Token("q-wait"));
  ASSERT_EQ(join.status, 200) << join.body;
  const std::string ticket = Id(join, "ticket");
  ASSERT_EQ(api_.Post(Path(product, "/pause"), "", Ops()).status, 200);
  EXPECT_EQ(api_.Post("/queue/" + id + "/join", "", Token("q-new")).ErrorCode(), "SALE_PAUSED");
  ASSERT_EQ(api_.Send({"PATCH", Path(product), R"({"saleStartsAt":null})", Ops()}).status, 200);

  const std::string status = "/queue/" + id + "/status?ticket=" + ticket;
  std::this_thread::sleep_for(milliseconds(800));  // several ticks of both servers
  auto s = api_.Get(status, Token("q-wait"));
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.json.at("state").as_string(), "waiting") << s.body;
  EXPECT_EQ(s.json.at("position").as_int64(), 1);
  // Rejoining while paused returns the same place.
  EXPECT_EQ(Id(api_.Post("/queue/" + id + "/join", "", Token("q-wait")), "ticket"), ticket);

  ASSERT_EQ(api_.Post(Path(product, "/resume"), "", Ops()).status, 200);
  bool admitted = false;
  for (int i = 0; i < 60 && !admitted; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    admitted = api_.Get(status, Token("q-wait")).json.at("state").as_string() == "admitted";
  }
  EXPECT_TRUE(admitted);
}

TEST_F(Admin, EveryActionIsAudited) {
  const auto started = Sql("SELECT COALESCE(MAX(id), 0) FROM audit_log");
  auto product = CreateProduct(4, 2);
  const std::string id = std::to_string(product);
  ASSERT_EQ(api_.Send({"PATCH", Path(product), R"({"saleStartsAt":null})", Ops()}).status, 200);
  ASSERT_EQ(api_.Post(Path(product, "/sync-stock"), "", Ops()).status, 200);
  ASSERT_EQ(Stock(product, "add", 2).status, 200);
  ASSERT_EQ(Stock(product, "remove", 1).status, 200);
  ASSERT_EQ(api_.Post(Path(product, "/pause"), "", Ops()).status, 200);
  ASSERT_EQ(api_.Post(Path(product, "/resume"), "", Ops()).status, 200);
  auto hold = Reserve(api_, product, "audited");
  auto order = Confirm(api_, Id(hold, "reservationId"), "audited");
  ASSERT_EQ(order.status, 201);
  const auto order_id = order.json.at("orderId").as_int64();
  ASSERT_EQ(api_.Post("/admin/orders/" + std::to_string(order_id) + "/refund", "", Ops()).status,
            200);

  // Newest first, page by page.
  std::vector<std::string> actions;
  std::string cursor;
  for (int pages = 0; pages < 20; ++pages) {
    auto r = api_.Get("/admin/audit?limit=3" + (cursor.empty() ? "" : "&cursor=" + cursor), Ops());
    ASSERT_EQ(r.status, 200) << r.body;
    bool older = false;
    for (const auto& e : r.json.at("items").as_array()) {
      if (e.at("id").as_int64() <= started) {
        older = true;
        break;
      }
      if (!e.at("productId").is_null() && e.at("productId").as_int64() == product) {
        EXPECT_EQ(e.at("admin").as_string(), "ops-alice");
        EXPECT_FALSE(e.at("at").as_string().empty());
        actions.emplace_back(e.at("action").as_string());
        if (e.at("action") == "refund") {
          EXPECT_EQ(e.at("orderId").as_int64(), order_id);
          EXPECT_EQ(e.at("before").at("state").as_string(), "paid");
          EXPECT_EQ(e.at("after").at("state").as_string(), "refunded");
        }
        if (e.at("action") == "stock_add") {
          EXPECT_EQ(e.at("before").at("totalStock").as_int64(), 4);
          EXPECT_EQ(e.at("after").at("totalStock").as_int64(), 6);
        }
      }
    }
    if (older || r.json.at("nextCursor").is_null()) break;
    cursor = std::string(r.json.at("nextCursor").as_string());
  }
  const std::vector<std::string> expected{"refund",     "resume",       "pause",
                                          "stock_remove", "stock_add", "stock_sync",
                                          "product_update", "product_create"};
  EXPECT_EQ(actions, expected);
}

// The real server's answers (real Redis and MariaDB behind it) against the document it serves,
// judged by tests/openapi/validate.mjs (a real OpenAPI validator, then Ajv per answer).
TEST_F(Admin, RealAnswersMatchTheServedDocument) {
  if (!http::OpenApiValidatorInstalled()) {
    GTEST_SKIP() << "the validator is not installed: npm ci --prefix tests/openapi";
  }
  auto doc = api_.Get("/openapi.json");
  ASSERT_EQ(doc.status, 200);
  json::array samples;
  auto sample = [&](const std::string& method, const std::string& path, const Reply& r) {
    ASSERT_TRUE(r.json.is_object()) << method << " " << path << ": " << r.body;
    samples.push_back({{"method", method}, {"path", path}, {"status", r.status}, {"body", r.json}});
  };
  json::object queue{{"queue", {{"enabled", true}}}};
  auto product = CreateProduct(6, 2, queue);
  auto plain = CreateProduct(6, 2);
  const std::string id = std::to_string(plain);
  sample("get", "/products/{id}", api_.Get("/products/" + id));
  sample("get", "/queue/{id}", api_.Get("/queue/" + std::to_string(product)));
  sample("post", "/queue/{id}/join",
         api_.Post("/queue/" + std::to_string(product) + "/join", "", Token("doc-q")));
  auto hold = Reserve(api_, plain, "doc-a", 2);
  sample("post", "/purchase/reserve", hold);
  sample("post", "/purchase/reserve", Reserve(api_, plain, "doc-a", 5));  // an error answer
  sample("get", "/purchase/reservations",
         api_.Get("/purchase/reservations?productId=" + id, Token("doc-a")));
  const auto rid = Id(hold, "reservationId");
  sample("get", "/purchase/reservations/{rid}",
         api_.Get("/purchase/reservations/" + rid, Token("doc-a")));
  sample("get", "/admin/products/{id}/reservations", api_.Get(Path(plain, "/reservations"), Ops()));
  auto order = Confirm(api_, rid, "doc-a");
  sample("post", "/purchase/confirm", order);
  auto held = Reserve(api_, plain, "doc-b");
  sample("post", "/purchase/cancel",
         api_.Post("/purchase/cancel",
                   json::serialize(json::object{{"reservationId", Id(held, "reservationId")}}),
                   Token("doc-b")));
  sample("get", "/admin/products/{id}", api_.Get(Path(plain), Ops()));
  sample("get", "/admin/products/{id}", api_.Get(Path(product), Ops()));
  sample("get", "/admin/products", api_.Get("/admin/products?limit=3", Ops()));
  sample("post", "/admin/products/{id}/stock", Stock(plain, "add", 2));
  sample("post", "/admin/products/{id}/stock", Stock(plain, "remove", 100));
  sample("post", "/admin/products/{id}/pause", api_.Post(Path(plain, "/pause"), "", Ops()));
  sample("post", "/admin/products/{id}/resume", api_.Post(Path(plain, "/resume"), "", Ops()));
  sample("post", "/admin/products/{id}/sync-stock",
         api_.Post(Path(plain, "/sync-stock"), "", Ops()));
  sample("patch", "/admin/products/{id}",
         api_.Send({"PATCH", Path(plain), R"({"saleStartsAt":null})", Ops()}));
  sample("post", "/admin/orders/{id}/refund",
         api_.Post("/admin/orders/" + std::to_string(order.json.at("orderId").as_int64()) +
                       "/refund", "", Ops()));
  sample("get", "/admin/products/{id}/orders", api_.Get(Path(plain, "/orders"), Ops()));
  sample("get", "/admin/audit", api_.Get("/admin/audit?limit=5", Ops()));
  sample("get", "/ready", api_.Get("/ready"));
  sample("get", "/health", api_.Get("/health"));

  const auto run = http::RunOpenApiValidator(doc.body, json::serialize(samples));
  EXPECT_EQ(run.status, 0) << run.output;
  std::printf("%s", run.output.c_str());
}

}  // namespace
}  // namespace ticketing::testing
