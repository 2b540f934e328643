// The waiting room end to end: real server processes (three where several servers advance one
// line), real Redis and MariaDB, HTTP over loopback. Admission times, orders and states are read
// from Redis directly, so the checks do not depend on the server's own reports.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <thread>

#include "auth/jwt.hpp"
#include "common/iso_time.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"
#include "tests/support/tokens.hpp"

namespace ticketing::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kPollTimeoutSeconds = 3;  // QUEUE_POLL_TIMEOUT_SECONDS of every server here

std::map<std::string, std::string> ServerEnv(std::map<std::string, std::string> extra = {}) {
  std::map<std::string, std::string> env{
      {"QUEUE_POLL_TIMEOUT_SECONDS", std::to_string(kPollTimeoutSeconds)},
      {"QUEUE_TICK_MS", "100"},
      {"SWEEP_INTERVAL_MS", "100"},
      {"DB_TIMEOUT_SECONDS", "2"},
      {"CONFIRM_LEASE_SECONDS", "8"}};
  for (auto& [k, v] : extra) env[k] = v;
  return env;
}

// Direct Redis reads of the line, independent of the server's code.
class RedisReader {
 public:
  explicit RedisReader(const Services& s) : stores_(s) {}

  std::string Get(const std::vector<std::string>& args) { return stores_.Redis(args); }
  std::string Ticket(std::int64_t product, const std::string& ticket, const std::string& field) {
    return Get({"HGET", Prefix(product) + ":q:t:" + ticket, field});
  }
  long long TicketInt(std::int64_t product, const std::string& ticket, const std::string& field) {
    return std::stoll(Ticket(product, ticket, field));
  }
  // prefix:held must equal the units of holds in state 'held'.
  void ExpectHeldCounter(std::int64_t product) {
    std::string counter = Get({"GET", Prefix(product) + ":held"});
    EXPECT_EQ(counter == "NIL" ? 0 : std::stoll(counter), stores_.HeldUnits(product, false))
        << "held counter, product " << product;
  }
  static std::string Prefix(std::int64_t product) { return Stores::Prefix(product); }

 private:
  Stores stores_;
};

std::string Sql(const Services& s, const std::string& query) { return Stores(s).Sql(query); }

// The value of ticketing_events_total{event="<event>"} on a server (-1 if absent).
long long Metric(HttpClient& c, const std::string& event) {
  auto m = c.Get("/metrics").body;
  std::smatch match;
  if (!std::regex_search(
          m, match, std::regex("ticketing_events_total\\{event=\"" + event + "\"\\} (\\d+)"))) {
    return -1;
  }
  return std::stoll(match[1]);
}

