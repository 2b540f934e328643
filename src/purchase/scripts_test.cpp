// The purchase scripts run on a real Redis, driven step by step where a whole server could not
// be stopped at the moment that matters.
#include "purchase/scripts.hpp"

#include "purchase/keys.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"

#include <gtest/gtest.h>

namespace ticketing::purchase {
namespace {

using testing::SharedServices;
using testing::Stores;

std::string Eval(Stores& s, const redis::Script& script, const std::vector<std::string>& keys,
                 const std::vector<std::string>& args) {
  std::vector<std::string> cmd{"EVAL", script.source, std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  return s.Redis(cmd);
}

// A product in Redis alone (no database row): its info hash (4 units per buyer) and its free
// units.
void PutProduct(Stores& s, const std::string& prefix, int total, int available) {
  s.Redis({"HSET", keys::Info(prefix), "name", "x", "price", "1", "limit", "4", "total",
           std::to_string(total)});
  s.Redis({"SET", keys::Available(prefix), std::to_string(available)});
}

// reserve.lua: `user` holds 1 unit as `rid` for `hold_seconds`, no admission or idempotency key;
// `limits` (keys, then the argument count and arguments) are appended as the server does.
std::string Reserve(Stores& s, const std::string& prefix, const std::string& user,
                    const std::string& rid, const std::string& hold_seconds = "300",
                    const std::vector<std::string>& limit_keys = {},
                    const std::vector<std::string>& limit_args = {}) {
  std::vector<std::string> k{keys::Info(prefix), keys::Available(prefix), keys::Expiry(prefix),
                             keys::User(prefix, user), keys::Hold(prefix, rid)};
  std::vector<std::string> a{user, "1", rid, hold_seconds, prefix, "", ""};
  k.insert(k.end(), limit_keys.begin(), limit_keys.end());
  a.insert(a.end(), limit_args.begin(), limit_args.end());
  return Eval(s, Scripts::Get().reserve, k, a);
}

// Issue 7, defect 5: a confirm commits, then a stock sync runs (available := database stock -
// live holds, already without this order's units), then the confirm's finish finds its hold
// not confirming (Redis came back from before the confirm: here 'expired'). The finish used to
// take the units from available once more: sold once in the database, twice in Redis.
TEST(ScriptsTest, FinishAfterASyncDoesNotTakeTheUnitsTwice) {
  Stores s(SharedServices());
  const std::int64_t product = 9200001;
  const auto prefix = keys::Prefix(product);
  const std::string rid = "9200001-late";
  const auto hold = keys::Hold(prefix, rid);
  // Database stock after the commit: 4 of 5 (the order took 1); the sync set available to it.
  s.Redis({"SET", keys::Available(prefix), "4"});
  s.Redis({"SET", prefix + ":held", "0"});
  s.Redis({"HSET", hold, "user", "late", "qty", "1", "state", "expired", "exp", "1", "ended", "1"});
  auto out = Eval(s, Scripts::Get().confirm_finish, {hold}, {prefix, rid, "77", "1000"});
  EXPECT_EQ(out, "RETAKEN");
  EXPECT_EQ(s.HoldState(rid), "confirmed");
  EXPECT_EQ(s.Available(product), 4) << "the finish took the order's units from Redis again";
  EXPECT_EQ(s.Redis({"GET", prefix + ":u:late"}), "1") << "the buyer's purchase is not counted";
}

// Issue 8: the per-buyer rate limit is checked after the stock, so a stampede on a sold-out
// product writes no key per request (and is answered SOLD_OUT, not RATE_LIMITED); a reserve
// that could take units is counted.
TEST(ScriptsTest, ASoldOutReserveWritesNoRateLimitKey) {
  Stores s(SharedServices());
  const std::int64_t product = 9200002;
  const auto prefix = keys::Prefix(product);
  PutProduct(s, prefix, 1, 0);
  const std::string rl = prefix + ":rl:b:stampede";
  auto reserve = [&](const std::string& rid) {
    return Reserve(s, prefix, "stampede", rid, "300", {rl}, {"1", "200000", "1800000"});
  };
  for (int i = 0; i < 20; ++i) {
    const auto out = reserve(std::to_string(product) + "-so" + std::to_string(i));
    EXPECT_NE(out.find("SOLD_OUT"), std::string::npos) << out;
  }
  EXPECT_EQ(s.Redis({"EXISTS", rl}), "0") << "a sold-out refusal wrote the rate-limit key";
  s.Redis({"SET", keys::Available(prefix), "1"});
  const auto ok = reserve(std::to_string(product) + "-ok");
  EXPECT_NE(ok.find("OK"), std::string::npos) << ok;
  EXPECT_EQ(s.Redis({"EXISTS", rl}), "1") << "a reserve that took units is counted";
}

// Issue 8: a waiting-room product's reserve runs no rate limit: the buyer's admission is good
// for one hold, which caps them harder than any rate, and the limit's key cost Redis a sixth
// more per hold in exactly the sales where a crowd arrives at once. The limit is still handed
// over (the server does not know which products have a line) and ignored there.
TEST(ScriptsTest, AWaitingRoomReserveRunsNoRateLimit) {
  Stores s(SharedServices());
  const std::int64_t product = 9200060;
  const auto prefix = keys::Prefix(product);
  PutProduct(s, prefix, 5, 5);
  s.Redis({"HSET", keys::Info(prefix), "q", "1", "qrate", "100", "qmax", "100", "qttl", "60"});
  const std::string rl = prefix + ":rl:b:queued";
  s.Redis({"DEL", rl});
  s.Redis({"HSET", prefix + ":q:t:tq1", "user", "queued", "state", "admitted", "adm",
           "99999999999999"});
  int n = 0;
  const auto reserve = [&](const std::string& user, const std::string& ticket,
                           const std::vector<std::string>& limit_keys) {
    const std::string rid = std::to_string(product) + "-" + user + "-" + std::to_string(++n);
    std::vector<std::string> k{keys::Info(prefix), keys::Available(prefix), keys::Expiry(prefix),
                               keys::User(prefix, user), keys::Hold(prefix, rid)};
    std::vector<std::string> a{user, "1", rid, "300", prefix, ticket, ""};
    k.insert(k.end(), limit_keys.begin(), limit_keys.end());
    if (!limit_keys.empty()) a.insert(a.end(), {"1", "200000", "0"});  // no burst at all
    return Eval(s, Scripts::Get().reserve, k, a);
  };
  const auto out = reserve("queued", "tq1", {rl});
  EXPECT_EQ(out.rfind("OK", 0), 0u) << out;
  EXPECT_EQ(s.Redis({"EXISTS", rl}), "0") << "a waiting-room reserve ran the rate limit";
  EXPECT_EQ(s.Redis({"HGET", prefix + ":q:t:tq1", "state"}), "used");
  // Its admission, not a rate, is what stops a second hold.
  EXPECT_EQ(reserve("queued", "tq1", {rl}).rfind("NOT_ADMITTED", 0), 0u);
}

// Issue 8: the reserve keeps the buyer's keys (units counted, live holds) a day past the
// buyer's latest hold with one PEXPIREAT each for a new buyer, instead of reading each expiry
// first. A shorter hold later never cuts that day short, and a count kept without an expiry
// gets one. (The live-holds set used to be pushed a further day out by every reserve.)
TEST(ScriptsTest, ABuyersKeysLiveADayPastTheirLatestHold) {
  Stores s(SharedServices());
  const std::int64_t product = 9200003;
  const auto prefix = keys::Prefix(product);
  PutProduct(s, prefix, 9, 9);
  const auto counted = keys::User(prefix, "keeper");
  const auto live = prefix + ":uh:keeper";
  s.Redis({"SET", counted, "1"});  // counted without an expiry, as a rebuild may leave it
  auto reserve = [&](const std::string& rid, const std::string& hold_seconds) {
    return Reserve(s, prefix, "keeper", rid, hold_seconds);
  };
  const auto expires_at = [&](const std::string& key) {
    return std::stoll(s.Redis({"PEXPIRETIME", key}));
  };
  const long long day = 86400000;
  const std::string first = std::to_string(product) + "-long";
  ASSERT_NE(reserve(first, "600").find("OK"), std::string::npos);
  const long long end = std::stoll(s.Redis({"HGET", keys::Hold(prefix, first), "exp"}));
  EXPECT_EQ(expires_at(counted), end + day);
  EXPECT_EQ(expires_at(live), end + day);
  ASSERT_NE(reserve(std::to_string(product) + "-short", "60").find("OK"), std::string::npos);
  EXPECT_EQ(expires_at(counted), end + day) << "a shorter hold cut the buyer's count short";
  EXPECT_EQ(expires_at(live), end + day) << "the live holds' day moved";
  EXPECT_EQ(s.Redis({"GET", counted}), "3");
  EXPECT_EQ(s.Redis({"SCARD", live}), "2");
}


// Issue 8: the admin figures (GET /admin/products/{id} and the dashboard feed, which every
// server samples every few seconds even unwatched) used to walk every live hold: at 300,000
// holds one call held Redis for seconds (BUSY), stalling every sale on it. They now read the
// held counter and the short list of confirming holds, whatever the number of live holds.
TEST(ScriptsTest, AdminFiguresReadTheCountersNotEveryLiveHold) {
  Stores s(SharedServices());
  const std::int64_t product = 9200004;
  const auto prefix = keys::Prefix(product);
  PutProduct(s, prefix, 2000, 2000);
  const int holds = 1000;
  for (int i = 0; i < holds; ++i) {
    const std::string user = "fig" + std::to_string(i);
    const auto out = Reserve(s, prefix, user, std::to_string(product) + "-" + user);
    ASSERT_EQ(out.substr(0, 2), "OK") << out;
  }
  const auto figures = [&] {
    return Eval(s, Scripts::Get().admin_figures,
                {keys::Info(prefix), keys::Available(prefix)}, {prefix});
  };
  // One hold starts its confirm.
  const std::string rid = std::to_string(product) + "-fig7";
  const auto hkey = keys::Hold(prefix, rid);
  ASSERT_EQ(Eval(s, Scripts::Get().confirm_begin, {hkey}, {prefix, rid, "fig7", "30000", "lid-1"})
                .substr(0, 2),
            "OK");
  s.Redis({"CONFIG", "RESETSTAT"});
  EXPECT_EQ(figures(), "1 1000 999 1 0 0 0");  // in Redis, available, held, confirming, ...
  const long long lookups = s.KeyLookups();
  EXPECT_GE(lookups, 1);
  EXPECT_LT(lookups, 20) << "the figures read " << lookups << " keys for " << holds << " holds";
  // The confirm fails and the hold is held again: off the confirming list.
  ASSERT_EQ(Eval(s, Scripts::Get().confirm_abort, {hkey}, {prefix, rid, "restore", "lid-1"}), "OK");
  EXPECT_EQ(figures(), "1 1000 1000 0 0 0 0");
  EXPECT_EQ(s.Redis({"EXISTS", prefix + ":confirming"}), "0");
  // A confirm that commits leaves the list too.
  ASSERT_EQ(Eval(s, Scripts::Get().confirm_begin, {hkey}, {prefix, rid, "fig7", "30000", "lid-2"})
                .substr(0, 2),
            "OK");
  ASSERT_EQ(Eval(s, Scripts::Get().confirm_finish, {hkey}, {prefix, rid, "77", "100"}), "OK");
  EXPECT_EQ(figures(), "1 1000 999 0 0 0 0");
  EXPECT_EQ(s.Redis({"EXISTS", prefix + ":confirming"}), "0");
}

// A pause stops the clock of the waiting room's admissions (issue 9 left them running out
// during a pause). The resume moves every active entry that was live at the pause's start on by
// the pause's length, a page at a time from the latest down, entries sharing a score across a
// page's end included, and the admission end of each ticket not yet used; nothing that had
// ended before the pause moves, and the sale stays paused until the last page.
TEST(ScriptsTest, AResumeMovesEveryAdmissionLiveAtThePauseOnByItsLength) {
  Stores s(SharedServices());
  const std::int64_t product = 9200050;
  const auto prefix = keys::Prefix(product);
  const auto info = keys::Info(prefix);
  for (const auto& k : {info, prefix + ":q:active"}) s.Redis({"DEL", k});
  PutProduct(s, prefix, 10, 10);
  const long long now = std::stoll(s.Redis({"EVAL", "return redis.call('TIME')[1]", "0"})) * 1000;
  const long long paused_at = now - 10'000;  // a pause of 10 s so far
  // 1,050 buyers: even ones admitted (unused), odd ones holding units; their ends fall on 7
  // scores after the pause's start, so pages of 100 end inside groups of equal scores. One
  // buyer's admission ended before the pause.
  const char* setup = R"(
    local prefix, paused_at, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
    for i = 0, n - 1 do
      local user, ticket = 'b' .. i, 't' .. i
      local score = paused_at + 1 + (i % 7) * 1000
      redis.call('ZADD', prefix .. ':q:active', score, user)
      redis.call('SET', prefix .. ':q:u:' .. user, ticket)
      local state = (i % 2 == 0) and 'admitted' or 'used'
      redis.call('HSET', prefix .. ':q:t:' .. ticket, 'user', user, 'state', state, 'adm', score)
    end
    redis.call('ZADD', prefix .. ':q:active', paused_at - 1, 'gone')
    redis.call('SET', prefix .. ':q:u:gone', 'tgone')
    redis.call('HSET', prefix .. ':q:t:tgone', 'user', 'gone', 'state', 'admitted', 'adm', paused_at - 1)
    return 1)";
  const int n = 1050;
  s.Redis({"EVAL", setup, "0", prefix, std::to_string(paused_at), std::to_string(n)});
  s.Redis({"HSET", info, "paused", "1", "pausedAt", std::to_string(paused_at)});

  int calls = 0;
  std::string out;
  do {
    out = Eval(s, Scripts::Get().product_pause, {info}, {"0", prefix, "100"});
    ++calls;
    if (out == "2") {
      EXPECT_EQ(s.Redis({"HGET", info, "paused"}), "1") << "resumed before the end";
    }
  } while (out == "2" && calls < 100);
  EXPECT_EQ(out, "1");
  // One call per group of 150 equal scores (a page of 100 is finished to its group's end), then
  // one that finds none left.
  EXPECT_EQ(calls, 8);
  EXPECT_EQ(s.Redis({"HMGET", info, "paused", "pausedAt", "pauseLen", "pauseCursor"}),
            "NIL NIL NIL NIL")
      << "the resume left pause state behind";

  auto score = [&](const std::string& user) {
    return std::stoll(s.Redis({"ZSCORE", prefix + ":q:active", user}));
  };
  const long long moved = score("b0") - (paused_at + 1);
  EXPECT_GE(moved, 10'000);
  EXPECT_LT(moved, 60'000);
  int wrong = 0, wrong_adm = 0;
  for (int i = 0; i < n; ++i) {
    const long long was = paused_at + 1 + (i % 7) * 1000;
    wrong += score("b" + std::to_string(i)) != was + moved;
    const long long adm = std::stoll(s.Redis({"HGET", prefix + ":q:t:t" + std::to_string(i), "adm"}));
    wrong_adm += adm != (i % 2 == 0 ? was + moved : was);
  }
  EXPECT_EQ(wrong, 0) << "active entries not moved by exactly the pause's length";
  EXPECT_EQ(wrong_adm, 0) << "admission ends not moved (or a used one moved)";
  EXPECT_EQ(score("gone"), paused_at - 1) << "an admission that ended before the pause moved";
  EXPECT_EQ(s.Redis({"HGET", prefix + ":q:t:tgone", "adm"}), std::to_string(paused_at - 1));

  // A second resume changes nothing; a pause notes its start once.
  EXPECT_EQ(Eval(s, Scripts::Get().product_pause, {info}, {"0", prefix, "100"}), "1");
  EXPECT_EQ(score("b0"), paused_at + 1 + moved);
  EXPECT_EQ(Eval(s, Scripts::Get().product_pause, {info}, {"1", prefix, "0"}), "1");
  const auto first = s.Redis({"HGET", info, "pausedAt"});
  EXPECT_NE(first, "NIL");
  EXPECT_EQ(Eval(s, Scripts::Get().product_pause, {info}, {"1", prefix, "0"}), "1");
  EXPECT_EQ(s.Redis({"HGET", info, "pausedAt"}), first);
}

}  // namespace
}  // namespace ticketing::purchase
