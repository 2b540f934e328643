// Abuse defences end to end: real server processes sharing one real Redis and MariaDB. Rate
// limits (per buyer across two servers, reset after the window, admins exempt, per address
// with X-Forwarded-For honoured only from a trusted proxy, confirm and join), the join's proof
// of work (accepted, wrong, stale, replayed, persisted and restored), and ADMIN_LISTEN.
#include <gtest/gtest.h>

#include <ctime>

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <regex>
#include <string>
#include <thread>

#include "abuse/pow.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"
#include "tests/support/tokens.hpp"

namespace ticketing::testing {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

// Two reserves a second, four at once: easy to pass in a test, by a wide margin.
const std::map<std::string, std::string> kTightReserve{{"RATE_LIMIT_RESERVE_BUYER", "2/s:4"}};

std::string ReserveBody(std::int64_t product) {
  return json::serialize(json::object{{"productId", product}});
}

// The raw answer (status line and headers included) of one request on a fresh connection.
std::string RawPost(std::uint16_t port, const std::string& target, const std::string& body,
                    const std::string& token) {
  HttpClient c(port);
  return c.Raw("POST " + target +
               " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " + token +
               "\r\nContent-Type: application/json\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body);
}

// `n` reserves of `product` by one buyer at once (each on its own connection), alternating over
// `ports`; returns how many were answered 201 and 429, and how long the burst took (s).
struct Burst {
  int ok = 0, limited = 0, other = 0;
  double seconds = 0;
};
Burst ReserveBurst(const std::vector<std::uint16_t>& ports, std::int64_t product,
                   const std::string& token, int n) {
  std::vector<std::vector<Call>> calls(ports.size());
  for (int i = 0; i < n; ++i) {
    calls[i % ports.size()].push_back({"POST", "/purchase/reserve", ReserveBody(product), token});
  }
  Burst b;
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  std::vector<std::vector<Reply>> replies(ports.size());
  for (std::size_t p = 0; p < ports.size(); ++p) {
    threads.emplace_back([&, p] { replies[p] = Concurrent(ports[p], calls[p]); });
  }
  for (auto& t : threads) t.join();
  b.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& rs : replies) {
    for (const auto& r : rs) {
      if (r.status == 201)
        ++b.ok;
      else if (r.status == 429 && r.ErrorCode() == "RATE_LIMITED")
        ++b.limited;
      else
        ++b.other;
    }
  }
  return b;
}

class Abuse : public ::testing::Test {
 protected:
  Abuse() : stores_(SharedServices()) {}

  static std::int64_t CreateProduct(std::uint16_t port, int stock, int limit,
                                    json::value queue = nullptr,
                                    const std::string& sale_starts_at = "") {
    json::object body{{"name", "Abuse"}, {"price", 10}, {"stock", stock}, {"perUserLimit", limit}};
    if (!queue.is_null()) body["queue"] = queue;
    if (!sale_starts_at.empty()) body["saleStartsAt"] = sale_starts_at;
    HttpClient c(port);
    auto r = c.Post("/admin/products", json::serialize(body), Token("ops", true));
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json.at("id").as_int64();
  }

  Stores stores_;
};

TEST_F(Abuse, BuyerLimitHoldsAcrossTwoServersTakesNothingAndResets) {
  ServerProcess a(SharedServices(), kTightReserve);
  ServerProcess b(SharedServices(), kTightReserve);
  a.Start();
  b.Start();
  const auto product = CreateProduct(a.port(), 100, 100);
  HttpClient cb(b.port());
  const std::string bot = Token("bot");

  // Ten reserves at once, half to each server: the shared bucket lets four through (plus one
  // per 500 ms the burst took, on a slow machine).
  const auto burst = ReserveBurst({a.port(), b.port()}, product, bot, 10);
  const int ok = burst.ok;
  EXPECT_GE(ok, 4);
  EXPECT_LE(ok, 4 + static_cast<int>(burst.seconds * 2) + 1) << burst.seconds << " s";
  EXPECT_EQ(burst.other, 0);
  EXPECT_EQ(ok + burst.limited, 10);
  // Limited reserves took nothing: no units, no holds.
  EXPECT_EQ(stores_.Available(product), 100 - ok);
  EXPECT_EQ(stores_.HeldUnits(product, true), ok);
  stores_.ExpectInvariants(product);

  // The 429 says when to come back, in whole seconds, rounded up.
  const std::string raw = RawPost(b.port(), "/purchase/reserve", ReserveBody(product), bot);
  EXPECT_NE(raw.find("HTTP/1.1 429"), std::string::npos) << raw;
  EXPECT_NE(raw.find("Retry-After: 1\r\n"), std::string::npos) << raw;

  // The limit's state expires with its window (Redis runs noeviction: nothing may live forever).
  const auto pttl =
      std::stoll(stores_.Redis({"PTTL", Stores::Prefix(product) + ":rl:reserve:b:bot"}));
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 2000);