// Polls the given tickets every 500 ms from a thread of its own, so that slow steps of a test
// (starting a server) do not make the waiters look gone.
class KeepPolling {
 public:
  KeepPolling(std::uint16_t port, std::int64_t product,
              std::vector<std::pair<std::string, std::string>> tickets_and_tokens)
      : thread_([=, this] {
          HttpClient c(port);
          while (!stop_) {
            for (const auto& [ticket, token] : tickets_and_tokens) {
              c.Get("/queue/" + std::to_string(product) + "/status?ticket=" + ticket, token);
            }
            for (int i = 0; i < 10 && !stop_; ++i) std::this_thread::sleep_for(milliseconds(50));
          }
        }) {}
  ~KeepPolling() {
    stop_ = true;
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A buyer in line: their JWT, ticket and the server they talk to.
struct Waiter {
  std::string user;
  std::string token;
  std::string ticket;
  HttpClient* api = nullptr;
  std::string state;
  std::string admission;
};

class QueueFlow : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess(SharedServices(), ServerEnv());
    server_->Start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  QueueFlow() : api_(server_->port()), redis_(SharedServices()) {}

  std::int64_t CreateProduct(int stock, json::object queue, std::optional<std::int64_t> start = {},
                             int hold_seconds = 300) {
    json::object body{{"name", "Drop"},
                      {"price", 10},
                      {"stock", stock},
                      {"perUserLimit", 1},
                      {"holdSeconds", hold_seconds}};
    if (!queue.empty()) body["queue"] = queue;
    if (start) body["saleStartsAt"] = FormatIsoUtcMs(*start);
    auto r = api_.Post("/admin/products", json::serialize(body), Token("ops", true));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json.at("id").as_int64();
  }
  static json::object Queue(int rate, int max_active, int ttl_seconds = 60) {
    return {{"enabled", true},
            {"admitPerSecond", rate},
            {"maxActive", max_active},
            {"admissionTtlSeconds", ttl_seconds}};
  }
  Waiter Join(std::int64_t product, const std::string& user, HttpClient* via = nullptr) {
    Waiter w{user, Token(user), "", via ? via : &api_, "", ""};
    auto r = w.api->Post("/queue/" + std::to_string(product) + "/join", "", w.token);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status == 200) {
      w.ticket = std::string(r.json.at("ticket").as_string());
      w.state = std::string(r.json.at("state").as_string());
    }
    return w;
  }
  Reply Status(std::int64_t product, Waiter& w) {
    auto r =
        w.api->Get("/queue/" + std::to_string(product) + "/status?ticket=" + w.ticket, w.token);
    if (r.status == 200) {
      w.state = std::string(r.json.at("state").as_string());
      if (auto* t = r.json.as_object().if_contains("admissionToken")) {
        w.admission = std::string(t->as_string());
      }
    }
    return r;
  }
  // Polls every waiter once; returns how many are in `state`.
  int PollAll(std::int64_t product, std::vector<Waiter>& ws, const std::string& state) {
    int n = 0;
    for (auto& w : ws) {
      auto r = Status(product, w);
      EXPECT_EQ(r.status, 200) << r.body;
      n += w.state == state;
    }
    return n;
  }
  Reply Reserve(std::int64_t product, const std::string& user, const std::string& admission) {
    Call c{"POST", "/purchase/reserve", json::serialize(json::object{{"productId", product}}),
           Token(user)};
    return SendWithAdmission(api_, c, admission);
  }
  // HttpClient has no custom headers: send the reserve on a raw connection.
  Reply SendWithAdmission(HttpClient& client, const Call& c, const std::string& admission) {
    if (admission.empty()) return client.Send(c);
    std::string raw =
        c.method + " " + c.target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
        "Authorization: Bearer " + c.token + "\r\nX-Admission-Token: " + admission +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(c.body.size()) +
        "\r\n\r\n" + c.body;
    std::string answer = client.Raw(raw);
    Reply r;
    std::smatch m;
    if (std::regex_search(answer, m, std::regex("^HTTP/1\\.1 (\\d{3})")))
      r.status = std::stoi(m[1]);
    auto body_at = answer.find("\r\n\r\n");
    if (body_at != std::string::npos) r.body = answer.substr(body_at + 4);
    boost::system::error_code ec;
    r.json = json::parse(r.body, ec);
    if (ec) r.json = nullptr;
    return r;
  }
  Reply Confirm(const std::string& rid, const std::string& user) {
    return api_.Post("/purchase/confirm", json::serialize(json::object{{"reservationId", rid}}),
                     Token(user));
  }
  json::object Line(std::int64_t product) {
    auto r = api_.Get("/queue/" + std::to_string(product));
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json.as_object();
  }
  template <class Pred>
  bool Eventually(Pred pred, milliseconds limit = milliseconds(15000),
                  milliseconds step = milliseconds(100)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(step);
    }
    return pred();
  }

  static ServerProcess* server_;
  HttpClient api_;
  RedisReader redis_;
};

ServerProcess* QueueFlow::server_ = nullptr;

