// Redis losing data (issue 7, defect 4) and keys that must not live forever (defect 8): the real
// server binary against real Redis and MariaDB. Redis is flushed or rewritten behind the
// server's back with direct commands, and the outcome is read from both stores directly.
#include "auth/jwt.hpp"
#include "common/iso_time.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"
#include "tests/support/tokens.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace ticketing::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

constexpr long long kDayMs = 86'400'000;
// The key where servers record the Redis run they last rebuilt from the database.
const std::string kEpochKey = "{ticketing}:epoch";

class RedisLoss : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess(SharedServices(), {{"DB_TIMEOUT_SECONDS", "2"},
                                                   {"CONFIRM_LEASE_SECONDS", "8"},
                                                   {"SWEEP_INTERVAL_MS", "100"},
                                                   {"QUEUE_TICK_MS", "100"},
                                                   {"QUEUE_POLL_TIMEOUT_SECONDS", "30"}});
    server_->Start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  RedisLoss() : api_(server_->port()), stores_(SharedServices()) {}

  std::int64_t CreateProduct(int stock, int limit, int hold_seconds,
                             json::object queue = {}, std::optional<std::int64_t> start = {}) {
    json::object body{{"name", "Gig"}, {"price", 10}, {"stock", stock},
                      {"perUserLimit", limit}, {"holdSeconds", hold_seconds}};
    if (!queue.empty()) body["queue"] = queue;
    if (start) body["saleStartsAt"] = FormatIsoUtcMs(*start);
    auto r = api_.Post("/admin/products", json::serialize(body), Token("ops", true));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json.at("id").as_int64();
  }
  Reply Reserve(std::int64_t product, const std::string& user, const std::string& admission = "") {
    const std::string body = json::serialize(json::object{{"productId", product}});
    if (admission.empty()) return api_.Post("/purchase/reserve", body, Token(user));
    // HttpClient has no custom headers: send the admission on a raw connection.
    std::string answer = api_.Raw(
        "POST /purchase/reserve HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: "
        "Bearer " + Token(user) + "\r\nX-Admission-Token: " + admission +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n" + body);
    Reply r;
    std::smatch m;
    if (std::regex_search(answer, m, std::regex("^HTTP/1\\.1 (\\d{3})"))) r.status = std::stoi(m[1]);
    if (auto at = answer.find("\r\n\r\n"); at != std::string::npos) r.body = answer.substr(at + 4);
    boost::system::error_code ec;
    r.json = json::parse(r.body, ec);
    if (ec) r.json = nullptr;
    return r;
  }
  std::string ReserveId(std::int64_t product, const std::string& user,
                        const std::string& admission = "") {
    auto r = Reserve(product, user, admission);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? std::string(r.json.at("reservationId").as_string()) : "";
  }
  Reply Confirm(const std::string& rid, const std::string& user) {
    return api_.Post("/purchase/confirm", json::serialize(json::object{{"reservationId", rid}}),
                     Token(user));
  }
  long long DatabaseStock(std::int64_t product) {
    return stores_.SqlInt("SELECT stock FROM products WHERE id=" + std::to_string(product));
  }
  template <class Pred>
  bool Eventually(Pred pred, milliseconds limit = milliseconds(10000)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return pred();
  }
  // A confirmed hold put back the way an older Redis snapshot had it: held, counted in the
  // buyer's live holds and the product's expiry index, due at `exp_ms`.
  void RewindToHeld(std::int64_t product, const std::string& rid, const std::string& user,
                    std::int64_t exp_ms) {
    const std::string prefix = Stores::Prefix(product);
    stores_.Redis({"HSET", prefix + ":h:" + rid, "state", "held", "exp", std::to_string(exp_ms)});
    stores_.Redis({"HDEL", prefix + ":h:" + rid, "order", "total", "ended"});
    stores_.Redis({"PERSIST", prefix + ":h:" + rid});
    stores_.Redis({"ZADD", prefix + ":exp", std::to_string(exp_ms), rid});
    stores_.Redis({"SADD", prefix + ":uh:" + user, rid});
  }

  static ServerProcess* server_;
  HttpClient api_;
  Stores stores_;
};

ServerProcess* RedisLoss::server_ = nullptr;

