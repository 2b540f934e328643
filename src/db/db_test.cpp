// Integration tests against a real mariadbd started by scripts/services.
#include "db/db.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdint>
#include <cstdlib>
#include <future>
#include <latch>
#include <limits>
#include <thread>

#include "tests/support/services.hpp"
#include "tests/support/test_db.hpp"

namespace ticketing::db {
namespace {

// The HTTP boundary maps UnavailableError to 503.
static_assert(std::is_base_of_v<UnavailableError, Unavailable>);

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

Options TestOptions() {
  Options o = testing::TestDbOptions();
  o.pool_size = 2;
  o.connect_timeout = seconds(2);
  o.read_timeout = seconds(3);
  o.write_timeout = seconds(3);
  o.lock_wait_timeout_seconds = 1;
  return o;
}

std::string Scalar(Connection& c, std::string_view sql, const std::vector<Param>& params = {}) {
  Result r = c.Execute(sql, params);
  return r.rows.at(0).at(0).value();
}

long Elapsed(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

class DbTest : public ::testing::Test {
 protected:
  // Runs a coroutine on io_ and returns its result (or rethrows).
  template <class T>
  T Await(net::awaitable<T> a) {
    io_.restart();
    auto f = net::co_spawn(io_, std::move(a), net::use_future);
    io_.run();
    return f.get();
  }

  void SetUp() override {
    Migrate(c_);
    c_.Execute(
        "CREATE TABLE IF NOT EXISTS db_test_values (id INT AUTO_INCREMENT PRIMARY KEY, "
        "s VARCHAR(255) NULL, n BIGINT NULL, d DOUBLE NULL) DEFAULT CHARSET=utf8mb4");
    c_.Execute("DELETE FROM db_test_values");
  }

  // Outlives the Pools made in test bodies: a Pool's worker may still be inside post() to io_
  // when the awaiting coroutine has already finished, so the Pool (which joins) must go first.
  net::io_context io_;
  Options options_ = TestOptions();
  Connection c_{options_};
};

TEST_F(DbTest, MigrateIsIdempotentAndSafeConcurrently) {
  c_.Execute("DROP TABLE IF EXISTS orders, products, revoked_leases, schema_migrations");

  constexpr int kThreads = 3;
  std::latch start(kThreads);
  std::vector<std::future<void>> done;
  done.reserve(kThreads);
  for (int i = 0; i < kThreads; ++i) {
    done.push_back(std::async(std::launch::async, [&] {
      Connection c(options_);
      start.arrive_and_wait();
      Migrate(c);
    }));
  }
  for (auto& f : done) EXPECT_NO_THROW(f.get());

  Migrate(c_);
  Migrate(c_);
  Result versions = c_.Execute("SELECT version FROM schema_migrations ORDER BY version");
  ASSERT_EQ(versions.rows.size(), 7u);
  for (std::size_t i = 0; i < versions.rows.size(); ++i) {
    EXPECT_EQ(versions.rows[i][0], std::to_string(i + 1));
  }
  EXPECT_EQ(Scalar(c_,
                   "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() "
                   "AND table_name IN ('products', 'orders')"),
            "2");

  // The schema's CHECK constraint is enforced.
  EXPECT_THROW(
      c_.Execute("INSERT INTO products (name, price_cents, total_stock, stock, hold_seconds)"
                 " VALUES ('x', 100, 5, 6, 60)"),
      QueryError);
  EXPECT_FALSE(c_.Broken());
}

TEST_F(DbTest, MigrateWaitsForTheLockLongerThanTheReadTimeout) {
  Options o = options_;
  o.read_timeout = seconds(2);
  Connection holder(options_);
  ASSERT_EQ(Scalar(holder, "SELECT GET_LOCK('ticketing_migrate', 0)"), "1");
  auto release = std::async(std::launch::async, [&] {
    std::this_thread::sleep_for(milliseconds(2500));
    holder.Execute("SELECT RELEASE_LOCK('ticketing_migrate')");
  });
  Connection c(o);
  const auto start = Clock::now();
  EXPECT_NO_THROW(Migrate(c));
  EXPECT_GE(Elapsed(start), 2000);
  EXPECT_FALSE(c.Broken());
  release.get();
}

TEST_F(DbTest, StringParamsRoundTripWithoutInjection) {
  const std::vector<std::string> values = {
      "plain",
      "O'Reilly",
      "it''s",
      "back\\slash",
      "trailing\\",
      "\"double\"",
      "x'); DROP TABLE db_test_values; -- ",
      "' OR '1'='1",
      "question ? mark",
      "ünïcødé 🎟️ 票",
      std::string("nul\0byte", 8),
      "",
  };
  for (const auto& v : values) {
    Result ins = c_.Execute("INSERT INTO db_test_values (s) VALUES (?)", {v});
    EXPECT_EQ(ins.affected_rows, 1u);
    EXPECT_GT(ins.insert_id, 0u);
    Result back = c_.Execute("SELECT s FROM db_test_values WHERE id = ?",
                             {static_cast<std::int64_t>(ins.insert_id)});
    ASSERT_EQ(back.rows.size(), 1u);
    EXPECT_EQ(back.rows[0][0], v);
    EXPECT_EQ(Scalar(c_, "SELECT COUNT(*) FROM db_test_values WHERE s = ?", {v}), "1") << v;
  }
  EXPECT_EQ(Scalar(c_, "SELECT COUNT(*) FROM db_test_values"), std::to_string(values.size()));
}

TEST_F(DbTest, PlaceholdersOnlyOutsideQuotesAndComments) {
  Result r = c_.Execute("SELECT '?', \"?\", ? /* ? */, 'it''s ?', 'a\\'?' -- ?\n, ? # ?",
                        {std::int64_t{1}, std::string("two")});
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0], (Row{"?", "?", "1", "it's ?", "a'?", "two"}));