  // Another buyer is not affected.
  EXPECT_EQ(cb.Post("/purchase/reserve", ReserveBody(product), Token("honest")).status, 201);

  // Counted in /metrics on both servers.
  for (auto* s : {&a, &b}) {
    EXPECT_GT(MetricValue(s->port(), "ticketing_events_total{event=\"rate_limited\"}"), 0);
    EXPECT_GT(MetricValue(s->port(), "ticketing_http_requests_total{method=\"POST\",route=\"/purchase/"
                                "reserve\",status=\"429\"}"),
              0);
  }

  // The window passes (burst x interval = 2 s): a full burst again, and no more.
  std::this_thread::sleep_for(milliseconds(2100));
  const auto again = ReserveBurst({a.port(), b.port()}, product, bot, 8);
  EXPECT_GE(again.ok, 4);
  EXPECT_LE(again.ok, 4 + static_cast<int>(again.seconds * 2) + 1) << again.seconds << " s";
  EXPECT_GT(again.limited, 0);
  EXPECT_EQ(stores_.Available(product), 100 - ok - 1 - again.ok);
  stores_.ExpectInvariants(product);
}

TEST_F(Abuse, AdminsAreExempt) {
  ServerProcess s(SharedServices(), kTightReserve);
  s.Start();
  const auto product = CreateProduct(s.port(), 100, 100);
  HttpClient c(s.port());
  int ok = 0;
  for (int i = 0; i < 12; ++i) {
    ok += c.Post("/purchase/reserve", ReserveBody(product), Token("ops", true)).status == 201;
  }
  EXPECT_EQ(ok, 12);
  EXPECT_EQ(stores_.Redis({"EXISTS", Stores::Prefix(product) + ":rl:reserve:b:ops"}), "0");
}

TEST_F(Abuse, DefaultsLeaveHonestBuyersAlone) {
  ServerProcess s(SharedServices());
  s.Start();
  const auto product = CreateProduct(s.port(), 1000, 100);
  HttpClient c(s.port());
  // A buyer who double-clicks and retries a few times at once, and 50 buyers behind one
  // address (per-address limits are off by default).
  int ok = 0;
  for (int i = 0; i < 6; ++i) {
    ok += c.Post("/purchase/reserve", ReserveBody(product), Token("clicker")).status == 201;
  }
  EXPECT_EQ(ok, 6);
  ok = 0;
  for (int i = 0; i < 50; ++i) {
    ok += c.Post("/purchase/reserve", ReserveBody(product), Token("nat-" + std::to_string(i)))
              .status == 201;
  }
  EXPECT_EQ(ok, 50);
  // But a script hammering one product is stopped (5/s, burst 10).
  const auto script = ReserveBurst({s.port()}, product, Token("script"), 30);
  EXPECT_GE(script.ok, 10);
  EXPECT_LE(script.ok, 10 + static_cast<int>(script.seconds * 5) + 1) << script.seconds << " s";
  EXPECT_GT(script.limited, 0);
}

