// The load generator's verification must catch broken books. Each test breaks a product's
// state in the real stores on purpose, runs ticketing-loadgen against it, and requires the
// matching checks to fail and the exit status to be non-zero.
#include "tests/loadgen/loadgen_harness.hpp"

#include "auth/jwt.hpp"
#include "db/db.hpp"
#include "redis/blocking_client.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/test_db.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace ticketing::testing {
namespace {

namespace json = boost::json;

class LoadgenVerify : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess(SharedServices(), {{"SWEEP_INTERVAL_MS", "100"}});
    server_->Start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  std::int64_t CreateProduct(int stock) {
    HttpClient api(server_->port());
    const auto exp = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count() +
                     3600;
    json::object body{{"name", "verify"}, {"price", 5}, {"stock", stock}, {"holdSeconds", 1}};
    auto r = api.Post("/admin/products", json::serialize(body),
                      auth::JwtCodec(kTestSecret).Sign({"ops", true}, exp));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json.at("id").as_int64();
  }

  db::Connection Db() { return db::Connection(TestDbOptions()); }

  redis::BlockingConnection Redis() {
    const auto& s = SharedServices();
    return redis::BlockingConnection(s.Get("REDIS_HOST"),
                                     static_cast<std::uint16_t>(s.Port("REDIS_PORT")),
                                     std::chrono::seconds(5));
  }

  LoadgenRun Run(std::int64_t product, const std::string& tag) {
    return RunLoadgen(SharedServices(), *server_,
                      {"--product", std::to_string(product), "--buyers", "5", "--connections",
                       "5", "--confirm", "1", "--cancel", "0", "--max-wait", "20"},
                      tag);
  }

  static ServerProcess* server_;
};

ServerProcess* LoadgenVerify::server_ = nullptr;

TEST_F(LoadgenVerify, HealthyProductPasses) {
  auto product = CreateProduct(10);
  auto run = Run(product, "healthy");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(run.report.at("ok").as_bool()) << run.output;
}

TEST_F(LoadgenVerify, OversoldProductFails) {
  auto product = CreateProduct(10);
  // Twelve orders for a product of ten units, behind the server's back.
  auto db = Db();
  for (int i = 0; i < 12; ++i) {
    db.Execute(
        "INSERT INTO orders (reservation_id, product_id, user_id, quantity, unit_price_cents, "
        "total_price_cents) VALUES (?, ?, ?, 1, 500, 500)",
        {std::to_string(product) + "-oversold" + std::to_string(i), product,
         "ghost" + std::to_string(i)});
  }
  auto run = Run(product, "oversold");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  ASSERT_FALSE(run.report.empty()) << run.output;
  EXPECT_FALSE(run.report.at("ok").as_bool());
  EXPECT_FALSE(run.Check("sold_within_stock"));
  EXPECT_FALSE(run.Check("db_stock_plus_sold_equals_total"));
  EXPECT_FALSE(run.Check("no_unit_leaked"));
  EXPECT_TRUE(run.Check("orders_equal_confirms"));  // the run's own confirms are all there
  EXPECT_NE(run.output.find("FAIL  sold_within_stock"), std::string::npos) << run.output;
}

TEST_F(LoadgenVerify, LeakedUnitFails) {
  auto product = CreateProduct(10);
  // One unit vanishes from Redis: no hold has it, no order sold it.
  auto r = Redis();
  auto v = r.Command({"DECR", "{p:" + std::to_string(product) + "}:avail"});
  ASSERT_FALSE(v.IsError()) << v.str;
  auto run = Run(product, "leaked");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  ASSERT_FALSE(run.report.empty()) << run.output;
  EXPECT_FALSE(run.Check("no_unit_leaked"));
  EXPECT_FALSE(run.Check("redis_available_plus_live_equals_db_stock"));
  EXPECT_TRUE(run.Check("sold_within_stock"));
  EXPECT_TRUE(run.Check("db_stock_plus_sold_equals_total"));
  EXPECT_NE(run.output.find("FAIL  no_unit_leaked"), std::string::npos) << run.output;
}

TEST_F(LoadgenVerify, LeakedHoldFailsTheExpiryCheck) {
  auto product = CreateProduct(10);
  // A hold that never expires: held, but missing from the expiry zset's due times (scored far
  // in the future), so no sweeper returns its unit.
  auto r = Redis();
  const std::string prefix = "{p:" + std::to_string(product) + "}";
  const std::string rid = std::to_string(product) + "-stuckhold";
  r.Command({"DECR", prefix + ":avail"});
  r.Command({"HSET", prefix + ":h:" + rid, "user", "ghost", "qty", "1", "state", "held", "exp",
             "99999999999999"});
  r.Command({"ZADD", prefix + ":exp", "99999999999999", rid});
  auto run = Run(product, "stuckhold");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  ASSERT_FALSE(run.report.empty()) << run.output;
  EXPECT_FALSE(run.Check("abandoned_holds_expired"));
  EXPECT_FALSE(run.Check("no_unit_leaked"));
  EXPECT_TRUE(run.Check("redis_available_plus_live_equals_db_stock"));
}

// A confirm whose order committed but whose finish step never reached Redis: the hold stays
// confirming until its lease runs out (here: far away). Its unit is sold, not live or leaked.
TEST_F(LoadgenVerify, CommittedConfirmStillConfirmingInRedisCountsAsSold) {
  auto product = CreateProduct(10);
  const std::string prefix = "{p:" + std::to_string(product) + "}";
  const std::string rid = std::to_string(product) + "-stranded";
  auto db = Db();
  db.Execute(
      "INSERT INTO orders (reservation_id, product_id, user_id, quantity, unit_price_cents, "
      "total_price_cents) VALUES (?, ?, 'ghost', 1, 500, 500)",
      {rid, product});
  db.Execute("UPDATE products SET stock = stock - 1 WHERE id = ?", {product});
  auto r = Redis();
  r.Command({"DECR", prefix + ":avail"});
  r.Command({"HSET", prefix + ":h:" + rid, "user", "ghost", "qty", "1", "state", "confirming",
             "exp", "99999999999999", "lease", "99999999999999", "lid", "gone"});
  r.Command({"ZADD", prefix + ":exp", "99999999999999", rid});
  auto run = Run(product, "stranded");
  EXPECT_EQ(run.exit_code, 0) << run.output;
  EXPECT_TRUE(run.Check("no_unit_leaked")) << run.output;
  EXPECT_TRUE(run.Check("redis_available_plus_live_equals_db_stock")) << run.output;
}

TEST_F(LoadgenVerify, WrongSecretFailsTheStatusCheck) {
  auto product = CreateProduct(10);
  LoadgenRun run = RunLoadgen(SharedServices(), *server_,
                              {"--product", std::to_string(product), "--buyers", "3",
                               "--connections", "3", "--secret",
                               "another-secret-another-secret-another-secret", "--max-wait", "5"},
                              "badsecret");
  EXPECT_EQ(run.exit_code, 1) << run.output;
  EXPECT_FALSE(run.Check("expected_statuses"));
}

}  // namespace
}  // namespace ticketing::testing