  EXPECT_THROW(c_.Execute("SELECT ?, ?", {std::int64_t{1}}), std::invalid_argument);
  EXPECT_THROW(c_.Execute("SELECT ?", {std::int64_t{1}, std::int64_t{2}}), std::invalid_argument);
  EXPECT_THROW(c_.Execute("SELECT '?'", {std::int64_t{1}}), std::invalid_argument);
  EXPECT_FALSE(c_.Broken());
  EXPECT_EQ(Scalar(c_, "SELECT 1"), "1");
}

TEST_F(DbTest, NumbersKeepFullPrecision) {
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(Scalar(c_, "SELECT ?", {kMin}), std::to_string(kMin));
  EXPECT_EQ(Scalar(c_, "SELECT ?", {kMax}), std::to_string(kMax));
  EXPECT_EQ(Scalar(c_, "SELECT 1-?", {std::int64_t{-1}}), "2");  // not a "--" comment

  // 0.1 + 0.2 differs from 0.3 only in the 17th digit.
  c_.Execute("INSERT INTO db_test_values (d) VALUES (?), (?)", {0.1 + 0.2, 0.3});
  EXPECT_EQ(Scalar(c_, "SELECT COUNT(DISTINCT d) FROM db_test_values"), "2");
  EXPECT_EQ(Scalar(c_, "SELECT COUNT(*) FROM db_test_values WHERE d = ?", {0.1 + 0.2}), "1");
  for (double d : {1e300, -2.5e-300, 5.0, -0.0, 123456789.123456789}) {
    EXPECT_EQ(Scalar(c_, "SELECT ? = ?", {d, d}), "1") << d;
  }
  EXPECT_THROW(c_.Execute("SELECT ?", {std::numeric_limits<double>::quiet_NaN()}),
               std::invalid_argument);
}

TEST_F(DbTest, NullParamsAndResults) {
  c_.Execute("INSERT INTO db_test_values (s, n) VALUES (?, ?)", {nullptr, std::int64_t{7}});
  Result r = c_.Execute("SELECT s, n, NULL FROM db_test_values");
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0], (Row{std::nullopt, "7", std::nullopt}));
  EXPECT_EQ(r.affected_rows, 1u);

  Result empty = c_.Execute("SELECT s FROM db_test_values WHERE n = ?", {std::int64_t{8}});
  EXPECT_TRUE(empty.rows.empty());
}

