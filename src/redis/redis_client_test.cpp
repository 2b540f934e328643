// Integration tests against a real redis-server (scripts/services via SharedServices()).
#include "redis/redis_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "redis/blocking_client.hpp"
#include "tests/support/services.hpp"

namespace ticketing::redis {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Type = Value::Type;

Options ServerOptions() {
  const auto& services = ticketing::testing::SharedServices();
  Options o;
  o.host = services.Get("REDIS_HOST");
  o.port = static_cast<std::uint16_t>(services.Port("REDIS_PORT"));
  return o;
}

// A port nothing listens on (bound once, then released).
std::uint16_t UnusedPort() {
  net::io_context ioc;
  net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

net::awaitable<void> Sleep(std::chrono::milliseconds d) {
  net::steady_timer t(co_await net::this_coro::executor, d);
  co_await t.async_wait(net::use_awaitable);
}

net::awaitable<void> WaitUntil(std::function<bool()> done, std::chrono::milliseconds limit = 10s) {
  auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) throw std::runtime_error("condition not reached in time");
    co_await Sleep(1ms);
  }
}

// Runs the command, expecting redis::Unavailable; returns whether it was thrown.
template <typename... Args>
net::awaitable<bool> FailsUnavailable(Connection& c, Args... args) {
  try {
    co_await c.Command(std::move(args)...);
  } catch (const Unavailable&) {
    co_return true;
  }
  co_return false;
}

// ASSERT_* return, which a coroutine cannot: record the failure and leave by throwing.
#define CO_ASSERT(cond)                                     \
  do {                                                      \
    if (!(cond)) {                                          \
      ADD_FAILURE() << "assertion failed: " #cond;          \
      throw std::runtime_error("assertion failed: " #cond); \
    }                                                       \
  } while (0)

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override { options_ = ServerOptions(); }

  void TearDown() override {
    for (auto& c : connections_) c->Stop();
    connections_.clear();
    // Stop() must end every loop: the io_context then runs out of work.
    ioc_.restart();
    ioc_.run_for(5s);
    EXPECT_TRUE(ioc_.stopped()) << "client loops still running after Stop()";
  }

  std::shared_ptr<Connection> Open(Options o) {
    auto c = std::make_shared<Connection>(ioc_.get_executor(), std::move(o));
    c->Start();
    connections_.push_back(c);
    return c;
  }
  std::shared_ptr<Connection> Open() { return Open(options_); }

  // Runs `body` on the io_context until it finishes; aborts the process if it hangs (its frame
  // refers to the test's locals, so it must not outlive the test).
  void Run(const std::function<net::awaitable<void>()>& body, std::chrono::seconds limit = 60s) {
    bool done = false;
    std::exception_ptr error;
    net::co_spawn(ioc_, body(), [&](std::exception_ptr e) {
      done = true;
      error = std::move(e);
    });
    ioc_.restart();
    auto deadline = Clock::now() + limit;
    while (!done && !ioc_.stopped() && Clock::now() < deadline) ioc_.run_one_until(deadline);
    if (!done) {
      std::fprintf(stderr, "test coroutine did not finish\n");
      std::abort();
    }
    if (error) std::rethrow_exception(error);
  }

  static net::awaitable<void> WaitConnected(const Connection& c) {
    co_await WaitUntil([&] { return c.Connected(); });
  }

  [[nodiscard]] std::string Key(const std::string& name) const {
    return std::string("redis_client_test:") +
           ::testing::UnitTest::GetInstance()->current_test_info()->name() + ":" + name;
  }

  Options options_;
  net::io_context ioc_;
  std::vector<std::shared_ptr<Connection>> connections_;
};

TEST(RedisValueTest, AsInt) {
  Value v;
  v.type = Type::kInteger;
  v.integer = -7;
  EXPECT_EQ(v.AsInt(), -7);
  v.type = Type::kString;
  v.str = "123456789012";
  EXPECT_EQ(v.AsInt(), 123456789012LL);
  for (const char* bad : {"", "12x", " 1", "1.5", "99999999999999999999"}) {
    v.str = bad;
    EXPECT_THROW((void)v.AsInt(), std::runtime_error) << bad;
  }
  v.type = Type::kNil;
  EXPECT_THROW((void)v.AsInt(), std::runtime_error);
}