TEST_F(QueueFlow, FifoAfterStartAndJoinIsIdempotent) {
  auto product = CreateProduct(100, Queue(4, 100));
  std::vector<Waiter> ws;
  for (int i = 0; i < 12; ++i) ws.push_back(Join(product, "fifo-" + std::to_string(i)));
  for (auto& w : ws) ASSERT_FALSE(w.ticket.empty());
  // Joining again: the same ticket, no new place.
  auto again = Join(product, "fifo-5");
  EXPECT_EQ(again.ticket, ws[5].ticket);
  // Positions only get better along the line; then everyone gets in at 4 a second.
  auto s = Status(product, ws[11]);
  EXPECT_EQ(s.json.at("aheadOfYou").as_int64() + 1, s.json.at("position").as_int64());
  ASSERT_TRUE(Eventually([&] { return PollAll(product, ws, "admitted") == 12; })) << ws[11].state;
  // FIFO: admission times never go backwards along the join order.
  for (std::size_t i = 1; i < ws.size(); ++i) {
    EXPECT_LE(redis_.TicketInt(product, ws[i - 1].ticket, "admAt"),
              redis_.TicketInt(product, ws[i].ticket, "admAt"))
        << "waiter " << i - 1 << " admitted after waiter " << i;
    EXPECT_LT(redis_.TicketInt(product, ws[i - 1].ticket, "order"),
              redis_.TicketInt(product, ws[i].ticket, "order"));
  }
  // Joining again once admitted still returns the same ticket.
  EXPECT_EQ(Join(product, "fifo-0").ticket, ws[0].ticket);
  auto line = Line(product);
  EXPECT_EQ(line.at("admitted").as_int64(), 12);
  EXPECT_EQ(line.at("length").as_int64(), 0);
  EXPECT_EQ(line.at("active").as_int64(), 12);
  EXPECT_EQ(line.at("soldOut").as_bool(), false);
}

TEST_F(QueueFlow, PreQueueIsShuffledAndEveryEarlyJoinerKeepsAPlace) {
  const auto start = NowMs() + 3000;
  auto product = CreateProduct(100, Queue(25, 1000), start);
  auto plain = CreateProduct(5, {}, start);  // no waiting room, same sale start
  std::vector<Waiter> early;
  for (int i = 0; i < 40; ++i) early.push_back(Join(product, "early-" + std::to_string(i)));
  auto st = Status(product, early[0]);
  EXPECT_EQ(st.json.at("state").as_string(), "waiting");
  EXPECT_TRUE(st.json.at("preQueue").as_bool());
  EXPECT_GE(st.json.at("etaSeconds").as_int64(), 1);
  // Before the start nobody reserves, queued or not.
  EXPECT_EQ(Reserve(plain, "early-0", "").ErrorCode(), "SALE_NOT_OPEN");
  EXPECT_EQ(Reserve(plain, "early-0", "").status, 403);
  EXPECT_EQ(Reserve(product, "early-0", "").ErrorCode(), "SALE_NOT_OPEN");
  while (NowMs() < start + 200) {
    PollAll(product, early, "waiting");
    std::this_thread::sleep_for(milliseconds(300));
  }
  auto late = Join(product, "late-0");
  std::vector<Waiter> all = early;
  all.push_back(late);
  ASSERT_TRUE(Eventually([&] { return PollAll(product, all, "admitted") == 41; }))
      << "not everyone who joined early got in";
  EXPECT_EQ(Reserve(plain, "early-0", "").status, 201);  // the sale is open now

  // The admission order is the line's order, which for the pre-queue is random: count how far
  // the join order is from it (inversions of a random order of 40: mean 390, sd about 43).
  std::vector<std::pair<long long, int>> by_order;
  for (int i = 0; i < 40; ++i) {
    by_order.emplace_back(redis_.TicketInt(product, early[i].ticket, "order"), i);
  }
  std::sort(by_order.begin(), by_order.end());
  int inversions = 0;
  for (int a = 0; a < 40; ++a) {
    for (int b = a + 1; b < 40; ++b) inversions += by_order[a].second > by_order[b].second;
  }
  EXPECT_GT(inversions, 150) << "pre-queue admitted in (nearly) join order";
  EXPECT_LT(inversions, 630) << "pre-queue admitted in (nearly) reverse join order";
  long long last_early = 0;
  for (std::size_t k = 1; k < by_order.size(); ++k) {
    EXPECT_LE(redis_.TicketInt(product, early[by_order[k - 1].second].ticket, "admAt"),
              redis_.TicketInt(product, early[by_order[k].second].ticket, "admAt"));
  }
  for (auto& w : early)
    last_early = std::max(last_early, redis_.TicketInt(product, w.ticket, "admAt"));
  EXPECT_GE(redis_.TicketInt(product, late.ticket, "admAt"), last_early)
      << "a joiner after the start passed the pre-queue";
}