TEST_F(RedisLoss, FlushAllMidSaleNextReserveSucceedsAndHoldsStillExpire) {
  auto product = CreateProduct(5, 2, 2);
  auto sold = ReserveId(product, "flush-buyer");
  ASSERT_EQ(Confirm(sold, "flush-buyer").status, 201);
  ReserveId(product, "flush-holder");  // lost with the flush
  ASSERT_EQ(stores_.Redis({"FLUSHALL"}), "OK");

  // No GET /products/{id} first: the reserve itself finds the product in the database.
  auto after = Reserve(product, "flush-late");
  ASSERT_EQ(after.status, 201) << after.body;
  std::string rid(after.json.at("reservationId").as_string());
  EXPECT_EQ(stores_.Redis({"SISMEMBER", "ticketing:products", std::to_string(product)}), "1");
  EXPECT_EQ(stores_.Available(product), DatabaseStock(product) - 1);

  // The sweeper still visits the product: the 2 s hold expires and its unit comes back.
  EXPECT_TRUE(Eventually([&] { return stores_.HoldState(rid) == "expired"; }))
      << "state " << stores_.HoldState(rid);
  EXPECT_EQ(stores_.Available(product), DatabaseStock(product));
  EXPECT_EQ(DatabaseStock(product), 4);
  stores_.ExpectInvariants(product);
}

TEST_F(RedisLoss, FlushAllIsNoticedWithoutAnyRequest) {
  auto product = CreateProduct(7, 1, 300);
  auto sold = ReserveId(product, "quiet-buyer");
  ASSERT_EQ(Confirm(sold, "quiet-buyer").status, 201);
  ASSERT_EQ(stores_.Redis({"FLUSHALL"}), "OK");
  // Nobody asks for the product; the server notices the loss and rebuilds every product.
  EXPECT_TRUE(Eventually([&] {
    return stores_.Redis({"SISMEMBER", "ticketing:products", std::to_string(product)}) == "1" &&
           stores_.Redis({"GET", Stores::Prefix(product) + ":avail"}) == "6";
  })) << "avail " << stores_.Redis({"GET", Stores::Prefix(product) + ":avail"});
  EXPECT_EQ(stores_.Redis({"HGET", Stores::Prefix(product) + ":info", "name"}), "Gig");
  stores_.ExpectInvariants(product);
}

TEST_F(RedisLoss, StaleSnapshotAtRestartKeepsConfirmedHoldsSold) {
  auto product = CreateProduct(5, 1, 300);
  auto sold = ReserveId(product, "stale-buyer");
  auto confirmed = Confirm(sold, "stale-buyer");
  ASSERT_EQ(confirmed.status, 201) << confirmed.body;
  auto live = ReserveId(product, "stale-holder");
  ASSERT_EQ(DatabaseStock(product), 4);

  // Redis comes back from a snapshot taken before the confirm: the hold is held again and
  // already past its expiry, available is an old value, and it is another Redis run than the
  // one the servers rebuilt.
  server_->Kill();
  RewindToHeld(product, sold, "stale-buyer", NowMs() - 1000);
  stores_.Redis({"SET", Stores::Prefix(product) + ":avail", "5"});
  stores_.Redis({"SET", kEpochKey, "run-id-of-an-older-redis"});
  server_->Start();

  // The hold is confirmed from the database, without giving its unit back.
  EXPECT_TRUE(Eventually([&] { return stores_.HoldState(sold) == "confirmed"; }))
      << "state " << stores_.HoldState(sold);
  std::this_thread::sleep_for(milliseconds(500));  // a few sweeps
  EXPECT_EQ(stores_.HoldState(sold), "confirmed");
  EXPECT_EQ(stores_.HoldState(live), "held");
  const std::string hold = Stores::Prefix(product) + ":h:" + sold;
  EXPECT_EQ(stores_.Redis({"HGET", hold, "order"}),
            std::to_string(confirmed.json.at("orderId").as_int64()));
  EXPECT_EQ(stores_.Redis({"ZSCORE", Stores::Prefix(product) + ":exp", sold}), "NIL");
  EXPECT_GT(std::stoll(stores_.Redis({"TTL", hold})), 0);
  EXPECT_EQ(stores_.Available(product), DatabaseStock(product) - 1);
  EXPECT_EQ(stores_.Redis({"GET", Stores::Prefix(product) + ":held"}), "1");
  stores_.ExpectInvariants(product);
}