TEST(RedisScriptTest, Sha1IsLowercaseHex) {
  EXPECT_EQ(Script("return 1").sha1, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
  EXPECT_EQ(Script("").sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST_F(RedisClientTest, ReplyTypes) {
  auto c = Open();
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    const std::string k = Key("k"), n = Key("n"), l = Key("l"), missing = Key("missing");
    co_await c->Command("DEL", k, n, l, missing);

    Value v = co_await c->Command("SET", k, std::string("a\0b\r\n", 5));
    EXPECT_EQ(v.type, Type::kStatus);
    EXPECT_EQ(v.str, "OK");

    v = co_await c->Command("GET", k);
    EXPECT_EQ(v.type, Type::kString);
    EXPECT_EQ(v.str, std::string("a\0b\r\n", 5));

    v = co_await c->Command("GET", missing);
    EXPECT_TRUE(v.IsNil());

    v = co_await c->Command("INCRBY", n, "41");
    EXPECT_EQ(v.type, Type::kInteger);
    EXPECT_EQ(v.AsInt(), 41);
    v = co_await c->Command("GET", n);
    EXPECT_EQ(v.type, Type::kString);
    EXPECT_EQ(v.AsInt(), 41);

    co_await c->Command("RPUSH", l, "x", "", "z");
    v = co_await c->Command("LRANGE", l, "0", "-1");
    CO_ASSERT(v.type == Type::kArray);
    CO_ASSERT(v.elements.size() == 3u);
    EXPECT_EQ(v.elements[0].str, "x");
    EXPECT_EQ(v.elements[1].str, "");
    EXPECT_EQ(v.elements[2].str, "z");

    v = co_await c->Command("EVAL", "return {1, {'a', false}, 'b'}", "0");
    CO_ASSERT(v.type == Type::kArray);
    CO_ASSERT(v.elements.size() == 3u);
    EXPECT_EQ(v.elements[0].integer, 1);
    CO_ASSERT(v.elements[1].type == Type::kArray);
    CO_ASSERT(v.elements[1].elements.size() == 2u);
    EXPECT_EQ(v.elements[1].elements[0].str, "a");
    EXPECT_TRUE(v.elements[1].elements[1].IsNil());

    v = co_await c->Command("LRANGE", missing, "0", "-1");
    EXPECT_EQ(v.type, Type::kArray);
    EXPECT_TRUE(v.elements.empty());

    // Error replies are values, and the connection stays usable after them.
    v = co_await c->Command("INCR", k);
    EXPECT_TRUE(v.IsError());
    EXPECT_TRUE(v.str.starts_with("ERR")) << v.str;
    v = co_await c->Command("NO-SUCH-COMMAND");
    EXPECT_TRUE(v.IsError());
    v = co_await c->Command("PING");
    EXPECT_EQ(v.str, "PONG");

    // A large value spans many reads.
    std::string big(3 << 20, 'q');
    co_await c->Command("SET", k, big);
    v = co_await c->Command("GET", k);
    EXPECT_EQ(v.str.size(), big.size());
    EXPECT_EQ(v.str, big);

    bool threw = false;
    try {
      co_await c->Command(std::vector<std::string>{});
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
  });
}

// 10,000 coroutines issue commands at once on one connection: every reply must reach the right
// caller (FIFO matching), and the commands must go out in few writes (pipelining).
TEST_F(RedisClientTest, TenThousandConcurrentCommandsArePipelined) {
  constexpr int kCoroutines = 10000;
  auto c = Open();
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    const std::string counter = Key("counter");
    co_await c->Command("DEL", counter);
    const auto before = c->GetStats();

    std::vector<long long> incr(kCoroutines, -1);
    std::vector<std::string> echo(kCoroutines);
    int finished = 0, failed = 0;
    auto ex = co_await net::this_coro::executor;
    for (int i = 0; i < kCoroutines; ++i) {
      net::co_spawn(
          ex,
          [&, i]() -> net::awaitable<void> {
            incr[i] = (co_await c->Command("INCR", counter)).AsInt();
            echo[i] = (co_await c->Command("ECHO", "payload-" + std::to_string(i))).str;
          },
          [&](const std::exception_ptr& e) {
            ++finished;
            if (e) ++failed;
          });
    }
    co_await WaitUntil([&] { return finished == kCoroutines; }, 30s);
    EXPECT_EQ(failed, 0);
    int wrong = 0;
    for (int i = 0; i < kCoroutines; ++i) {
      // Spawned in order, so INCR ran in order: coroutine i saw i + 1.
      if (incr[i] != i + 1 || echo[i] != "payload-" + std::to_string(i)) ++wrong;
    }
    EXPECT_EQ(wrong, 0);

    const auto after = c->GetStats();
    const auto commands = after.commands - before.commands;
    const auto writes = after.writes - before.writes;
    EXPECT_EQ(commands, 2u * kCoroutines);
    EXPECT_EQ(after.replies - before.replies, 2u * kCoroutines);
    EXPECT_LT(writes * 50, commands) << writes << " writes for " << commands << " commands";
    std::cout << "[          ] " << commands << " commands in " << writes << " writes\n";
  });
}