TEST_F(QueueFlow, ThreeServersNeverPassTheRateOrMaxActive) {
  constexpr int kRate = 10, kMaxActive = 15, kTtl = 2, kBuyers = 70;
  ServerProcess second(SharedServices(), ServerEnv());
  ServerProcess third(SharedServices(), ServerEnv());
  second.Start();
  third.Start();
  HttpClient api2(second.port()), api3(third.port());
  HttpClient* via[] = {&api_, &api2, &api3};
  auto product = CreateProduct(1000, Queue(kRate, kMaxActive, kTtl));
  std::vector<Waiter> ws;
  for (int i = 0; i < kBuyers; ++i)
    ws.push_back(Join(product, "crowd-" + std::to_string(i), via[i % 3]));
  // Nobody reserves: admissions end only by their TTL, so the active set is known exactly.
  std::set<std::string> admitted;
  ASSERT_TRUE(Eventually(
      [&] {
        for (auto& w : ws) {
          if (admitted.count(w.ticket)) continue;
          Status(product, w);
          if (w.state == "admitted" || w.state == "expired") admitted.insert(w.ticket);
        }
        return admitted.size() == ws.size();
      },
      milliseconds(40000), milliseconds(200)));

  std::vector<long long> at;
  for (auto& w : ws) {
    EXPECT_EQ(redis_.Ticket(product, w.ticket, "state"), "admitted") << w.user;
    at.push_back(redis_.TicketInt(product, w.ticket, "admAt"));
  }
  std::sort(at.begin(), at.end());
  // Per Redis second, never more than the rate.
  std::map<long long, int> per_second;
  for (auto t : at) per_second[t / 1000]++;
  int busiest = 0;
  for (auto& [sec, n] : per_second) {
    EXPECT_LE(n, kRate) << "second " << sec;
    busiest = std::max(busiest, n);
  }
  // At each admission, admissions still within their TTL (this one included) <= maxActive.
  int most_active = 0;
  for (std::size_t j = 0; j < at.size(); ++j) {
    int live = 0;
    for (std::size_t i = 0; i < at.size() && at[i] <= at[j]; ++i)
      live += at[i] + kTtl * 1000 > at[j];
    EXPECT_LE(live, kMaxActive) << "at admission " << j;
    most_active = std::max(most_active, live);
  }
  // The caps did bind (the line was long enough to press on both).
  EXPECT_EQ(most_active, kMaxActive);
  EXPECT_GE(busiest, kRate / 2);
  // All three servers' tickers advanced the line.
  int servers_admitting = 0;
  for (HttpClient* c : via) servers_admitting += Metric(*c, "queue_admitted") > 0;
  EXPECT_GE(servers_admitting, 2);
}