TEST_F(DbTest, DuplicateKeyIsQueryError) {
  c_.Execute(
      "INSERT INTO products (name, price_cents, total_stock, stock, hold_seconds) "
      "VALUES ('dup test', 100, 5, 5, 60)");
  const std::int64_t product = std::stoll(Scalar(c_, "SELECT LAST_INSERT_ID()"));
  const std::string insert =
      "INSERT INTO orders (reservation_id, product_id, user_id, quantity, unit_price_cents, "
      "total_price_cents) VALUES (?, ?, 'u1', 1, 100, 100)";
  const std::string reservation = "dup-" + std::to_string(product);
  c_.Execute(insert, {reservation, product});
  try {
    c_.Execute(insert, {reservation, product});
    FAIL() << "expected QueryError";
  } catch (const QueryError& e) {
    EXPECT_EQ(e.code, kErrDuplicateKey);
  }
  EXPECT_FALSE(c_.Broken());
}

// Our session runs under MySQL 8.4's default sql_mode (plus STRICT_ALL_TABLES) on either server,
// so SQL that MySQL 8.4 rejects fails against the test MariaDB too.
TEST_F(DbTest, SessionRefusesWhatMySql84Refuses) {
  const std::string mode = Scalar(c_, "SELECT @@SESSION.sql_mode");
  for (const char* m : {"ONLY_FULL_GROUP_BY", "STRICT_TRANS_TABLES", "STRICT_ALL_TABLES",
                        "NO_ZERO_IN_DATE", "NO_ZERO_DATE", "ERROR_FOR_DIVISION_BY_ZERO",
                        "NO_ENGINE_SUBSTITUTION"}) {
    EXPECT_NE(mode.find(m), std::string::npos) << m << " missing from " << mode;
  }
  c_.Execute("INSERT INTO db_test_values (s, n) VALUES ('a', 1), ('a', 2), ('b', 3)");
  // A column neither grouped nor aggregated: MariaDB's default mode would answer it.
  EXPECT_THROW(c_.Execute("SELECT s, n FROM db_test_values GROUP BY s"), QueryError);
  EXPECT_THROW(c_.Execute("INSERT INTO db_test_values (n) VALUES (1 / 0)"), QueryError);
  EXPECT_FALSE(c_.Broken());
  // The server's own mode is whatever scripts/services was told (TEST_DB_SQL_MODE).
  if (const char* want = std::getenv("TEST_DB_SQL_MODE")) {
    EXPECT_EQ(Scalar(c_, "SELECT @@GLOBAL.sql_mode"), want);
  }
}

TEST_F(DbTest, TransactionCommitsOrRollsBack) {
  EXPECT_THROW(Transaction(c_,
                           [&] {
                             c_.Execute("INSERT INTO db_test_values (n) VALUES (1)");
                             throw std::runtime_error("abort");
                           }),
               std::runtime_error);
  EXPECT_EQ(Scalar(c_, "SELECT COUNT(*) FROM db_test_values"), "0");

  const auto id = Transaction(
      c_, [&] { return c_.Execute("INSERT INTO db_test_values (n) VALUES (2)").insert_id; });
  EXPECT_EQ(
      Scalar(c_, "SELECT n FROM db_test_values WHERE id = ?", {static_cast<std::int64_t>(id)}),
      "2");
}

TEST_F(DbTest, LockWaitTimeoutIsUnavailableButKeepsTheConnection) {
  c_.Execute("INSERT INTO db_test_values (id, n) VALUES (1, 0)");
  Connection other(options_);
  Transaction(c_, [&] {
    c_.Execute("SELECT n FROM db_test_values WHERE id = 1 FOR UPDATE");
    const auto start = Clock::now();
    EXPECT_THROW(other.Execute("UPDATE db_test_values SET n = 1 WHERE id = 1"), Unavailable);
    EXPECT_LT(Elapsed(start), 2900);  // lock_wait_timeout_seconds = 1, read timeout 3 s
  });
  EXPECT_FALSE(other.Broken());
  other.Execute("UPDATE db_test_values SET n = 2 WHERE id = 1");
  EXPECT_EQ(Scalar(c_, "SELECT n FROM db_test_values WHERE id = 1"), "2");
}