TEST_F(RedisClientTest, EvalLoadsScriptAfterNoscript) {
  auto c = Open();
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    Value v = co_await c->Command("SCRIPT", "FLUSH");
    EXPECT_EQ(v.str, "OK");
    Script script("return {KEYS[1], ARGV[1], ARGV[2], #KEYS}");
    v = co_await c->Command("SCRIPT", "EXISTS", script.sha1);
    CO_ASSERT(v.elements.size() == 1u);
    EXPECT_EQ(v.elements[0].integer, 0);

    // Vectors built outside the co_await expression (GCC 12 bug with braced lists there).
    const std::vector<std::string> keys{"k1"}, args{"a1", "a2"};
    v = co_await c->Eval(script, keys, args);
    CO_ASSERT(v.type == Type::kArray);
    CO_ASSERT(v.elements.size() == 4u);
    EXPECT_EQ(v.elements[0].str, "k1");
    EXPECT_EQ(v.elements[1].str, "a1");
    EXPECT_EQ(v.elements[2].str, "a2");
    EXPECT_EQ(v.elements[3].integer, 1);

    v = co_await c->Command("SCRIPT", "EXISTS", script.sha1);
    EXPECT_EQ(v.elements[0].integer, 1);
    const auto commands = c->GetStats().commands;
    v = co_await c->Eval(script, {}, {});
    EXPECT_EQ(v.type, Type::kArray);
    EXPECT_EQ(c->GetStats().commands, commands + 1);  // loaded: a single EVALSHA

    // A script's own error is returned as a value, not retried.
    v = co_await c->Eval(Script("return redis.error_reply('SOLD_OUT no tickets left')"), {}, {});
    EXPECT_TRUE(v.IsError());
    EXPECT_EQ(v.str, "SOLD_OUT no tickets left");
    // A script that does not compile: SCRIPT LOAD's error comes back.
    v = co_await c->Eval(Script("return +"), {}, {});
    EXPECT_TRUE(v.IsError());
    EXPECT_FALSE(v.str.starts_with("NOSCRIPT")) << v.str;
  });
}

// The server drops the connection (CLIENT KILL from another connection): every pending command
// fails with Unavailable, and the client reconnects by itself.
TEST_F(RedisClientTest, KilledConnectionFailsPendingAndReconnects) {
  auto victim = Open();
  auto killer = Open();
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*victim);
    co_await WaitConnected(*killer);
    const auto connects = victim->GetStats().connects;
    auto ex = co_await net::this_coro::executor;

    // BLPOP blocks the victim server-side; the PINGs queue behind it.
    constexpr int kPending = 20;
    int unavailable = 0, finished = 0;
    for (int i = 0; i < kPending; ++i) {
      std::vector<std::string> cmd = i == 0 ? std::vector<std::string>{"BLPOP", Key("never"), "10"}
                                            : std::vector<std::string>{"PING"};
      net::co_spawn(ex, FailsUnavailable(*victim, cmd), [&](const std::exception_ptr& e, bool u) {
        ++finished;
        if (!e && u) ++unavailable;
      });
    }
    co_await WaitUntil([&] { return victim->GetStats().writes > 0; });
    co_await Sleep(50ms);  // let the server read them and block
    EXPECT_EQ(finished, 0);

    Value killed = co_await killer->Command("CLIENT", "KILL", "TYPE", "normal");
    CO_ASSERT(killed.type == Type::kInteger);
    EXPECT_GE(killed.integer, 1);

    co_await WaitUntil([&] { return finished == kPending; }, 5s);
    EXPECT_EQ(unavailable, kPending);

    co_await WaitConnected(*victim);
    EXPECT_GT(victim->GetStats().connects, connects);
    Value v = co_await victim->Command("PING");
    EXPECT_EQ(v.str, "PONG");
    EXPECT_EQ((co_await killer->Command("PING")).str, "PONG");
  });
}