TEST_F(QueueFlow, ReserveNeedsItsOwnAdmissionAndUsesItOnce) {
  auto product = CreateProduct(10, Queue(50, 100));
  auto other = CreateProduct(10, Queue(50, 100));
  auto plain = CreateProduct(10, {});
  std::vector<Waiter> ws{Join(product, "adm-a"), Join(product, "adm-b")};
  ASSERT_TRUE(Eventually([&] { return PollAll(product, ws, "admitted") == 2; }));
  const std::string token_a = ws[0].admission, token_b = ws[1].admission;
  ASSERT_FALSE(token_a.empty());
  ASSERT_FALSE(token_b.empty());

  EXPECT_EQ(Reserve(product, "adm-a", "").ErrorCode(), "NOT_ADMITTED");
  EXPECT_EQ(Reserve(product, "adm-a", "").status, 403);
  EXPECT_EQ(Reserve(product, "adm-c", token_a).ErrorCode(), "NOT_ADMITTED");  // another buyer's
  EXPECT_EQ(Reserve(other, "adm-a", token_a).ErrorCode(), "NOT_ADMITTED");    // another product's
  auto forged = token_a;
  forged[forged.size() - 2] = forged[forged.size() - 2] == 'x' ? 'y' : 'x';
  EXPECT_EQ(Reserve(product, "adm-a", forged).ErrorCode(), "NOT_ADMITTED");
  EXPECT_EQ(Reserve(product, "adm-a", "garbage").ErrorCode(), "NOT_ADMITTED");
  EXPECT_EQ(Reserve(plain, "adm-a", "garbage").ErrorCode(), "NOT_ADMITTED");
  EXPECT_EQ(Reserve(plain, "adm-a", "").status, 201);  // no waiting room, no token needed

  auto first = Reserve(product, "adm-a", token_a);
  ASSERT_EQ(first.status, 201) << first.body;
  auto second = Reserve(product, "adm-a", token_a);
  EXPECT_EQ(second.status, 403);
  EXPECT_EQ(second.ErrorCode(), "NOT_ADMITTED");
  auto st = Status(product, ws[0]);
  EXPECT_EQ(st.json.at("state").as_string(), "admitted");
  EXPECT_TRUE(st.json.at("used").as_bool());
  EXPECT_FALSE(st.json.as_object().contains("admissionToken"));
  EXPECT_EQ(Line(product).at("active").as_int64(), 2);
  redis_.ExpectHeldCounter(product);

  // Finishing (confirm, cancel) takes the buyer out of the active set.
  std::string rid(first.json.at("reservationId").as_string());
  ASSERT_EQ(Confirm(rid, "adm-a").status, 201);
  EXPECT_EQ(Line(product).at("active").as_int64(), 1);
  auto b = Reserve(product, "adm-b", token_b);
  ASSERT_EQ(b.status, 201) << b.body;
  EXPECT_EQ(api_.Post("/purchase/cancel",
                      json::serialize(json::object{{"reservationId", b.json.at("reservationId")}}),
                      Token("adm-b"))
                .status,
            200);
  EXPECT_EQ(Line(product).at("active").as_int64(), 0);
  EXPECT_EQ(Reserve(product, "adm-b", token_b).ErrorCode(), "NOT_ADMITTED");  // used, even so
  redis_.ExpectHeldCounter(product);
}

// A pause stops the clock of the admissions (it used to run on: a buyer admitted just before an
// admin paused lost their turn to a pause longer than their admission). During the pause the
// admission reads as good; after it, the buyer reserves with it. It still ends: a buyer who
// does not use theirs loses it once the time they had left at the pause has passed.
TEST_F(QueueFlow, AnAdmissionKeepsItsTimeThroughAPause) {
  auto product = CreateProduct(10, Queue(50, 100, /*ttl_seconds=*/4));
  std::vector<Waiter> ws{Join(product, "pz-a"), Join(product, "pz-b")};
  ASSERT_TRUE(Eventually([&] { return PollAll(product, ws, "admitted") == 2; }));
  const std::string admin = Token("ops", true);
  const std::string path = "/admin/products/" + std::to_string(product);
  ASSERT_EQ(api_.Post(path + "/pause", "", admin).status, 200);
  std::this_thread::sleep_for(milliseconds(5000));  // longer than the admissions' 4 s
  auto during = Status(product, ws[0]);
  ASSERT_EQ(during.status, 200) << during.body;
  EXPECT_EQ(ws[0].state, "admitted") << "the admission ran out during the pause: " << during.body;
  EXPECT_EQ(Reserve(product, "pz-a", ws[0].admission).ErrorCode(), "SALE_PAUSED");
  EXPECT_EQ(Line(product).at("active").as_int64(), 2) << "the paused admissions left the count";
  // Joining again (a reload) finds the admitted place, not a refusal for the pause.
  auto again = api_.Post("/queue/" + std::to_string(product) + "/join", "", Token("pz-a"));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json.at("ticket").as_string(), ws[0].ticket);
  EXPECT_EQ(again.json.at("state").as_string(), "admitted");

  ASSERT_EQ(api_.Post(path + "/resume", "", admin).status, 200);
  EXPECT_EQ(Line(product).at("active").as_int64(), 2);
  auto r = Reserve(product, "pz-a", ws[0].admission);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Status(product, ws[1]).json.at("state").as_string(), "admitted");
  ASSERT_TRUE(Eventually(
      [&] {
        Status(product, ws[1]);
        return ws[1].state == "expired";
      },
      milliseconds(10000)))
      << "an unused admission never ended after the pause";
  EXPECT_EQ(Reserve(product, "pz-b", ws[1].admission).ErrorCode(), "NOT_ADMITTED");
  redis_.ExpectHeldCounter(product);
}

