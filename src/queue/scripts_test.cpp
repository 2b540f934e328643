// The waiting-room scripts on a real Redis, driven directly where a whole server would hide the
// step that matters.
#include "queue/scripts.hpp"

#include "purchase/keys.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"

#include <gtest/gtest.h>

namespace ticketing::queue {
namespace {

using testing::SharedServices;
using testing::Stores;

// join.lua for `user` with a fresh ticket, no proof of work; `limit_keys` with one
// (emission, tolerance) pair each are handed over as the server does.
std::string Join(Stores& s, const std::string& prefix, const std::string& user,
                 const std::string& ticket, const std::vector<std::string>& limit_keys,
                 const std::string& emission = "200000", const std::string& tolerance = "0") {
  std::vector<std::string> keys{purchase::keys::Info(prefix)};
  std::vector<std::string> args{prefix, user, ticket, "1", "100000", "86400000", "", "0", "0"};
  if (!limit_keys.empty()) {
    args.push_back(std::to_string(limit_keys.size()));
    for (const auto& k : limit_keys) {
      keys.push_back(k);
      args.push_back(emission);
      args.push_back(tolerance);
    }
  }
  std::vector<std::string> cmd{"EVAL", Scripts::Get().join.source, std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  return s.Redis(cmd);
}

// Issue 8: the join's rate limit runs inside join.lua, in the join's own call (it used to be a
// script call of its own before every join). A limited join answers RATE_LIMITED with the wait
// and changes nothing; a join on a product without a line, or none at all, writes no rate key.
TEST(QueueScriptsTest, TheJoinLimitIsCheckedInTheJoinsOwnCall) {
  Stores s(SharedServices());
  const std::int64_t product = 9300001;
  const auto prefix = purchase::keys::Prefix(product);
  const auto info = purchase::keys::Info(prefix);
  const std::string rl = prefix + ":rl:join:b:eager";
  for (const auto& k : {info, rl, prefix + ":q:u:eager", prefix + ":q:line"}) s.Redis({"DEL", k});

  s.Redis({"HSET", info, "total", "10", "name", "x"});  // no line
  EXPECT_EQ(Join(s, prefix, "eager", "t1", {rl}), "QUEUE_OFF");
  EXPECT_EQ(s.Redis({"EXISTS", rl}), "0") << "a refused join wrote a rate key";
  const std::int64_t missing = 9300002;
  const auto missing_prefix = purchase::keys::Prefix(missing);
  s.Redis({"DEL", purchase::keys::Info(missing_prefix)});
  EXPECT_EQ(Join(s, missing_prefix, "eager", "t1", {missing_prefix + ":rl:join:b:eager"}),
            "NOT_FOUND");
  EXPECT_EQ(s.Redis({"EXISTS", missing_prefix + ":rl:join:b:eager"}), "0");

  s.Redis({"HSET", info, "q", "1", "qrate", "10", "qmax", "10", "qttl", "60"});
  const auto first = Join(s, prefix, "eager", "t1", {rl});
  EXPECT_EQ(first.rfind("OK t1 waiting", 0), 0u) << first;
  EXPECT_EQ(s.Redis({"EXISTS", rl}), "1") << "the join was not counted";
  const auto second = Join(s, prefix, "eager", "t2", {rl});  // no burst: within 200 ms
  EXPECT_EQ(second.rfind("RATE_LIMITED ", 0), 0u) << second;
  EXPECT_GT(std::stoll(second.substr(13)), 0);
  EXPECT_EQ(s.Redis({"GET", prefix + ":q:u:eager"}), "t1");
  EXPECT_EQ(s.Redis({"ZCARD", prefix + ":q:line"}), "1");
  // Without limits (an admin, or limits off) the same buyer gets their place back.
  EXPECT_EQ(Join(s, prefix, "eager", "t3", {}).rfind("OK t1 waiting", 0), 0u);
}

// Nothing of a line lives forever (Redis runs with noeviction), though a join no longer pushes
// every key's expiry: each of the line's keys expires a day (the retain time) to a day and an
// hour after the last join, and a key the line makes again after it emptied gets an expiry
// from the next join too.
TEST(QueueScriptsTest, EveryKeyOfTheLineExpiresADayAfterTheLastJoin) {
  Stores s(SharedServices());
  const std::int64_t product = 9300003;
  const auto prefix = purchase::keys::Prefix(product);
  const auto info = purchase::keys::Info(prefix);
  const std::vector<std::string> line_keys{prefix + ":q:line", prefix + ":q:seen",
                                           prefix + ":q:stats"};
  for (const auto& k : line_keys) s.Redis({"DEL", k});
  s.Redis({"DEL", info, prefix + ":q:u:k1", prefix + ":q:u:k2", prefix + ":q:u:k3"});
  s.Redis({"HSET", info, "total", "10", "name", "x", "q", "1", "qrate", "10", "qmax", "10",
           "qttl", "60"});
  const auto now_ms = [&] {
    return std::stoll(s.Redis({"EVAL", "local t = redis.call('TIME') return t[1] * 1000", "0"}));
  };
  const long long day = 86'400'000, hour = 3'600'000;
  auto expect_kept = [&](const std::string& when) {
    const long long now = now_ms();
    for (const auto& k : line_keys) {
      const long long at = std::stoll(s.Redis({"PEXPIRETIME", k}));
      EXPECT_GE(at, now + day - 2000) << k << " " << when;
      EXPECT_LE(at, now + day + hour + 2000) << k << " " << when;
    }
  };
  ASSERT_EQ(Join(s, prefix, "k1", "t1", {}).rfind("OK", 0), 0u);
  expect_kept("after the first join");
  ASSERT_EQ(Join(s, prefix, "k2", "t2", {}).rfind("OK", 0), 0u);
  expect_kept("after a second join");
  // The line emptied and is made again (here: its keys lose their expiry): the next join gives
  // them one.
  for (const auto& k : line_keys) s.Redis({"PERSIST", k});
  ASSERT_EQ(Join(s, prefix, "k3", "t3", {}).rfind("OK", 0), 0u);
  expect_kept("after a join that found keys without an expiry");
}

}  // namespace
}  // namespace ticketing::queue