TEST_F(Abuse, AddressLimitBelievesForwardedForOnlyFromTrustedProxies) {
  const std::map<std::string, std::string> by_address{{"RATE_LIMIT_RESERVE_BUYER", "off"},
                                                      {"RATE_LIMIT_RESERVE_ADDRESS", "1/m:3"}};
  auto behind_proxy = by_address;
  behind_proxy["TRUSTED_PROXIES"] = "10.9.0.0/16, 127.0.0.1";
  ServerProcess trusting(SharedServices(), behind_proxy);
  ServerProcess direct(SharedServices(), by_address);
  trusting.Start();
  direct.Start();
  const auto product = CreateProduct(trusting.port(), 1000, 10);
  HttpClient t(trusting.port()), d(direct.port());
  auto reserve = [&](HttpClient& c, const std::string& user, const std::string& xff) {
    Call call{"POST", "/purchase/reserve", ReserveBody(product), Token(user)};
    if (!xff.empty()) call.headers.push_back({"X-Forwarded-For", xff});
    return c.Send(call).status;
  };
  // Behind the trusted proxy (the test's 127.0.0.1): buyers count by their forwarded address;
  // an address the client put in front of the proxy's entry does not matter.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(reserve(t, "n" + std::to_string(i), "198.51.100.1, 203.0.113.7"), 201) << i;
  }
  EXPECT_EQ(reserve(t, "n3", "203.0.113.7"), 429);
  EXPECT_EQ(reserve(t, "n4", "1.1.1.1, 203.0.113.7, 10.9.1.1"), 429);  // through a second proxy
  EXPECT_EQ(reserve(t, "n5", "203.0.113.8"), 201);                     // another address
  EXPECT_EQ(stores_.Redis({"EXISTS", Stores::Prefix(product) + ":rl:reserve:a:203.0.113.7"}), "1");

  // Not a trusted peer: X-Forwarded-For is ignored, every request counts for 127.0.0.1.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(reserve(d, "m" + std::to_string(i), "192.0.2." + std::to_string(i)), 201) << i;
  }
  EXPECT_EQ(reserve(d, "m3", "192.0.2.99"), 429);
  EXPECT_EQ(stores_.Redis({"EXISTS", Stores::Prefix(product) + ":rl:reserve:a:192.0.2.0"}), "0");
  stores_.ExpectInvariants(product);
}

TEST_F(Abuse, ConfirmAndJoinAreLimitedPerBuyer) {
  // One a minute, two at once: no slow machine lets a third through.
  ServerProcess s(SharedServices(),
                  {{"RATE_LIMIT_CONFIRM_BUYER", "1/m:2"}, {"RATE_LIMIT_JOIN_BUYER", "1/m:2"}});
  s.Start();
  HttpClient c(s.port());
  const auto product = CreateProduct(s.port(), 10, 1);
  auto r = c.Post("/purchase/reserve", ReserveBody(product), Token("conf"));
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string rid(r.json.at("reservationId").as_string());
  const std::string body = json::serialize(json::object{{"reservationId", rid}});
  EXPECT_EQ(c.Post("/purchase/confirm", body, Token("conf")).status, 201);
  EXPECT_EQ(c.Post("/purchase/confirm", body, Token("conf")).status, 200);
  auto limited = c.Post("/purchase/confirm", body, Token("conf"));
  EXPECT_EQ(limited.status, 429) << limited.body;
  EXPECT_EQ(limited.ErrorCode(), "RATE_LIMITED");
  // A made-up id still costs nothing: no Redis call, not even a rate key.
  const std::string fake = json::serialize(json::object{
      {"reservationId", std::to_string(product) + "-0123456789abcdef0123456789abcdef"}});
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(c.Post("/purchase/confirm", fake, Token("faker")).status, 404);
  EXPECT_EQ(stores_.Redis({"EXISTS", Stores::Prefix(product) + ":rl:confirm:b:faker"}), "0");

  const auto line = CreateProduct(s.port(), 10, 1, json::object{{"enabled", true}});
  const std::string join = "/queue/" + std::to_string(line) + "/join";
  EXPECT_EQ(c.Post(join, "", Token("joiner")).status, 200);
  EXPECT_EQ(c.Post(join, "", Token("joiner")).status, 200);
  EXPECT_EQ(c.Post(join, "", Token("joiner")).ErrorCode(), "RATE_LIMITED");
  EXPECT_EQ(c.Post(join, "", Token("other")).status, 200);
}

class ProofOfWork : public Abuse {
 protected:
  static constexpr int kDifficulty = 10;
  Reply Join(HttpClient& c, std::int64_t product, const std::string& user,
             const std::string& challenge = "", const std::string& nonce = "") {
    Call call{"POST", "/queue/" + std::to_string(product) + "/join", "", Token(user)};
    if (!challenge.empty()) call.headers.push_back({"X-Pow-Challenge", challenge});
    if (!nonce.empty()) call.headers.push_back({"X-Pow-Nonce", nonce});
    return c.Send(call);
  }
  static std::string Challenge(const Reply& r) {
    return std::string(r.json.at("challenge").as_string());
  }
};