TEST_F(QueueFlow, AbandonersAreDroppedAndTheLineMoves) {
  auto product = CreateProduct(10, Queue(50, 1));  // one buyer at a time
  std::vector<Waiter> ws{Join(product, "drop-a"), Join(product, "drop-b"), Join(product, "drop-c")};
  ASSERT_TRUE(Eventually([&] { return PollAll(product, ws, "admitted") == 1; }));
  ASSERT_EQ(ws[0].state, "admitted");
  // b goes quiet; a and c keep polling past the timeout.
  std::vector<Waiter> polling{ws[0], ws[2]};
  ASSERT_TRUE(Eventually(
      [&] {
        PollAll(product, polling, "waiting");
        return redis_.Ticket(product, ws[1].ticket, "state") == "expired";
      },
      milliseconds((kPollTimeoutSeconds + 5) * 1000), milliseconds(500)));
  EXPECT_EQ(polling[1].state, "waiting");
  auto r = Reserve(product, "drop-a", polling[0].admission);
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_EQ(Confirm(std::string(r.json.at("reservationId").as_string()), "drop-a").status, 201);
  // The line moves past b to c.
  ASSERT_TRUE(Eventually([&] {
    Status(product, polling[1]);
    return polling[1].state == "admitted";
  }));
  EXPECT_EQ(Status(product, ws[1]).json.at("state").as_string(), "expired");
  EXPECT_GE(Line(product).at("dropped").as_int64(), 1);
  // Coming back after losing the place: a new ticket at the back.
  auto back = Join(product, "drop-b");
  EXPECT_NE(back.ticket, ws[1].ticket);
  EXPECT_EQ(back.state, "waiting");
}

// A unit in a hold can come back, so the line waits for it; once every unit is sold or being
// paid for, every waiter reads "soldout" and reserves are refused in-process. A confirm that
// never commits (its server dies) gives its unit back, and the line moves again.
TEST_F(QueueFlow, SoldOutReachesEveryWaiterAndAReturnedUnitReopensTheLine) {
  auto product = CreateProduct(2, Queue(50, 10), std::nullopt, 300);
  std::vector<Waiter> ws;
  for (int i = 0; i < 6; ++i) ws.push_back(Join(product, "so-" + std::to_string(i)));
  ASSERT_TRUE(Eventually([&] { return PollAll(product, ws, "admitted") == 2; }));
  // Never more admitted than units that could still be sold.
  std::this_thread::sleep_for(milliseconds(400));
  EXPECT_EQ(PollAll(product, ws, "admitted"), 2);
  EXPECT_EQ(ws[0].state, "admitted");
  EXPECT_EQ(ws[1].state, "admitted");
  auto r0 = Reserve(product, "so-0", ws[0].admission);
  auto r1 = Reserve(product, "so-1", ws[1].admission);
  ASSERT_EQ(r0.status, 201);
  ASSERT_EQ(r1.status, 201);
  std::string rid0(r0.json.at("reservationId").as_string());
  std::string rid1(r1.json.at("reservationId").as_string());
  std::vector<Waiter> rest(ws.begin() + 2, ws.end());
  EXPECT_EQ(PollAll(product, rest, "waiting"), 4);  // units in holds may still come back
  std::vector<std::pair<std::string, std::string>> keep;
  for (auto& w : rest) keep.emplace_back(w.ticket, w.token);
  KeepPolling poller(server_->port(), product, keep);
  redis_.ExpectHeldCounter(product);

  ASSERT_EQ(Confirm(rid0, "so-0").status, 201);
  // so-1 confirms through a server that dies before COMMIT: the hold is stuck confirming.
  ServerProcess faulty(SharedServices(), ServerEnv({{"TICKETING_FAULT", "crash_before_commit"},
                                                    {"DB_TIMEOUT_SECONDS", "1"},
                                                    {"CONFIRM_LEASE_SECONDS", "4"}}));
  faulty.Start();
  HttpClient f(faulty.port());
  f.Post("/purchase/confirm", json::serialize(json::object{{"reservationId", rid1}}),
         Token("so-1"));
  EXPECT_EQ(faulty.WaitExit(10), 9);
  redis_.ExpectHeldCounter(product);
  ASSERT_TRUE(
      Eventually([&] { return PollAll(product, rest, "soldout") == 4; }, milliseconds(3000)))
      << "sold out did not reach every waiter";
  EXPECT_TRUE(Line(product).at("soldOut").as_bool());
  auto late = Reserve(product, "so-late", "");
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(late.ErrorCode(), "SOLD_OUT");
  // Within a ticker interval the server answers from its in-process flag, without Redis.
  EXPECT_TRUE(Eventually(
      [&] {
        EXPECT_EQ(Reserve(product, "so-late", "").ErrorCode(), "SOLD_OUT");
        return Metric(api_, "sold_out_flag_hit") > 0;
      },
      milliseconds(2000)));

  // After the 4 s lease the sweeper finds no order and restores the hold: a unit that may come
  // back, so waiters wait again; so-1 cancels it and the next waiter gets in.
  ASSERT_TRUE(Eventually([&] {
    PollAll(product, rest, "waiting");
    return redis_.Get({"HGET", RedisReader::Prefix(product) + ":h:" + rid1, "state"}) == "held";
  }));
  ASSERT_TRUE(
      Eventually([&] { return PollAll(product, rest, "waiting") == 4; }, milliseconds(3000)));
  redis_.ExpectHeldCounter(product);
  ASSERT_EQ(api_.Post("/purchase/cancel", json::serialize(json::object{{"reservationId", rid1}}),
                      Token("so-1"))
                .status,
            200);
  ASSERT_TRUE(Eventually([&] { return PollAll(product, rest, "admitted") == 1; }));
  EXPECT_EQ(rest[0].state, "admitted") << "the line resumed out of order";
  auto r2 = Reserve(product, rest[0].user, rest[0].admission);
  EXPECT_EQ(r2.status, 201) << r2.body;
  redis_.ExpectHeldCounter(product);
}