// A reply that does not come within command_timeout fails that command alone; the connection
// stays up, the late reply is read and dropped, and the next command succeeds on it. Before,
// the timeout closed the connection and failed every command on it.
TEST_F(RedisClientTest, ATimedOutCommandFailsAloneAndTheConnectionCarriesOn) {
  Options o = options_;
  o.command_timeout = 300ms;
  o.dead_timeout = 5s;
  auto c = Open(o);
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    const auto connects = c->GetStats().connects;
    auto start = Clock::now();
    bool unavailable = co_await FailsUnavailable(*c, "BLPOP", Key("never"), "1");
    auto elapsed = Clock::now() - start;
    EXPECT_TRUE(unavailable);
    EXPECT_GE(elapsed, 290ms);
    EXPECT_LT(elapsed, 900ms);
    EXPECT_NE(c->GetStats().last_error.find("timed out"), std::string::npos)
        << c->GetStats().last_error;
    co_await WaitUntil([&] { return c->GetStats().late_replies == 1; }, 3s);
    EXPECT_EQ((co_await c->Command("PING")).str, "PONG");
    EXPECT_EQ(c->GetStats().connects, connects) << c->GetStats().last_error;
    EXPECT_EQ(c->GetStats().timed_out, 1u);
  });
}

// No byte from Redis for dead_timeout while commands wait: the connection is stuck, so it is
// closed and re-opened.
TEST_F(RedisClientTest, AStuckConnectionIsReopened) {
  Options o = options_;
  o.command_timeout = 200ms;
  o.dead_timeout = 500ms;
  auto c = Open(o);
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    const auto connects = c->GetStats().connects;
    EXPECT_TRUE(co_await FailsUnavailable(*c, "BLPOP", Key("never"), "5"));
    co_await WaitUntil([&] { return c->GetStats().connects > connects; }, 3s);
    EXPECT_GT(c->GetStats().connects, connects);
    EXPECT_NE(c->GetStats().last_error.find("stuck"), std::string::npos)
        << c->GetStats().last_error;
    co_await WaitConnected(*c);
    EXPECT_EQ((co_await c->Command("PING")).str, "PONG");
  });
}

// A process too busy to read does not fail a command whose reply is already waiting in the
// socket. Staged: the thread is blocked while the command's deadline passes and then its reply
// arrives, and while 300 other sockets become readable, 100 before the deadline and 200 between
// it and the reply. Asio takes at most 128 events per epoll_wait, so it sees the expired
// watchdog timer in an earlier batch than the reply, as under a stampede of connections.
TEST_F(RedisClientTest, AReplyWaitingInTheSocketIsReadBeforeItsCommandTimesOut) {
  Options o = options_;
  o.command_timeout = 200ms;
  auto c = Open(o);
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    auto ex = co_await net::this_coro::executor;
    // 300 loopback socket pairs, each with a read waiting on this thread.
    net::ip::tcp::acceptor acceptor(ex, {net::ip::make_address("127.0.0.1"), 0});
    std::vector<std::unique_ptr<net::ip::tcp::socket>> readers, writers;
    std::vector<char> sink(300);
    int woken = 0;
    for (int i = 0; i < 300; ++i) {
      auto w = std::make_unique<net::ip::tcp::socket>(ex);
      w->connect(acceptor.local_endpoint());
      auto r = std::make_unique<net::ip::tcp::socket>(acceptor.accept());
      r->async_read_some(net::buffer(&sink[i], 1), [&](auto, auto) { ++woken; });
      readers.push_back(std::move(r));
      writers.push_back(std::move(w));
    }
    bool done = false, ok = false;
    // Redis is busy for 300 ms with this script: its reply comes after the 200 ms deadline.
    net::co_spawn(ex,
                  FailsUnavailable(*c, "EVAL",
                                   "local function us() local t = redis.call('TIME') "
                                   "return t[1] * 1000000 + t[2] end "
                                   "local s = us() repeat until us() - s >= 300000 return 1",
                                   "0"),
                  [&](const std::exception_ptr& e, bool unavailable) {
                    done = true;
                    ok = !e && !unavailable;
                  });
    co_await WaitUntil([&] { return c->GetStats().writes > 0; });
    for (int i = 0; i < 100; ++i) net::write(*writers[i], net::buffer("x", 1));
    std::thread later([&] {
      std::this_thread::sleep_for(250ms);
      for (int i = 100; i < 300; ++i) net::write(*writers[i], net::buffer("x", 1));
    });
    std::this_thread::sleep_for(600ms);  // the thread is busy; the reply lands at ~300 ms
    later.join();
    co_await WaitUntil([&] { return done && woken == 300; }, 3s);
    EXPECT_TRUE(ok);
    EXPECT_EQ(c->GetStats().timed_out, 0u);
  });
}