TEST_F(ProofOfWork, AcceptedWrongStaleAndReplayed) {
  ServerProcess s(SharedServices(), {{"POW_CHALLENGE_SECONDS", "5"}});
  ServerProcess other(SharedServices());
  s.Start();
  other.Start();
  HttpClient c(s.port()), o(other.port());
  const auto product = CreateProduct(
      s.port(), 10, 1, json::object{{"enabled", true}, {"powDifficulty", kDifficulty}});

  // No proof: 428 with a challenge.
  auto first = Join(c, product, "solver");
  ASSERT_EQ(first.status, 428) << first.body;
  EXPECT_EQ(first.ErrorCode(), "POW_REQUIRED");
  EXPECT_EQ(first.json.at("difficulty").as_int64(), kDifficulty);
  const std::string challenge = Challenge(first);
  const std::string nonce = abuse::SolvePow(challenge, kDifficulty);

  // Wrong: a nonce that does not solve it, or another buyer's challenge.
  std::uint64_t wrong = 0;
  while (abuse::PowSolves(challenge, std::to_string(wrong), kDifficulty)) ++wrong;
  EXPECT_EQ(Join(c, product, "solver", challenge, std::to_string(wrong)).ErrorCode(),
            "POW_INVALID");
  EXPECT_EQ(Join(c, product, "thief", challenge, nonce).ErrorCode(), "POW_INVALID");

  // Accepted: a ticket in line. Then replayed, to this server or another one: refused, with a
  // fresh challenge to solve.
  auto joined = Join(c, product, "solver", challenge, nonce);
  ASSERT_EQ(joined.status, 200) << joined.body;
  EXPECT_FALSE(joined.json.at("ticket").as_string().empty());
  auto replay = Join(o, product, "solver", challenge, nonce);
  EXPECT_EQ(replay.status, 428);
  EXPECT_EQ(replay.ErrorCode(), "POW_REPLAYED");
  EXPECT_NE(Challenge(replay), challenge);
  EXPECT_EQ(Join(c, product, "solver", challenge, nonce).ErrorCode(), "POW_REPLAYED");
  // One ticket was made (admitted since, perhaps: the line is open).
  EXPECT_EQ(stores_.Redis({"GET", Stores::Prefix(product) + ":q:seq"}), "1");

  // Stale: solved, but presented after the 5 s lifetime (by Redis time).
  auto fresh = Join(c, product, "late");
  const std::string late = Challenge(fresh);
  const std::string late_nonce = abuse::SolvePow(late, kDifficulty);
  std::this_thread::sleep_for(milliseconds(5200));
  auto stale = Join(c, product, "late", late, late_nonce);
  EXPECT_EQ(stale.status, 428);
  EXPECT_EQ(stale.ErrorCode(), "POW_EXPIRED");
  auto retry =
      Join(c, product, "late", Challenge(stale), abuse::SolvePow(Challenge(stale), kDifficulty));
  EXPECT_EQ(retry.status, 200) << retry.body;
  EXPECT_GE(MetricValue(s.port(), "ticketing_events_total{event=\"pow_refused\"}"), 6);
}

// A join refused for the line's sake (paused, full) does not use up the buyer's proof: the
// same proof joins once the line takes newcomers again.
TEST_F(ProofOfWork, AJoinRefusedForTheLineKeepsTheProof) {
  ServerProcess s(SharedServices(), {{"QUEUE_MAX_WAITING", "1"}});
  s.Start();
  HttpClient c(s.port());
  // Opens in an hour: the line holds its waiters (nobody is admitted) until then.
  const std::time_t start = std::time(nullptr) + 3600;
  char iso[32];
  std::strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&start));
  const auto product = CreateProduct(
      s.port(), 10, 1, json::object{{"enabled", true}, {"powDifficulty", kDifficulty}}, iso);
  const std::string path = "/admin/products/" + std::to_string(product);

  auto asked = Join(c, product, "patient");
  ASSERT_EQ(asked.status, 428) << asked.body;
  const std::string challenge = Challenge(asked);
  const std::string nonce = abuse::SolvePow(challenge, kDifficulty);
  ASSERT_EQ(c.Post(path + "/pause", "", Token("ops", true)).status, 200);
  EXPECT_EQ(Join(c, product, "patient", challenge, nonce).ErrorCode(), "SALE_PAUSED");
  ASSERT_EQ(c.Post(path + "/resume", "", Token("ops", true)).status, 200);
  auto joined = Join(c, product, "patient", challenge, nonce);
  ASSERT_EQ(joined.status, 200) << joined.body;

  // The line (QUEUE_MAX_WAITING 1) is full now: the next buyer's proof survives that too.
  auto next = Join(c, product, "next");
  const std::string next_challenge = Challenge(next);
  const std::string next_nonce = abuse::SolvePow(next_challenge, kDifficulty);
  EXPECT_EQ(Join(c, product, "next", next_challenge, next_nonce).ErrorCode(), "QUEUE_FULL");
  stores_.Redis({"ZREM", Stores::Prefix(product) + ":q:line",
                 std::string(joined.json.at("ticket").as_string())});
  auto later = Join(c, product, "next", next_challenge, next_nonce);
  EXPECT_EQ(later.status, 200) << later.body;
  // Used once it joined: a replay is refused as before.
  EXPECT_EQ(Join(c, product, "next", next_challenge, next_nonce).ErrorCode(), "POW_REPLAYED");
}

