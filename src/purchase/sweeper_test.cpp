// The sweeper against a real Redis: one product whose settlement needs a database that does not
// answer must not keep the other products' expired holds from coming back (issue 7, defect 6).
#include "purchase/sweeper.hpp"

#include "purchase/keys.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"
#include "tests/support/test_db.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <chrono>

namespace ticketing::purchase {
namespace {

using testing::SharedServices;
using testing::Stores;

// A port nothing listens on (bound once, then released).
std::uint16_t UnusedPort() {
  net::io_context ioc;
  net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

// A hold written straight into Redis, due `due_ms_ago` ago: 'held' (its units are taken) or
// 'confirming' under lease `lid` (its server died mid-confirm).
void PutHold(Stores& s, std::int64_t product, const std::string& rid, const std::string& state,
             const std::string& lid) {
  const auto prefix = keys::Prefix(product);
  const auto now = std::stoll(s.Redis({"EVAL", "return redis.call('TIME')[1]", "0"})) * 1000;
  const auto due = std::to_string(now - 5000);
  s.Redis({"HSET", keys::Hold(prefix, rid), "user", "u-" + rid, "qty", "1", "state", state, "exp",
           due, "lease", due, "lid", lid});
  s.Redis({"ZADD", keys::Expiry(prefix), due, rid});
  s.Redis({"SET", prefix + ":u:u-" + rid, "1"});
  if (state == "held") s.Redis({"INCRBY", prefix + ":held", "1"});
  s.Redis({"SADD", std::string(keys::kProducts), std::to_string(product)});
}

TEST(SweeperTest, AFailedSettlementDoesNotStopThePass) {
  Stores stores(SharedServices());
  // Small ids come first in SMEMBERS of an integer set: the failing product is swept first.
  const std::int64_t failing = 9100001, other = 9100002;
  for (auto p : {failing, other}) {
    const auto prefix = keys::Prefix(p);
    stores.Redis({"DEL", prefix + ":avail", prefix + ":exp", prefix + ":held"});
    stores.Redis({"SET", prefix + ":avail", "0"});
  }
  PutHold(stores, failing, "9100001-confirming", "confirming", "lost-lease");
  PutHold(stores, other, "9100002-held", "held", "");

  db::Options dead = testing::TestDbOptions();
  dead.port = UnusedPort();
  dead.pool_size = 1;
  dead.connect_timeout = std::chrono::seconds(1);
  db::Pool pool(dead);
  net::io_context ctx;
  redis::Options ro;
  ro.host = SharedServices().Get("REDIS_HOST");
  ro.port = static_cast<std::uint16_t>(SharedServices().Port("REDIS_PORT"));
  auto redis = std::make_shared<redis::Client>(ctx.get_executor(), redis::ClientOptions{ro});
  redis->Start();
  SweeperOptions options;
  options.confirm_lease = std::chrono::seconds(5);
  Sweeper sweeper(*redis, pool, options);
  auto pass = net::co_spawn(
      ctx,
      [&]() -> net::awaitable<SweepStats> {
        net::steady_timer t(ctx);
        while (redis->GetStats().connects == 0) {
          t.expires_after(std::chrono::milliseconds(10));
          co_await t.async_wait(net::use_awaitable);
        }
        co_return co_await sweeper.SweepOnce();
      },
      net::use_future);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (pass.wait_for(std::chrono::seconds(0)) != std::future_status::ready &&
         std::chrono::steady_clock::now() < deadline) {
    ctx.run_for(std::chrono::milliseconds(50));
  }
  redis->Stop();

  ASSERT_EQ(pass.wait_for(std::chrono::seconds(0)), std::future_status::ready);
  EXPECT_NO_THROW(pass.get());
  // The other product's expired hold came back although the first product's settlement failed.
  EXPECT_EQ(stores.Available(other), 1);
  EXPECT_EQ(stores.HoldState("9100002-held"), "expired");
  // The failed one stays claimed for a later pass (its claim runs out, then it is retried).
  EXPECT_EQ(stores.HoldState("9100001-confirming"), "confirming");
}

}  // namespace
}  // namespace ticketing::purchase