// A command's deadline runs from when it is written, and only max_in_flight are written at a
// time: five slow commands (100-200 ms each, server-side: Redis times blocked clients out on
// its 100 ms cron) behind one another all succeed with a 400 ms timeout. With every command written at once and the deadline counted from the queue,
// the second timed out and took the whole connection (and every other command) with it.
TEST_F(RedisClientTest, SlowRepliesDoNotFailTheCommandsQueuedBehindThem) {
  Options o = options_;
  o.command_timeout = 400ms;
  o.queue_timeout = 5s;
  o.max_in_flight = 1;
  auto c = Open(o);
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    const auto connects = c->GetStats().connects;
    auto ex = co_await net::this_coro::executor;
    int ok = 0, finished = 0;
    for (int i = 0; i < 5; ++i) {
      net::co_spawn(ex, FailsUnavailable(*c, "BLPOP", Key("never"), "0.1"),
                    [&](const std::exception_ptr& e, bool unavailable) {
                      ++finished;
                      if (!e && !unavailable) ++ok;
                    });
    }
    co_await WaitUntil([&] { return finished == 5; }, 5s);
    EXPECT_EQ(ok, 5);
    EXPECT_EQ(c->GetStats().connects, connects) << c->GetStats().last_error;
  });
}

// A queued command whose caller no longer wants it (StillWanted says no when the writer gets
// to it) is not written and fails with Withdrawn; the others behind it run.
TEST_F(RedisClientTest, AQueuedCommandNoLongerWantedIsWithdrawnUnwritten) {
  Options o = options_;
  o.max_in_flight = 1;
  o.queue_timeout = 5s;
  auto c = Open(o);
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    auto ex = co_await net::this_coro::executor;
    bool wanted = true;
    redis::StillWanted ask{[](const void* w) { return *static_cast<const bool*>(w); }, &wanted};
    int finished = 0;
    net::co_spawn(ex, FailsUnavailable(*c, "BLPOP", Key("never"), "0.2"),
                  [&](const std::exception_ptr&, bool) { ++finished; });
    co_await WaitUntil([&] { return c->GetStats().writes > 0; });
    bool withdrawn = false;
    net::co_spawn(
        ex,
        [&]() -> net::awaitable<void> {
          try {
            co_await c->Eval(Script("return redis.call('SET', KEYS[1], 'v')"),
                             redis::List(Key("unwanted")), {}, ask);
          } catch (const Withdrawn&) {
            withdrawn = true;
          }
          ++finished;
        },
        net::detached);
    net::co_spawn(ex, FailsUnavailable(*c, "SET", Key("wanted"), "v"),
                  [&](const std::exception_ptr&, bool) { ++finished; });
    wanted = false;  // decided while both wait behind the BLPOP
    co_await WaitUntil([&] { return finished == 3; }, 3s);
    EXPECT_TRUE(withdrawn);
    EXPECT_EQ(c->GetStats().withdrawn, 1u);
    EXPECT_TRUE((co_await c->Command("GET", Key("unwanted"))).IsNil());
    EXPECT_EQ((co_await c->Command("GET", Key("wanted"))).str, "v");
  });
}

// A command that cannot be written within queue_timeout fails alone with NotSent (it did not
// run); the connection and the slow command ahead of it carry on.
TEST_F(RedisClientTest, CommandStuckInTheSendQueueFailsAloneAsNotSent) {
  Options o = options_;
  o.command_timeout = 3s;
  o.queue_timeout = 100ms;
  o.max_in_flight = 1;
  auto c = Open(o);
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    const auto connects = c->GetStats().connects;
    auto ex = co_await net::this_coro::executor;
    bool slow_done = false, slow_ok = false;
    net::co_spawn(ex, FailsUnavailable(*c, "BLPOP", Key("never"), "0.5"),
                  [&](const std::exception_ptr& e, bool unavailable) {
                    slow_done = true;
                    slow_ok = !e && !unavailable;
                  });
    co_await WaitUntil([&] { return c->GetStats().writes > 0; });
    const auto start = Clock::now();
    bool not_sent = false;
    try {
      co_await c->Command("SET", Key("k"), "v");
    } catch (const NotSent&) {
      not_sent = true;
    }
    EXPECT_TRUE(not_sent);
    EXPECT_LT(Clock::now() - start, 400ms);
    co_await WaitUntil([&] { return slow_done; }, 5s);
    EXPECT_TRUE(slow_ok);
    EXPECT_EQ(c->GetStats().connects, connects);
    EXPECT_EQ(c->GetStats().not_sent, 1u);
    // It did not run: the key was never set.
    EXPECT_TRUE((co_await c->Command("GET", Key("k"))).IsNil());
  });
}