TEST_F(DbTest, ReadTimeoutIsUnavailableAndBreaksTheConnection) {
  Options o = options_;
  o.read_timeout = seconds(1);
  Connection c(o);
  const auto start = Clock::now();
  EXPECT_THROW(c.Execute("SELECT SLEEP(3)"), Unavailable);
  EXPECT_LT(Elapsed(start), 2500);
  EXPECT_TRUE(c.Broken());
  EXPECT_THROW(c.Execute("SELECT 1"), Unavailable);
}

TEST_F(DbTest, ConnectFailureIsUnavailable) {
  Options bad_password = options_;
  bad_password.password = "wrong";
  EXPECT_THROW(Connection{bad_password}, Unavailable);

  Options no_server = options_;
  no_server.port = 1;  // nothing listens there
  const auto start = Clock::now();
  EXPECT_THROW(Connection{no_server}, Unavailable);
  EXPECT_LT(Elapsed(start), 2500);
}

TEST_F(DbTest, PoolRunReturnsValuesAndPropagatesExceptions) {
  Pool pool(options_);
  std::thread::id io_thread;
  auto task = [&]() -> net::awaitable<void> {
    io_thread = std::this_thread::get_id();
    std::string one = co_await pool.Run([](Connection& c) { return Scalar(c, "SELECT 1"); });
    EXPECT_EQ(one, "1");
    EXPECT_EQ(std::this_thread::get_id(), io_thread);  // resumed on the caller's executor

    Result r = co_await pool.Run([](Connection& c) {
      return c.Execute("SELECT ?, ?", {std::string("a'b"), nullptr});
    });
    EXPECT_EQ(r.rows.at(0), (Row{"a'b", std::nullopt}));

    co_await pool.Run(
        [](Connection& c) { c.Execute("INSERT INTO db_test_values (n) VALUES (5)"); });

    // A move-only result type works as well.
    auto owned = co_await pool.Run([](Connection&) { return std::make_unique<int>(42); });
    EXPECT_EQ(*owned, 42);

    bool caught = false;
    try {
      co_await pool.Run([](Connection&) -> int { throw std::logic_error("boom"); });
    } catch (const std::logic_error& e) {
      caught = std::string(e.what()) == "boom";
    }
    EXPECT_TRUE(caught);

    unsigned code = 0;
    try {
      co_await pool.Run([](Connection& c) { c.Execute("SELECT * FROM no_such_table"); });
    } catch (const QueryError& e) {
      code = e.code;
    }
    EXPECT_EQ(code, 1146u);  // ER_NO_SUCH_TABLE
  };
  Await(task());
  EXPECT_EQ(Scalar(c_, "SELECT COUNT(*) FROM db_test_values WHERE n = 5"), "1");
  EXPECT_EQ(pool.waiting(), 0u);
}

TEST_F(DbTest, PoolRunSyncUsesAFreshConnection) {
  Pool pool(options_);
  EXPECT_EQ(pool.RunSync([](Connection& c) { return Scalar(c, "SELECT 2"); }), "2");
  pool.RunSync([](Connection& c) { Migrate(c); });
}

TEST_F(DbTest, PoolFailsFastWhenTheQueueIsFull) {
  Options o = options_;
  o.pool_size = 1;
  o.max_waiting = 2;
  Pool pool(o);
  const auto start = Clock::now();
  int ok = 0;
  int rejected = 0;
  long slowest_rejection_ms = 0;
  for (int i = 0; i < 10; ++i) {
    net::co_spawn(
        io_,
        [&]() -> net::awaitable<void> {
          try {
            co_await pool.Run([](Connection& c) { c.Execute("SELECT SLEEP(0.5)"); });
            ++ok;
          } catch (const Unavailable&) {
            ++rejected;
            slowest_rejection_ms = std::max(slowest_rejection_ms, Elapsed(start));
          }
        },
        [](const std::exception_ptr& e) {
          if (e) std::rethrow_exception(e);
        });
  }
  io_.run();
  // 1 running + 2 queued (or 3 queued if the worker had not picked up the first yet).
  EXPECT_GE(ok, 2);
  EXPECT_LE(ok, 3);
  EXPECT_EQ(ok + rejected, 10);
  EXPECT_LT(slowest_rejection_ms, 400);
  EXPECT_EQ(pool.waiting(), 0u);
}