TEST_F(RedisLoss, StaleSnapshotWhileRunningIsNoticedByItsRunId) {
  auto product = CreateProduct(5, 1, 300);
  auto sold = ReserveId(product, "run-buyer");
  ASSERT_EQ(Confirm(sold, "run-buyer").status, 201);
  // Not due yet, so no sweep can race the check; only the run id says Redis is not the one
  // the servers rebuilt.
  RewindToHeld(product, sold, "run-buyer", NowMs() + 60'000);
  stores_.Redis({"SET", Stores::Prefix(product) + ":avail", "5"});
  stores_.Redis({"SET", kEpochKey, "run-id-of-an-older-redis"});
  EXPECT_TRUE(Eventually([&] { return stores_.HoldState(sold) == "confirmed"; }))
      << "state " << stores_.HoldState(sold);
  EXPECT_EQ(stores_.Available(product), DatabaseStock(product));
  stores_.ExpectInvariants(product);
}

// Keys of the product (or its line) that have no expiry, other than the product's own.
std::vector<std::string> KeysWithoutTtl(Stores& stores, std::int64_t product) {
  const std::string listed = stores.Redis(
      {"EVAL",
       "local out = {} for _, k in ipairs(redis.call('KEYS', ARGV[1])) do "
       "if redis.call('PTTL', k) < 0 then out[#out + 1] = k end end "
       "return table.concat(out, ' ')",
       "0", Stores::Prefix(product) + ":*"});
  std::vector<std::string> out;
  const std::string prefix = Stores::Prefix(product);
  std::istringstream in(listed);
  for (std::string k; in >> k;) {
    if (k == prefix + ":info" || k == prefix + ":avail" || k == prefix + ":exp" ||
        k == prefix + ":held" || k == prefix + ":stats") {
      continue;
    }
    out.push_back(k);
  }
  return out;
}

TEST_F(RedisLoss, EveryBuyerAndLineKeyExpires) {
  const std::int64_t start = NowMs() + 2500;
  json::object queue{{"enabled", true}, {"admitPerSecond", 50}, {"maxActive", 50},
                     {"admissionTtlSeconds", 60}};
  auto product = CreateProduct(5, 2, 2, queue, start);
  const std::string prefix = Stores::Prefix(product);
  const std::string path = "/queue/" + std::to_string(product);
  std::vector<std::string> users{"ttl-buyer", "ttl-canceller", "ttl-sleeper"};
  std::vector<std::string> tickets;
  for (const auto& u : users) {
    auto r = api_.Post(path + "/join", "", Token(u));
    ASSERT_EQ(r.status, 200) << r.body;
    tickets.emplace_back(r.json.at("ticket").as_string());
    // Joined before the sale start: the ticket lives until a day after the start.
    const long long at = std::stoll(stores_.Redis({"PEXPIRETIME", prefix + ":q:t:" + tickets.back()}));
    EXPECT_GE(at, start + kDayMs - 1000) << "ticket expires at " << at << ", start " << start;
  }
  std::vector<std::string> admissions(users.size());
  ASSERT_TRUE(Eventually([&] {
    for (std::size_t i = 0; i < users.size(); ++i) {
      if (!admissions[i].empty()) continue;
      auto s = api_.Get(path + "/status?ticket=" + tickets[i], Token(users[i]));
      if (auto* t = s.json.is_object() ? s.json.as_object().if_contains("admissionToken") : nullptr) {
        admissions[i] = std::string(t->as_string());
      }
    }
    return std::all_of(admissions.begin(), admissions.end(), [](auto& a) { return !a.empty(); });
  }));
  auto bought = ReserveId(product, users[0], admissions[0]);
  ASSERT_EQ(Confirm(bought, users[0]).status, 201);
  auto cancelled = ReserveId(product, users[1], admissions[1]);
  ASSERT_EQ(api_.Post("/purchase/cancel", json::serialize(json::object{{"reservationId", cancelled}}),
                      Token(users[1])).status, 200);
  auto expired = ReserveId(product, users[2], admissions[2]);
  ASSERT_TRUE(Eventually([&] { return stores_.HoldState(expired) == "expired"; }));
  // The buyer's counter still counts the bought unit.
  EXPECT_NE(stores_.Redis({"EXISTS", prefix + ":u:ttl-buyer"}), "0");

  auto forever = KeysWithoutTtl(stores_, product);
  std::string listed;
  for (const auto& k : forever) listed += k + " ";
  EXPECT_TRUE(forever.empty()) << "keys without a TTL: " << listed;
  // The bought unit's counter outlives its hold by a day.
  EXPECT_GT(std::stoll(stores_.Redis({"PTTL", prefix + ":u:ttl-buyer"})), kDayMs - 60'000);
  // Keys per reserve (the finished hold) are kept an hour, so at a steady reserve rate Redis
  // holds at most an hour of them (then the database answers for confirmed holds).
  constexpr long long kHourMs = 3'600'000;
  for (const auto& rid : {bought, cancelled, expired}) {
    const long long ttl = std::stoll(stores_.Redis({"PTTL", prefix + ":h:" + rid}));
    EXPECT_GT(ttl, kHourMs - 60'000) << rid;
    EXPECT_LE(ttl, kHourMs) << rid;
  }
  stores_.ExpectInvariants(product);
}

// A buyer told "confirmed" is never told otherwise: Redis came back from a moment when the
// confirmed hold had already ended another way (here: 'expired', outside the expiry index,
// which no rebuild visits). A status read and a repeated confirm answer from the order.
TEST_F(RedisLoss, ConfirmedBuyerIsNotToldExpiredAfterRedisWentBack) {
  auto product = CreateProduct(3, 1, 300);
  const auto rid = ReserveId(product, "told");
  auto first = Confirm(rid, "told");
  ASSERT_EQ(first.status, 201) << first.body;
  const std::string prefix = Stores::Prefix(product);
  stores_.Redis({"HSET", prefix + ":h:" + rid, "state", "expired"});
  stores_.Redis({"HDEL", prefix + ":h:" + rid, "order", "total"});

  auto status = api_.Get("/purchase/reservations/" + rid, Token("told"));
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(status.json.at("state").as_string(), "confirmed") << status.body;
  auto again = Confirm(rid, "told");
  EXPECT_EQ(again.status, 200) << again.body;
  if (again.status == 200) {
    EXPECT_EQ(again.json.at("orderId").as_int64(), first.json.at("orderId").as_int64());
  }
  // The same with the hold back at 'held' (its confirm lost), before any rebuild: a cancel
  // must not tell the buyer "cancelled".
  RewindToHeld(product, rid, "told", NowMs() + 300000);
  auto cancel = api_.Post("/purchase/cancel", json::serialize(json::object{{"reservationId", rid}}),
                          Token("told"));
  EXPECT_EQ(cancel.status, 409) << cancel.body;
  EXPECT_EQ(cancel.ErrorCode(), "ALREADY_CONFIRMED") << cancel.body;
  EXPECT_EQ(stores_.SqlInt("SELECT COUNT(*) FROM orders WHERE reservation_id='" + rid + "'"), 1);
  ASSERT_EQ(api_.Post("/admin/products/" + std::to_string(product) + "/sync-stock", "",
                      Token("ops", true)).status, 200);
  stores_.ExpectInvariants(product);
}

// Issue 8: a server starting against a Redis that was rebuilt for its current run does not
// rebuild again (a rebuild walks every live hold while Redis waits; six workers starting mid-
// sale each forcing one stalled Redis for seconds). The epoch marker says it is not needed.
TEST_F(RedisLoss, AServerStartingOnARebuiltRedisDoesNotRebuildIt) {
  auto product = CreateProduct(6, 2, 300);
  ReserveId(product, "start-buyer");
  // The suite's server has recorded this Redis run as rebuilt.
  ASSERT_TRUE(Eventually([&] { return stores_.Redis({"GET", kEpochKey}) != "NIL"; }));
  // A figure only a rebuild would put back: if the new server rebuilt, available returns to 5.
  stores_.Redis({"SET", Stores::Prefix(product) + ":avail", "4"});
  ServerProcess late(SharedServices(), {{"SWEEP_INTERVAL_MS", "100"}});
  late.Start();
  std::this_thread::sleep_for(milliseconds(2500));  // > two loss checks (1 s apart)
  EXPECT_EQ(stores_.Available(product), 4) << "the starting server rebuilt a rebuilt Redis";
  std::ifstream log(late.log_path());
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_EQ(text.str().find("\"redis_rebuilt\""), std::string::npos) << text.str();
  stores_.Redis({"SET", Stores::Prefix(product) + ":avail", "5"});
  stores_.ExpectInvariants(product);
}

}  // namespace
}  // namespace ticketing::testing