// Issue 7 (found by the chaos suite): Redis answers LOADING while it reads its AOF after a
// restart, BUSY while a script runs too long. Those commands did not run; they must fail as
// NotSent (503, retry), not come back as error values that callers turn into a 500.
TEST_F(RedisClientTest, BusyOrLoadingRefusalsFailAsNotSent) {
  BlockingConnection admin(options_.host, options_.port, 5000ms);
  ASSERT_FALSE(admin.Command({"CONFIG", "SET", "busy-reply-threshold", "100"}).IsError());
  auto c = Open();
  std::thread spin;
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    spin = std::thread([this] {
      BlockingConnection busy(options_.host, options_.port, 10000ms);
      busy.Command({"EVAL",
                    "local s = redis.call('TIME') while true do local n = redis.call('TIME') "
                    "if (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 1500000 then break end end "
                    "return 1",
                    "0"});
    });
    co_await Sleep(400ms);
    bool not_sent = false;
    std::string what;
    try {
      auto v = co_await c->Command("PING");
      what = v.str;
    } catch (const NotSent& e) {
      not_sent = true;
      what = e.what();
    }
    EXPECT_TRUE(not_sent) << what;
    EXPECT_NE(what.find("BUSY"), std::string::npos) << what;
  });
  spin.join();
  admin.Command({"CONFIG", "SET", "busy-reply-threshold", "5000"});
  // The connection stayed up: a refusal is an answer, not a broken connection.
  Run([&]() -> net::awaitable<void> { EXPECT_EQ((co_await c->Command("PING")).str, "PONG"); });
}

TEST_F(RedisClientTest, CommandWhileDisconnectedFailsFast) {
  Options o = options_;
  o.port = UnusedPort();
  o.max_backoff = 50ms;
  auto never_started = std::make_shared<Connection>(ioc_.get_executor(), o);
  connections_.push_back(never_started);
  auto c = Open(o);
  Run([&]() -> net::awaitable<void> {
    EXPECT_TRUE(co_await FailsUnavailable(*never_started, "PING"));
    co_await Sleep(100ms);  // several refused connects and backoffs
    EXPECT_FALSE(c->Connected());
    EXPECT_FALSE(c->GetStats().last_error.empty());
    for (int i = 0; i < 5; ++i) {
      auto start = Clock::now();
      EXPECT_TRUE(co_await FailsUnavailable(*c, "PING"));
      EXPECT_LT(Clock::now() - start, 20ms);
      co_await Sleep(7ms);
    }
    EXPECT_EQ(c->GetStats().commands, 0u);
  });
}

// A server whose accept queue is full drops SYNs, so connect() hangs: connect_timeout must end
// each attempt, and Stop() must end a hanging one.
TEST_F(RedisClientTest, ConnectTimeoutAndStopWhileConnecting) {
  net::ip::tcp::acceptor full(ioc_, {net::ip::make_address("127.0.0.1"), 0});
  full.listen(0);
  std::vector<std::unique_ptr<net::ip::tcp::socket>> fillers;
  for (int i = 0; i < 4; ++i) {
    auto s = std::make_unique<net::ip::tcp::socket>(ioc_);
    s->async_connect(full.local_endpoint(), [](boost::system::error_code) {});
    fillers.push_back(std::move(s));
  }
  Options o = options_;
  o.port = full.local_endpoint().port();
  o.connect_timeout = 100ms;
  o.max_backoff = 20ms;
  auto c = Open(o);
  Run([&]() -> net::awaitable<void> {
    co_await Sleep(600ms);
    EXPECT_FALSE(c->Connected());
    EXPECT_NE(c->GetStats().last_error.find("timed out"), std::string::npos)
        << c->GetStats().last_error;
    EXPECT_EQ(c->GetStats().connects, 0u);
  });
  auto start = Clock::now();
  c->Stop();
  for (auto& s : fillers) s->close();
  full.close();
  connections_.clear();
  c.reset();
  ioc_.restart();
  ioc_.run_for(5s);
  EXPECT_TRUE(ioc_.stopped());
  EXPECT_LT(Clock::now() - start, 100ms);
}

