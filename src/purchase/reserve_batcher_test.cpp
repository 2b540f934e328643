// Batched reserves (reserve_batcher.hpp, lua/reserve_batch.lua) against a real Redis: a batch
// answers each reserve as its own reserve.lua call would have and leaves the same state behind;
// one reserve's failure stays its own; the batcher sends a reserve at once while few calls are
// in flight and gathers the rest until one is answered, splits at its bound, and withdraws a
// batch only when every reserve in it was withdrawn.
#include "purchase/reserve_batcher.hpp"

#include "purchase/keys.hpp"
#include "purchase/scripts.hpp"
#include "redis/blocking_client.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

namespace ticketing::purchase {
namespace {

using namespace std::chrono_literals;
using testing::SharedServices;
using testing::Stores;

redis::BlockingConnection Blocking() {
  return redis::BlockingConnection(SharedServices().Get("REDIS_HOST"),
                                   static_cast<std::uint16_t>(SharedServices().Port("REDIS_PORT")),
                                   std::chrono::seconds(10));
}

// A product in Redis alone: `available` units, 2 per buyer, holds of 300 s.
void PutProduct(Stores& s, std::int64_t product, int available) {
  const auto prefix = keys::Prefix(product);
  s.Redis({"DEL", keys::Info(prefix), keys::Available(prefix), keys::Expiry(prefix),
           prefix + ":held"});
  s.Redis({"HSET", keys::Info(prefix), "name", "x", "price", "1", "limit", "2", "total",
           std::to_string(available)});
  s.Redis({"SET", keys::Available(prefix), std::to_string(available)});
}

// One reserve as the server makes it (reserve.lua's keys and arguments): `user` asks for one
// unit as `<product>-<rid>`, with one rate limit (key, interval, tolerance) if `limited`.
struct Ask {
  std::string user, rid;
  bool limited = false;
  std::string idem = {};    // an idempotency key
  std::string ticket = {};  // a waiting-room admission
};
std::pair<std::vector<std::string>, std::vector<std::string>> Call(std::int64_t product,
                                                                   const Ask& ask) {
  const auto prefix = keys::Prefix(product);
  const auto rid = std::to_string(product) + "-" + ask.rid;
  std::vector<std::string> k{keys::Info(prefix), keys::Available(prefix), keys::Expiry(prefix),
                             keys::User(prefix, ask.user), keys::Hold(prefix, rid)};
  std::vector<std::string> a{ask.user, "1", rid, "300", prefix, ask.ticket, ask.idem};
  if (ask.limited) {
    k.push_back(prefix + ":rl:b:" + ask.user);
    a.insert(a.end(), {"1", "200000", "0"});
  }
  return {k, a};
}

// `product` with `available` units and none of the asks' keys (the buyer's count and holds,
// the hold, the idempotency key).
void PutProductFor(Stores& s, std::int64_t product, int available, const std::vector<Ask>& asks) {
  PutProduct(s, product, available);
  const auto prefix = keys::Prefix(product);
  for (const auto& a : asks) {
    s.Redis({"DEL", keys::User(prefix, a.user), prefix + ":uh:" + a.user,
             keys::Hold(prefix, std::to_string(product) + "-" + a.rid),
             prefix + ":k:" + a.user + ":" + a.idem});
  }
}

// What a reply says, without its times: the tag and the counts.
std::string Gist(const redis::Value& v) {
  if (v.IsError()) return "error";
  if (v.elements.empty()) return "?";
  const auto& tag = v.elements[0].str;
  if (tag == "OK") return "OK left " + std::to_string(v.elements[2].integer);
  if (tag == "SOLD_OUT") return "SOLD_OUT " + std::to_string(v.elements[1].integer);
  if (tag == "REPEATED") {
    // The first hold's id, without its product: "<product>-<rid>".
    const auto& rid = v.elements[1].str;
    return "REPEATED " + rid.substr(rid.find('-') + 1) + " " + v.elements[3].str;
  }
  if (tag == "LIMIT_REACHED") {
    return "LIMIT_REACHED " + std::to_string(v.elements[1].integer) + "/" +
           std::to_string(v.elements[2].integer);
  }
  return tag;
}

// The state the reserves leave behind, the same for two products that saw the same reserves.
std::string State(Stores& s, std::int64_t product, const std::vector<Ask>& asks) {
  const auto prefix = keys::Prefix(product);
  std::string out = "avail " + s.Redis({"GET", keys::Available(prefix)}) + " held " +
                    s.Redis({"GET", prefix + ":held"}) + " live " +
                    s.Redis({"ZCARD", keys::Expiry(prefix)});
  // Whether a key lasts: the buyer's keys are kept a day past their hold, never forever.
  const auto kept = [&](const std::string& key) {
    const auto ttl = std::stoll(s.Redis({"PTTL", key}));
    return ttl > 0 ? " (expires)" : ttl == -1 ? " (kept forever)" : "";
  };
  for (const auto& ask : asks) {
    const auto ukey = keys::User(prefix, ask.user), uhkey = prefix + ":uh:" + ask.user;
    out += " | " + ask.user + ": " + s.Redis({"GET", ukey}) + kept(ukey) + " holds " +
           s.Redis({"SCARD", uhkey}) + kept(uhkey) + ", " + ask.rid + " " +
           s.Redis({"HGET", keys::Hold(prefix, std::to_string(product) + "-" + ask.rid), "state"});
  }
  return out;
}

// A batch's answers, each as Gist.
std::vector<std::string> Gists(const redis::Value& reply) {
  if (reply.IsError()) return {"error: " + reply.str};
  std::vector<std::string> out;
  for (const auto& one : reply.elements) out.push_back(Gist(one));
  return out;
}

// Each reserve as its own reserve.lua call, in order: their answers.
std::vector<std::string> OneByOne(redis::BlockingConnection& r, std::int64_t product,
                                  const std::vector<Ask>& asks) {
  std::vector<std::string> answers;
  for (const auto& a : asks) {
    auto [k, args] = Call(product, a);
    answers.push_back(Gist(r.Eval(Scripts::Get().reserve, k, args)));
  }
  return answers;
}

// The reserves as one reserve_batch.lua call, as the batcher makes it: its reply.
redis::Value AsOneBatch(redis::BlockingConnection& r, std::int64_t product,
                        const std::vector<Ask>& asks) {
  std::vector<std::vector<std::string>> ks, as;
  for (const auto& a : asks) {
    auto [k, args] = Call(product, a);
    ks.push_back(std::move(k));
    as.push_back(std::move(args));
  }
  std::vector<std::vector<std::string>*> pk, pa;
  for (std::size_t i = 0; i < ks.size(); ++i) {
    pk.push_back(&ks[i]);
    pa.push_back(&as[i]);
  }
  const auto call = ReserveBatcher::BatchCall(pk, pa);
  return r.Eval(Scripts::Get().reserve_batch, call.keys, call.args);
}

TEST(ReserveBatchTest, ABatchAnswersEachReserveAsItsOwnCallWould) {
  Stores s(SharedServices());
  auto r = Blocking();
  const std::int64_t one_by_one = 9300001, batched = 9300002;
  // 5 units, 2 per buyer: a second unit, a third refused by the limit, an id already taken,
  // a rate-limited buyer, a retry with the same idempotency key, the last unit, then none left.
  const std::vector<Ask> asks{{"u1", "r1"},       {"u2", "r2"},
                              {"u1", "r3"},       {"u1", "r4"},
                              {"u3", "r2"},       {"u5", "r5", true},
                              {"u7", "r8", false, "k1"}, {"u7", "r9", false, "k1"},
                              {"u4", "r6"},       {"u6", "r7"}};
  for (auto p : {one_by_one, batched}) {
    PutProductFor(s, p, 5, asks);
    const auto prefix = keys::Prefix(p);
    // u5 is over their rate: their next reserve is due in a minute.
    const auto now_us = std::stoll(s.Redis(
        {"EVAL", "local t = redis.call('TIME') return t[1] * 1000000 + t[2]", "0"}));
    s.Redis({"SET", prefix + ":rl:b:u5", std::to_string(now_us + 60'000'000), "PX", "60000"});
  }
  const auto expected = OneByOne(r, one_by_one, asks);
  ASSERT_EQ(expected, (std::vector<std::string>{"OK left 4", "OK left 3", "OK left 2",
                                                "LIMIT_REACHED 2/2", "DUPLICATE", "RATE_LIMITED",
                                                "OK left 1", "REPEATED r8 held", "OK left 0",
                                                "SOLD_OUT 0"}))
      << "reserve.lua answers otherwise; the sequence no longer tests what it says";

  EXPECT_EQ(Gists(AsOneBatch(r, batched, asks)), expected);
  EXPECT_EQ(State(s, batched, asks), State(s, one_by_one, asks));
}

TEST(ReserveBatchTest, OneReserveFailingLeavesTheOthersAnswered) {
  Stores s(SharedServices());
  auto r = Blocking();
  const std::int64_t product = 9300003;
  const std::vector<Ask> asks{{"f1", "a"}, {"f2", "b"}, {"f3", "c"}};
  PutProductFor(s, product, 5, asks);
  const auto prefix = keys::Prefix(product);
  // f2's count of units is a hash, not a number: its reserve fails inside Redis.
  s.Redis({"HSET", keys::User(prefix, "f2"), "not", "a-number"});
  const auto reply = AsOneBatch(r, product, asks);
  ASSERT_EQ(reply.elements.size(), 3u) << reply.str;
  EXPECT_EQ(Gist(reply.elements[0]), "OK left 4");
  EXPECT_TRUE(reply.elements[1].IsError()) << Gist(reply.elements[1]);
  EXPECT_EQ(Gist(reply.elements[2]), "OK left 3");
  EXPECT_EQ(s.Redis({"GET", keys::Available(prefix)}), "3");
  EXPECT_EQ(s.Redis({"GET", prefix + ":held"}), "2");
}

// On a waiting-room product an admission is good for one hold: used twice in one batch, it
// makes one hold, as two calls would, and its buyer is active until that hold ends.
TEST(ReserveBatchTest, AnAdmissionUsedTwiceInOneBatchMakesOneHold) {
  Stores s(SharedServices());
  auto r = Blocking();
  const std::int64_t one_by_one = 9300005, batched = 9300006;
  const std::vector<Ask> asks{{"q1", "a", false, "", "t1"},
                              {"q1", "b", false, "", "t1"},
                              {"q2", "c", false, "", "t2"}};
  for (auto p : {one_by_one, batched}) {
    PutProductFor(s, p, 5, asks);
    const auto prefix = keys::Prefix(p);
    s.Redis({"HSET", keys::Info(prefix), "q", "1"});
    s.Redis({"DEL", prefix + ":q:active"});
    const auto now_ms = std::stoll(s.Redis(
        {"EVAL", "local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000)",
         "0"}));
    for (const auto& a : asks) {
      s.Redis({"HSET", prefix + ":q:t:" + a.ticket, "user", a.user, "state", "admitted", "adm",
               std::to_string(now_ms + 600'000)});
    }
  }
  const auto expected = OneByOne(r, one_by_one, asks);
  ASSERT_EQ(expected, (std::vector<std::string>{"OK left 4", "NOT_ADMITTED", "OK left 3"}))
      << "reserve.lua answers otherwise; the sequence no longer tests what it says";
  EXPECT_EQ(Gists(AsOneBatch(r, batched, asks)), expected);
  EXPECT_EQ(State(s, batched, asks), State(s, one_by_one, asks));
  for (auto p : {one_by_one, batched}) {
    const auto prefix = keys::Prefix(p);
    EXPECT_EQ(s.Redis({"ZCARD", prefix + ":q:active"}), "2") << p;
    EXPECT_EQ(s.Redis({"HGET", prefix + ":q:t:t1", "state"}), "used") << p;
    EXPECT_EQ(s.Redis({"HGET", prefix + ":q:t:t1", "rid"}), std::to_string(p) + "-a") << p;
  }
}

// A hold that fails to be written after the call took its units (reserve_finish): its reserve
// and a retry of it in the same call (same idempotency key) get the error, the others their
// holds, and its unit stays taken (lost until the next rebuild, never sold twice).
TEST(ReserveBatchTest, AHoldThatFailsAfterItsUnitsWereTakenIsAnErrorAndSellsNothingTwice) {
  Stores s(SharedServices());
  auto r = Blocking();
  const std::int64_t product = 9300004;
  const std::vector<Ask> asks{
      {"w1", "a"}, {"w2", "b", false, "k"}, {"w2", "c", false, "k"}, {"w3", "d"}};
  PutProductFor(s, product, 5, asks);
  const auto prefix = keys::Prefix(product);
  // w2's list of holds is a number, not a set: only the write of w2's hold fails.
  s.Redis({"SET", prefix + ":uh:w2", "7"});
  const auto reply = AsOneBatch(r, product, asks);
  ASSERT_EQ(reply.elements.size(), 4u) << reply.str;
  EXPECT_EQ(Gist(reply.elements[0]), "OK left 4");
  EXPECT_TRUE(reply.elements[1].IsError()) << Gist(reply.elements[1]);
  EXPECT_TRUE(reply.elements[2].IsError()) << Gist(reply.elements[2]);
  EXPECT_EQ(Gist(reply.elements[3]), "OK left 2");
  // Three units taken, two holds live and due to expire.
  EXPECT_EQ(s.Redis({"GET", keys::Available(prefix)}), "2");
  EXPECT_EQ(s.Redis({"ZCARD", keys::Expiry(prefix)}), "2");
  EXPECT_EQ(s.Redis({"HGET", keys::Hold(prefix, std::to_string(product) + "-d"), "state"}),
            "held");
}

// The batcher on a real redis::Client: `n` reserves of one product started in one turn of the
// loop, each by a new buyer.
struct Run {
  std::vector<std::string> answers;  // Gist, or the exception's kind
  ReserveBatcher::Stats stats;
};
Run ReserveAtOnce(std::int64_t product, int n, std::size_t max_batch,
                  const std::function<bool(int)>& still_wanted = nullptr) {
  net::io_context ctx;
  redis::Options ro;
  ro.host = SharedServices().Get("REDIS_HOST");
  ro.port = static_cast<std::uint16_t>(SharedServices().Port("REDIS_PORT"));
  auto client = std::make_shared<redis::Client>(ctx.get_executor(), redis::ClientOptions{ro});
  client->Start();
  for (int i = 0; i < 200 && !client->Connected(); ++i) ctx.run_for(10ms);
  EXPECT_TRUE(client->Connected());
  ReserveBatcher batcher(*client, max_batch);
  Run run;
  run.answers.resize(static_cast<std::size_t>(n));
  struct Want {
    const std::function<bool(int)>* fn;
    int i;
  };
  std::vector<Want> wants;
  wants.reserve(static_cast<std::size_t>(n));
  int done = 0;
  for (int i = 0; i < n; ++i) {
    wants.push_back({&still_wanted, i});
    redis::StillWanted wanted;
    if (still_wanted) {
      wanted = {[](const void* c) {
                  const auto* w = static_cast<const Want*>(c);
                  return (*w->fn)(w->i);
                },
                &wants.back()};
    }
    auto [k, a] = Call(product, {"b" + std::to_string(i), "x" + std::to_string(i)});
    net::co_spawn(
        ctx,
        [&, i, k = std::move(k), a = std::move(a), wanted]() mutable -> net::awaitable<void> {
          try {
            auto v = co_await batcher.Reserve(product, std::move(k), std::move(a), wanted);
            run.answers[static_cast<std::size_t>(i)] = Gist(v);
          } catch (const redis::Withdrawn&) {
            run.answers[static_cast<std::size_t>(i)] = "withdrawn";
          } catch (const std::exception& e) {
            run.answers[static_cast<std::size_t>(i)] = std::string("error: ") + e.what();
          }
          ++done;
        },
        net::detached);
  }
  for (int i = 0; i < 1000 && done < n; ++i) ctx.run_for(10ms);
  EXPECT_EQ(done, n);
  run.stats = batcher.GetStats();
  client->Stop();
  ctx.run_for(50ms);
  return run;
}

void Fresh(Stores& s, std::int64_t product, int available, int buyers) {
  PutProduct(s, product, available);
  const auto prefix = keys::Prefix(product);
  for (int i = 0; i < buyers; ++i) {
    const auto user = "b" + std::to_string(i);
    s.Redis({"DEL", keys::User(prefix, user), prefix + ":uh:" + user,
             keys::Hold(prefix, std::to_string(product) + "-x" + std::to_string(i))});
  }
}

TEST(ReserveBatcherTest, ReservesOfOneTurnGoAsOneCallEachWithItsOwnAnswer) {
  Stores s(SharedServices());
  const std::int64_t product = 9300010;
  Fresh(s, product, 10, 20);
  const auto run = ReserveAtOnce(product, 20, 32);
  EXPECT_EQ(run.stats.calls, 3u) << "the first two alone, the other 18 together once one of "
                                    "those is answered";
  EXPECT_EQ(run.stats.reserves, 20u);
  int ok = 0, sold_out = 0;
  for (const auto& a : run.answers) {
    ok += a.rfind("OK", 0) == 0;
    sold_out += a == "SOLD_OUT 0";
  }
  EXPECT_EQ(ok, 10);
  EXPECT_EQ(sold_out, 10);
  EXPECT_EQ(s.Redis({"GET", keys::Available(keys::Prefix(product))}), "0");
  EXPECT_EQ(s.Redis({"ZCARD", keys::Expiry(keys::Prefix(product))}), "10");
}

TEST(ReserveBatcherTest, ABatchIsNoLargerThanItsBound) {
  Stores s(SharedServices());
  const std::int64_t product = 9300011;
  Fresh(s, product, 100, 20);
  const auto run = ReserveAtOnce(product, 20, 8);
  EXPECT_EQ(run.stats.calls, 5u) << "1 + 1 alone, then 8 + 8 + 2";
  for (const auto& a : run.answers) EXPECT_EQ(a.rfind("OK", 0), 0u) << a;
  Fresh(s, product, 100, 5);
  const auto off = ReserveAtOnce(product, 5, 1);
  EXPECT_EQ(off.stats.calls, 5u) << "a bound of 1: one call per reserve";
}

TEST(ReserveBatcherTest, ABatchIsWithdrawnOnlyIfEveryReserveInItIs) {
  Stores s(SharedServices());
  const std::int64_t product = 9300012;
  Fresh(s, product, 10, 4);
  const auto none = ReserveAtOnce(product, 4, 32, [](int) { return false; });
  for (const auto& a : none.answers) EXPECT_EQ(a, "withdrawn");
  EXPECT_EQ(s.Redis({"GET", keys::Available(keys::Prefix(product))}), "10");
  // The first two go alone (and are withdrawn); of the batch of the other three, one is still
  // wanted: the batch runs, and Redis answers every reserve in it.
  Fresh(s, product, 10, 5);
  const auto one = ReserveAtOnce(product, 5, 32, [](int i) { return i == 3; });
  EXPECT_EQ(one.stats.calls, 3u);
  EXPECT_EQ(one.answers[0], "withdrawn");
  EXPECT_EQ(one.answers[1], "withdrawn");
  for (std::size_t i = 2; i < one.answers.size(); ++i) {
    EXPECT_EQ(one.answers[i].rfind("OK", 0), 0u) << i << ": " << one.answers[i];
  }
  EXPECT_EQ(s.Redis({"GET", keys::Available(keys::Prefix(product))}), "7");
}

}  // namespace
}  // namespace ticketing::purchase