TEST_F(ProofOfWork, DifficultyIsPersistedAndRestoredAfterRedisLoss) {
  ServerProcess s(SharedServices());
  s.Start();
  HttpClient c(s.port());
  const auto product = CreateProduct(s.port(), 10, 1, json::object{{"enabled", true}});
  EXPECT_EQ(Join(c, product, "before").status, 200);  // off by default
  auto patched = c.Send({"PATCH", "/admin/products/" + std::to_string(product),
                         R"({"queue":{"powDifficulty":12}})", Token("ops", true)});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json.at("queue").at("powDifficulty").as_int64(), 12);
  EXPECT_EQ(Join(c, product, "after").ErrorCode(), "POW_REQUIRED");
  EXPECT_NE(stores_.Sql("SELECT queue_json FROM products WHERE id=" + std::to_string(product))
                .find("\"powDifficulty\":12"),
            std::string::npos);
  auto bad = c.Send({"PATCH", "/admin/products/" + std::to_string(product),
                     R"({"queue":{"powDifficulty":33}})", Token("ops", true)});
  EXPECT_EQ(bad.status, 400) << bad.body;

  ASSERT_EQ(stores_.Redis({"DEL", Stores::Prefix(product) + ":info"}), "1");
  auto again = c.Get("/products/" + std::to_string(product));  // rebuilt from the database
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json.at("queue").at("powDifficulty").as_int64(), 12);
  EXPECT_EQ(stores_.Redis({"HGET", Stores::Prefix(product) + ":info", "qpow"}), "12");
  auto required = Join(c, product, "restored");
  EXPECT_EQ(required.ErrorCode(), "POW_REQUIRED");
  EXPECT_EQ(required.json.at("difficulty").as_int64(), 12);
}

TEST_F(Abuse, AdminListenSeparatesTheAdminRoutes) {
  const auto admin_port = FreePort();
  ServerProcess s(SharedServices(), {{"ADMIN_LISTEN", "127.0.0.1:" + std::to_string(admin_port)}});
  s.Start();
  HttpClient pub(s.port()), admin(admin_port);
  const std::string body = R"({"name":"Split","price":1,"stock":5})";
  auto refused = pub.Post("/admin/products", body, Token("ops", true));
  EXPECT_EQ(refused.status, 404) << refused.body;
  EXPECT_EQ(refused.ErrorCode(), "NOT_FOUND");
  EXPECT_EQ(pub.Post("/admin/products", body, "").status, 404);  // nothing to learn without a token
  // Spellings the router reads as the same route are refused too.
  for (const char* target : {"//admin/products", "admin/products", "/admin//products?x=1"}) {
    const std::string raw = RawPost(s.port(), target, body, Token("ops", true));
    EXPECT_NE(raw.find("HTTP/1.1 404"), std::string::npos) << target << "\n" << raw;
  }
  auto created = admin.Post("/admin/products", body, Token("ops", true));
  ASSERT_EQ(created.status, 201) << created.body;
  const auto product = created.json.at("id").as_int64();
  EXPECT_EQ(admin.Post("/admin/products", body, Token("buyer")).status, 403);
  // The buyer routes stay public only.
  EXPECT_EQ(pub.Post("/purchase/reserve", ReserveBody(product), Token("b1")).status, 201);
  EXPECT_EQ(admin.Post("/purchase/reserve", ReserveBody(product), Token("b2")).status, 404);
  EXPECT_EQ(admin.Get("/products/" + std::to_string(product)).status, 404);
  for (auto* c : {&pub, &admin}) {
    EXPECT_EQ(c->Get("/health").status, 200);
    EXPECT_EQ(c->Get("/metrics").status, 200);
  }
}

}  // namespace
}  // namespace ticketing::testing