TEST_F(QueueFlow, SettingsArePersistedChangeableAndRestored) {
  const auto start = NowMs() + 3'600'000;
  auto product = CreateProduct(5, Queue(7, 70, 30), start);
  const std::string path = "/products/" + std::to_string(product);
  auto got = api_.Get(path);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.json.at("queue").at("admitPerSecond").as_int64(), 7);
  EXPECT_EQ(ParseIsoUtcMs(got.json.at("saleStartsAt").as_string()), start);
  auto patched =
      api_.Send({"PATCH", "/admin/products/" + std::to_string(product),
                 R"({"queue":{"admitPerSecond":9},"saleStartsAt":null})", Token("ops", true)});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json.at("queue").at("admitPerSecond").as_int64(), 9);
  EXPECT_EQ(patched.json.at("queue").at("maxActive").as_int64(), 70);
  EXPECT_FALSE(patched.json.as_object().contains("saleStartsAt"));
  const std::string id = std::to_string(product);
  EXPECT_EQ(Sql(SharedServices(), "SELECT sale_starts_at IS NULL FROM products WHERE id=" + id),
            "1");
  EXPECT_NE(Sql(SharedServices(), "SELECT queue_json FROM products WHERE id=" + id).find("9"),
            std::string::npos);
  auto restart = api_.Send({"PATCH", "/admin/products/" + id,
                            R"({"saleStartsAt":"2030-01-02T03:04:05.678Z"})", Token("ops", true)});
  ASSERT_EQ(restart.status, 200) << restart.body;
  // Redis loses the product: the database restores its settings.
  redis_.Get(
      {"DEL", RedisReader::Prefix(product) + ":info", RedisReader::Prefix(product) + ":avail"});
  auto warmed = api_.Get(path);
  ASSERT_EQ(warmed.status, 200) << warmed.body;
  EXPECT_EQ(redis_.Get({"HGET", RedisReader::Prefix(product) + ":info", "qrate"}), "9");
  EXPECT_EQ(redis_.Get({"HGET", RedisReader::Prefix(product) + ":info", "start"}),
            std::to_string(*ParseIsoUtcMs("2030-01-02T03:04:05.678Z")));
  auto again = api_.Get(path);
  EXPECT_EQ(again.json.at("saleStartsAt").as_string(), "2030-01-02T03:04:05.678Z");
  EXPECT_EQ(again.json.at("queue").at("maxActive").as_int64(), 70);
  // Switching the waiting room off: buyers in line are let through, reserve needs no token.
  auto w = Join(product, "switch-a");
  ASSERT_EQ(api_.Send({"PATCH", "/admin/products/" + id,
                       R"({"queue":{"enabled":false},"saleStartsAt":null})", Token("ops", true)})
                .status,
            200);
  EXPECT_EQ(Status(product, w).json.at("state").as_string(), "admitted");
  EXPECT_EQ(Reserve(product, "switch-a", "").status, 201);
}