TEST_F(DbTest, PoolRollsBackATransactionAJobLeftOpen) {
  Options o = options_;
  o.pool_size = 1;
  Pool pool(o);
  Await([&]() -> net::awaitable<void> {
    co_await pool.Run([](Connection& c) {
      c.Execute("START TRANSACTION");
      c.Execute("INSERT INTO db_test_values (n) VALUES (9)");
    });
    std::string count = co_await pool.Run(
        [](Connection& c) { return Scalar(c, "SELECT COUNT(*) FROM db_test_values"); });
    EXPECT_EQ(count, "0");
  }());
}

TEST_F(DbTest, KilledConnectionFailsOnceThenReconnects) {
  Options o = options_;
  o.pool_size = 1;
  Pool pool(o);
  auto connection_id = [](Connection& c) { return Scalar(c, "SELECT CONNECTION_ID()"); };
  Await([&]() -> net::awaitable<void> {
    const std::string id = co_await pool.Run(connection_id);
    c_.Execute("KILL " + id);
    bool unavailable = false;
    try {
      co_await pool.Run(connection_id);
    } catch (const Unavailable&) {
      unavailable = true;
    }
    EXPECT_TRUE(unavailable);
    const std::string id2 = co_await pool.Run(connection_id);
    EXPECT_NE(id2, id);
    const std::string id3 = co_await pool.Run(connection_id);
    EXPECT_EQ(id3, id2);
  }());
}

// Stops mariadbd, so it runs last; SetUp of later tests would fail if the restart did.
TEST_F(DbTest, ZzDatabaseRestartIsSurvivedWithoutANewPool) {
  Options o = options_;
  o.pool_size = 2;
  Pool pool(o);
  auto select_one = [](Connection& c) { return Scalar(c, "SELECT 1"); };
  // Open both workers' connections (two overlapping calls).
  auto slow = [](Connection& c) { return Scalar(c, "SELECT SLEEP(0.3) + 1"); };
  std::string first;
  std::string second;
  Await([&]() -> net::awaitable<void> {
    net::co_spawn(
        co_await net::this_coro::executor,
        [&]() -> net::awaitable<void> { first = co_await pool.Run(slow); }, net::detached);
    second = co_await pool.Run(slow);
  }());
  EXPECT_EQ(first, "1");
  EXPECT_EQ(second, "1");

  testing::StopDatabase(testing::SharedServices());
  for (int i = 0; i < 6; ++i) {
    const auto start = Clock::now();
    EXPECT_THROW(Await(pool.Run(select_one)), Unavailable);
    // connect_timeout 2 s + read_timeout 3 s bound a single call.
    EXPECT_LT(Elapsed(start), 5500);
  }

  testing::StartDatabase(testing::SharedServices());
  const auto deadline = Clock::now() + seconds(30);
  int failures = 0;
  while (true) {
    try {
      EXPECT_EQ(Await(pool.Run(select_one)), "1");
      break;
    } catch (const Unavailable&) {
      ++failures;
      ASSERT_LT(Clock::now(), deadline) << "database did not come back";
      std::this_thread::sleep_for(milliseconds(100));
    }
  }
  // Each worker sees its stale connection fail at most once; later calls all succeed.
  int later_failures = 0;
  for (int i = 0; i < 20; ++i) {
    try {
      Await(pool.Run(select_one));
    } catch (const Unavailable&) {
      ++later_failures;
    }
  }
  EXPECT_LE(later_failures, 2);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Await(pool.Run(select_one)), "1");
}

}  // namespace
}  // namespace ticketing::db