TEST_F(RedisClientTest, MaxPendingFailsFast) {
  Options o = options_;
  o.max_pending = 10;
  auto c = Open(o);
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    auto ex = co_await net::this_coro::executor;
    int ok = 0, unavailable = 0, finished = 0;
    for (int i = 0; i < 100; ++i) {
      net::co_spawn(ex, FailsUnavailable(*c, "PING"), [&](const std::exception_ptr& e, bool u) {
        ++finished;
        if (!e) ++(u ? unavailable : ok);
      });
    }
    co_await WaitUntil([&] { return finished == 100; });
    EXPECT_EQ(ok, 10);
    EXPECT_EQ(unavailable, 90);
    EXPECT_EQ((co_await c->Command("PING")).str, "PONG");
  });
}

// Stop() and destruction with commands queued, in flight and blocked: every caller completes
// (reply or Unavailable), nothing touches freed memory (run under ASan), and the loops exit.
TEST_F(RedisClientTest, StopWithCommandsInFlight) {
  for (bool destroy_without_stop : {false, true}) {
    auto c = std::make_shared<Connection>(ioc_.get_executor(), options_);
    c->Start();
    int finished = 0, unavailable = 0;
    constexpr int kCommands = 2000;
    Run([&]() -> net::awaitable<void> {
      co_await WaitConnected(*c);
      auto ex = co_await net::this_coro::executor;
      for (int i = 0; i < kCommands; ++i) {
        std::vector<std::string> cmd = i == kCommands / 2
                                           ? std::vector<std::string>{"BLPOP", Key("never"), "10"}
                                           : std::vector<std::string>{"ECHO", std::to_string(i)};
        net::co_spawn(ex, FailsUnavailable(*c, cmd), [&](const std::exception_ptr& e, bool u) {
          ++finished;
          if (!e && u) ++unavailable;
        });
      }
      co_await WaitUntil([&] { return c->GetStats().writes > 0; });
      co_await Sleep(20ms);
      if (!destroy_without_stop) c->Stop();
      c.reset();
      co_await WaitUntil([&] { return finished == kCommands; }, 5s);
    });
    // At least everything from the BLPOP on was still waiting.
    EXPECT_GE(unavailable, kCommands / 2);
    EXPECT_EQ(finished, kCommands);
    ioc_.restart();
    ioc_.run_for(5s);
    EXPECT_TRUE(ioc_.stopped()) << "loops still running";
  }
  // Stopped before it ever connected.
  auto c = std::make_shared<Connection>(ioc_.get_executor(), options_);
  c->Start();
  c->Stop();
  c.reset();
  ioc_.restart();
  ioc_.run_for(5s);
  EXPECT_TRUE(ioc_.stopped());
}

// Informational: pipelined PINGs per second on one connection, 1,000 coroutines in a loop.
TEST_F(RedisClientTest, PingThroughput) {
  constexpr int kWorkers = 1000, kPerWorker = 200;
  auto c = Open();
  Run([&]() -> net::awaitable<void> {
    co_await WaitConnected(*c);
    auto ex = co_await net::this_coro::executor;
    int finished = 0, failed = 0;
    auto start = Clock::now();
    for (int w = 0; w < kWorkers; ++w) {
      net::co_spawn(
          ex,
          [&]() -> net::awaitable<void> {
            for (int i = 0; i < kPerWorker; ++i) co_await c->Command("PING");
          },
          [&](const std::exception_ptr& e) {
            ++finished;
            if (e) ++failed;
          });
    }
    co_await WaitUntil([&] { return finished == kWorkers; }, 60s);
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    EXPECT_EQ(failed, 0);
    const auto s = c->GetStats();
    std::cout << "[          ] " << kWorkers * kPerWorker << " PINGs in " << secs
              << " s = " << static_cast<long>(kWorkers * kPerWorker / secs) << "/s, " << s.writes
              << " writes\n";
  });
}

}  // namespace
}  // namespace ticketing::redis