TEST_F(QueueFlow, BadInputGetsJsonErrors) {
  auto product = CreateProduct(5, Queue(50, 100));
  auto plain = CreateProduct(5, {});
  auto w = Join(product, "bad-a");
  const std::string q = "/queue/" + std::to_string(product);
  auto buyer = Token("bad-a");
  struct Case {
    std::string method, target, body, token;
    int status;
    std::string code;
  } cases[] = {
      {"POST", "/queue/999999/join", "", buyer, 404, "PRODUCT_NOT_FOUND"},
      {"POST", "/queue/abc/join", "", buyer, 404, "PRODUCT_NOT_FOUND"},
      {"POST", "/queue/" + std::to_string(plain) + "/join", "", buyer, 409, "QUEUE_NOT_ENABLED"},
      {"POST", q + "/join", "", "", 401, "UNAUTHORIZED"},
      {"GET", q + "/join", "", buyer, 405, "METHOD_NOT_ALLOWED"},
      {"GET", q + "/status", "", buyer, 400, "INVALID_REQUEST"},
      {"GET", q + "/status?ticket=nope", "", buyer, 404, "TICKET_NOT_FOUND"},
      {"GET", q + "/status?ticket=" + std::to_string(product) + "-" + std::string(32, 'a'), "",
       buyer, 404, "TICKET_NOT_FOUND"},
      {"GET", q + "/status?ticket=" + w.ticket, "", Token("bad-b"), 404, "TICKET_NOT_FOUND"},
      {"GET", "/queue/999999/status?ticket=" + w.ticket, "", buyer, 404, "TICKET_NOT_FOUND"},
      {"GET", q + "/status?ticket=" + w.ticket, "", "", 401, "UNAUTHORIZED"},
      {"GET", "/queue/999999", "", "", 404, "PRODUCT_NOT_FOUND"},
      {"POST", "/admin/products",
       R"({"name":"x","price":1,"stock":1,"queue":{"admitPerSecond":0}})", Token("ops", true), 400,
       "INVALID_REQUEST"},
      {"POST", "/admin/products", R"({"name":"x","price":1,"stock":1,"queue":{"enabled":"yes"}})",
       Token("ops", true), 400, "INVALID_REQUEST"},
      {"POST", "/admin/products", R"({"name":"x","price":1,"stock":1,"queue":{"rate":5}})",
       Token("ops", true), 400, "INVALID_REQUEST"},
      {"POST", "/admin/products", R"({"name":"x","price":1,"stock":1,"saleStartsAt":"tomorrow"})",
       Token("ops", true), 400, "INVALID_REQUEST"},
      {"POST", "/admin/products",
       R"({"name":"x","price":1,"stock":1,"saleStartsAt":"2030-01-01T00:00:00"})",
       Token("ops", true), 400, "INVALID_REQUEST"},
      {"PATCH", "/admin/products/999999", R"({"saleStartsAt":null})", Token("ops", true), 404,
       "PRODUCT_NOT_FOUND"},
      {"PATCH", "/admin/products/" + std::to_string(product), R"({"stock":5})", Token("ops", true),
       400, "INVALID_REQUEST"},
      {"PATCH", "/admin/products/" + std::to_string(product), R"({"queue":{"maxActive":-1}})",
       Token("ops", true), 400, "INVALID_REQUEST"},
      {"PATCH", "/admin/products/" + std::to_string(product), R"({"queue":{}})", buyer, 403,
       "FORBIDDEN"},
  };
  for (const auto& c : cases) {
    HttpClient fresh(server_->port());
    auto r = fresh.Send({c.method, c.target, c.body, c.token});
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.target << " " << c.body;
    EXPECT_EQ(r.ErrorCode(), c.code) << c.method << " " << c.target << " " << r.body;
  }
}

}  // namespace
}  // namespace ticketing::testing
