// redis::Client against a real local Redis Cluster (scripts/services start --cluster: three
// masters, three replicas): routing by slot, scripts loaded per node, MOVED and ASK followed.
#include "redis/blocking_client.hpp"
#include "redis/client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/support/services.hpp"

namespace ticketing::redis {
namespace {

using namespace std::chrono_literals;

const testing::Services& Cluster() { return testing::SharedClusterServices(); }

std::vector<Endpoint> Seeds() { return ParseEndpoints(Cluster().Get("REDIS_CLUSTER_NODES")); }

struct Master {
  Endpoint at;
  std::string id;
  int first = 0;  // its first slot range
  int last = 0;
};

// The masters from CLUSTER SLOTS of the first seed, one entry per master (first range).
std::vector<Master> Masters() {
  const auto seed = Seeds().front();
  BlockingConnection c(seed.host, seed.port, 2s);
  Value slots = c.Command({"CLUSTER", "SLOTS"});
  std::map<std::string, Master> by_id;
  for (const auto& r : slots.elements) {
    const auto& m = r.elements[2].elements;
    std::string id = m[2].str;
    if (by_id.count(id)) continue;
    by_id[id] = Master{{m[0].str, static_cast<std::uint16_t>(m[1].AsInt())},
                       id,
                       static_cast<int>(r.elements[0].AsInt()),
                       static_cast<int>(r.elements[1].AsInt())};
  }
  std::vector<Master> out;
  for (auto& [id, m] : by_id) out.push_back(m);
  return out;
}

Value On(const Endpoint& at, const std::vector<std::string>& args) {
  BlockingConnection c(at.host, at.port, 2s);
  return c.Command(args);
}

// A key with its own hash tag whose slot lies in [first, last], and not in `avoid`.
std::string KeyIn(int first, int last, const std::string& stem, std::set<int> avoid = {}) {
  for (int i = 0;; ++i) {
    std::string key = "{" + stem + std::to_string(i) + "}:k";
    const int slot = KeySlot(key);
    if (slot >= first && slot <= last && !avoid.count(slot)) return key;
  }
}

template <class T>
T Await(net::io_context& ctx, std::function<net::awaitable<T>()> f) {
  auto fut = net::co_spawn(ctx, f(), net::use_future);
  ctx.restart();
  while (fut.wait_for(0s) != std::future_status::ready) ctx.run_for(10ms);
  return fut.get();
}

// A started Client on `ctx`, its slot map loaded.
std::unique_ptr<Client> Started(net::io_context& ctx, std::vector<Endpoint> seeds = Seeds()) {
  ClientOptions o;
  o.cluster_nodes = std::move(seeds);
  auto c = std::make_unique<Client>(ctx.get_executor(), o);
  c->Start();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!c->Connected() && std::chrono::steady_clock::now() < deadline) ctx.run_for(10ms);
  EXPECT_TRUE(c->Connected());
  return c;
}

TEST(ClusterClient, SlotsAgreeWithTheServer) {
  const auto seed = Seeds().front();
  for (std::string key : {"foo", "{p:1}:info", "{p:42}:h:42-ab", "x{}y", "{a}{b}", "{p:7"}) {
    EXPECT_EQ(On(seed, {"CLUSTER", "KEYSLOT", key}).integer, KeySlot(key)) << key;
  }
}

TEST(ClusterClient, RoutesEachKeyToTheMasterOfItsSlotFromOneSeed) {
  auto masters = Masters();
  ASSERT_EQ(masters.size(), 3u);
  net::io_context ctx;
  // One seed is enough: the map names the others.
  auto client = Started(ctx, {masters[1].at});
  for (std::size_t m = 0; m < masters.size(); ++m) {
    for (int i = 0; i < 20; ++i) {
      const std::string key = KeyIn(masters[m].first, masters[m].last, "route" + std::to_string(i));
      const std::string value = "v" + std::to_string(m) + "-" + std::to_string(i);
      auto set = Await<Value>(ctx, [&]() { return client->Command("SET", key, value); });
      ASSERT_EQ(set.str, "OK") << set.str;
      // The owner has it; the others answer MOVED to the owner.
      EXPECT_EQ(On(masters[m].at, {"GET", key}).str, value);
      const auto& other = masters[(m + 1) % masters.size()];
      auto moved = ParseRedirect(On(other.at, {"GET", key}));
      ASSERT_TRUE(moved);
      EXPECT_EQ(moved->to, masters[m].at);
    }
  }
  EXPECT_EQ(client->MovedFollowed(), 0u);
  // A command without keys goes to some master.
  auto pong = Await<Value>(ctx, [&]() { return client->Command("PING"); });
  EXPECT_EQ(pong.str, "PONG");
  auto infos = Await<std::vector<Value>>(
      ctx, [&]() { return client->OnEveryMaster(List("INFO", "server")); });
  EXPECT_EQ(infos.size(), 3u);
  client->Stop();
}

TEST(ClusterClient, LoadsAScriptOnEachMasterThatLacksIt) {
  auto masters = Masters();
  net::io_context ctx;
  auto client = Started(ctx);
  for (const auto& m : masters) On(m.at, {"SCRIPT", "FLUSH"});
  Script incr("return redis.call('INCRBY', KEYS[1], ARGV[1])");
  for (const auto& m : masters) {
    const std::string key = KeyIn(m.first, m.last, "script");
    On(m.at, {"DEL", key});
    auto r = Await<Value>(ctx, [&]() { return client->Eval(incr, List(key), List("5")); });
    ASSERT_FALSE(r.IsError()) << r.str;
    EXPECT_EQ(r.integer, 5);
    EXPECT_EQ(On(m.at, {"SCRIPT", "EXISTS", incr.sha1}).elements.at(0).integer, 1);
  }
  client->Stop();
}

// Moves `slot` from master `from` to master `to` (keys included) as redis-cli --cluster
// reshard does, optionally stopping half-way: slot MIGRATING on `from`, IMPORTING on `to`.
void MigrateSlot(const Master& from, const Master& to, int slot,
                 const std::vector<std::string>& keys, bool finish) {
  const std::string s = std::to_string(slot);
  ASSERT_EQ(On(to.at, {"CLUSTER", "SETSLOT", s, "IMPORTING", from.id}).str, "OK");
  ASSERT_EQ(On(from.at, {"CLUSTER", "SETSLOT", s, "MIGRATING", to.id}).str, "OK");
  for (const auto& key : keys) {
    auto r = On(from.at, {"MIGRATE", to.at.host, std::to_string(to.at.port), key, "0", "5000"});
    ASSERT_FALSE(r.IsError()) << r.str;
  }
  if (!finish) return;
  for (const auto& m : Masters()) On(m.at, {"CLUSTER", "SETSLOT", s, "NODE", to.id});
  On(from.at, {"CLUSTER", "SETSLOT", s, "NODE", to.id});
  On(to.at, {"CLUSTER", "SETSLOT", s, "NODE", to.id});
}

TEST(ClusterClient, FollowsMovedWhenASlotWasResharded) {
  auto masters = Masters();
  const Master& a = masters[0];
  const Master& b = masters[1];
  const std::string key = KeyIn(a.first, a.last, "moved");
  const int slot = KeySlot(key);
  net::io_context ctx;
  auto client = Started(ctx);
  ASSERT_EQ(Await<Value>(ctx, [&]() { return client->Command("SET", key, "before"); }).str, "OK");
  MigrateSlot(a, b, slot, {key}, /*finish=*/true);
  // The client's map still says `a`: a answers MOVED to b, which the client follows.
  auto got = Await<Value>(ctx, [&]() { return client->Command("GET", key); });
  EXPECT_EQ(got.str, "before");
  EXPECT_EQ(client->MovedFollowed(), 1u);
  // The table was updated: the next command goes straight to b.
  auto again = Await<Value>(ctx, [&]() { return client->Command("SET", key, "after"); });
  EXPECT_EQ(again.str, "OK");
  EXPECT_EQ(client->MovedFollowed(), 1u);
  EXPECT_EQ(On(b.at, {"GET", key}).str, "after");
  // Give the slot back so other tests see the layout they expect.
  MigrateSlot(b, a, slot, {key}, /*finish=*/true);
  client->Stop();
}

TEST(ClusterClient, FollowsAskWhileASlotIsMigratingAndLoadsScriptsThere) {
  auto masters = Masters();
  const Master& a = masters[1];
  const Master& b = masters[2];
  const std::string moved_key = KeyIn(a.first, a.last, "ask");
  const int slot = KeySlot(moved_key);
  net::io_context ctx;
  auto client = Started(ctx);
  ASSERT_EQ(Await<Value>(ctx, [&]() { return client->Command("SET", moved_key, "42"); }).str, "OK");
  for (const auto& m : masters) On(m.at, {"SCRIPT", "FLUSH"});
  Script get("return redis.call('GET', KEYS[1])");
  MigrateSlot(a, b, slot, {moved_key}, /*finish=*/false);
  // The key left a; a answers ASK b; ASKING + the command go to b together.
  auto got = Await<Value>(ctx, [&]() { return client->Command("GET", moved_key); });
  EXPECT_EQ(got.str, "42");
  EXPECT_GE(client->AskFollowed(), 1u);
  // A script over the migrated key: ASK, then NOSCRIPT on b, SCRIPT LOAD there, ASKING again.
  auto ran = Await<Value>(ctx, [&]() { return client->Eval(get, List(moved_key), {}); });
  EXPECT_EQ(ran.str, "42") << ran.str;
  EXPECT_EQ(client->MovedFollowed(), 0u);  // ASK does not change the map
  // Without ASKING, b would refuse (the slot is not b's yet).
  EXPECT_TRUE(ParseRedirect(On(b.at, {"GET", moved_key})));
  for (const auto& m : masters)
    On(m.at, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", b.id});
  MigrateSlot(b, a, slot, {moved_key}, /*finish=*/true);
  client->Stop();
}

TEST(ClusterClient, WaitsForReplicasAfterStateChangesAndFailsWhenTooFewAcknowledge) {
  auto masters = Masters();
  net::io_context ctx;
  ClientOptions o;
  o.cluster_nodes = Seeds();
  o.wait_replicas = 1;  // each master has one replica
  o.wait_timeout = 1000ms;
  Client one(ctx.get_executor(), o);
  o.wait_replicas = 2;  // more than there are
  o.wait_timeout = 100ms;
  Client two(ctx.get_executor(), o);
  one.Start();
  two.Start();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!(one.Connected() && two.Connected()) && std::chrono::steady_clock::now() < deadline) {
    ctx.run_for(10ms);
  }
  ASSERT_TRUE(one.Connected() && two.Connected());
  Script incr("return redis.call('INCR', KEYS[1])");
  Script read("return redis.call('GET', KEYS[1])", /*changes_state=*/false);
  const std::string key = KeyIn(masters[0].first, masters[0].last, "wait");
  On(masters[0].at, {"DEL", key});
  EXPECT_EQ(Await<Value>(ctx, [&]() { return one.Eval(incr, List(key), {}); }).integer, 1);
  // Two replicas never acknowledge: the write happened, the call says it is not safe.
  EXPECT_THROW(Await<Value>(ctx, [&]() { return two.Eval(incr, List(key), {}); }), Unavailable);
  EXPECT_EQ(On(masters[0].at, {"GET", key}).str, "2");
  // A read-only script sends no WAIT.
  EXPECT_EQ(Await<Value>(ctx, [&]() { return two.Eval(read, List(key), {}); }).str, "2");
  one.Stop();
  two.Stop();
}

}  // namespace
}  // namespace ticketing::redis
