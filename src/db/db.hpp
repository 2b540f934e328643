#pragma once
// MariaDB Connector/C behind one boundary: a bounded pool of blocking connections, each owned
// by one worker thread, so I/O threads never block on the database.
#include <mysql.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "common/errors.hpp"

namespace ticketing::db {

namespace net = boost::asio;

// The database cannot be reached, the call timed out, or the pool's queue is full.
class Unavailable : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};

// A query the server rejected (syntax, constraint...). `code` is mysql_errno().
class QueryError : public std::runtime_error {
 public:
  QueryError(unsigned code, const std::string& what) : std::runtime_error(what), code(code) {}
  unsigned code;
};

inline constexpr unsigned kErrDuplicateKey = 1062;

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 3306;
  std::string user;
  std::string password;
  std::string database;
  std::size_t pool_size = 8;        // worker threads == connections
  std::size_t max_waiting = 10000;  // queued calls beyond this fail fast with Unavailable
  std::chrono::seconds connect_timeout{2};
  std::chrono::seconds read_timeout{5};
  std::chrono::seconds write_timeout{5};
  int lock_wait_timeout_seconds = 3;  // SET SESSION innodb_lock_wait_timeout
};

// A query parameter: NULL, integer, double or string (strings are escaped by the connection).
using Param = std::variant<std::nullptr_t, std::int64_t, double, std::string>;
using Row = std::vector<std::optional<std::string>>;

struct Result {
  std::vector<Row> rows;
  std::uint64_t affected_rows = 0;
  std::uint64_t insert_id = 0;
};

// One live MySQL connection. Only used on its worker thread.
class Connection {
 public:
  // Connects (with the options' timeouts); throws Unavailable.
  explicit Connection(const Options& options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs `sql`, replacing each `?` with the next parameter (escaped, quoted); returns rows
  // (if any), affected rows and last insert id. Throws Unavailable on a lost/broken
  // connection or timeout (and marks the connection broken), QueryError on a server error.
  Result Execute(std::string_view sql, const std::vector<Param>& params = {});
  bool Broken() const { return broken_; }
  MYSQL* raw() { return mysql_; }

 private:
  MYSQL* mysql_ = nullptr;
  bool broken_ = false;
};

// Runs BEGIN; f(); COMMIT, with ROLLBACK if f throws (the exception is then rethrown).
template <class F>
auto Transaction(Connection& c, F&& f) -> decltype(f()) {
  c.Execute("START TRANSACTION");
  try {
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      c.Execute("COMMIT");
    } else {
      auto r = f();
      c.Execute("COMMIT");
      return r;
    }
  } catch (...) {
    if (!c.Broken()) {
      try {
        c.Execute("ROLLBACK");
      } catch (...) {
      }
    }
    throw;
  }
}

class Pool {
 public:
  // A pool constructed closed refuses every job until Open(): Submit returns false and Run
  // throws Unavailable ("database not ready"). A server that starts while the database is
  // down serves what needs only Redis while its schema migrations wait (see app/server_main).
  explicit Pool(Options options, bool open = true);
  ~Pool();  // joins the worker threads
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  // Runs f(Connection&) on a worker thread with a live connection (connecting or re-connecting
  // first if needed; a connection that broke during f is dropped and re-opened on next use,
  // with backoff) and resumes the caller on its own executor with f's result. Exceptions from
  // f (and Unavailable) are rethrown in the caller.
  //
  // `f` is taken by reference and must outlive the co_await: call it as
  // `co_await pool.Run(lambda)`. (By value, GCC 12 copies a closure with string captures into
  // the coroutine frame bit by bit, and both copies free the same buffer.)
  template <class F>
  auto Run(F&& f) -> net::awaitable<std::invoke_result_t<std::decay_t<F>&, Connection&>>;

  // Synchronous variant for start-up code (migrations) and tools; blocks the calling thread.
  template <class F>
  auto RunSync(F f) -> std::invoke_result_t<F, Connection&>;

  void Open() { open_.store(true); }
  bool IsOpen() const { return open_.load(); }
  const Options& options() const { return options_; }
  std::size_t waiting() const { return waiting_.load(); }
  // Jobs running on a worker right now (at most pool_size).
  std::size_t busy() const { return busy_.load(); }

  // Queues `job` to run on a worker thread with that thread's connection; the job gets nullptr
  // plus the exception if no connection could be made. Returns false, and neither runs nor
  // keeps the job, when the queue is full (max_waiting) or the pool is stopping: a job never
  // runs on the calling thread, so callers may hold their own locks across this call. The job
  // must not throw. For callers that complete their own waiters (batching); everyone else uses
  // Run().
  [[nodiscard]] bool Submit(std::function<void(Connection*, std::exception_ptr)> job);

  // Refuses new jobs, fails the queued ones that have not started (nullptr + Unavailable), waits
  // for the running ones and joins the worker threads: after it returns, no job posts to any
  // caller's executor any more. Call before destroying the executors that callers wait on.
  void Stop();

 private:
  // The calling worker thread's connection, opened (again) if needed; throws Unavailable.
  Connection& WorkerConnection();
  // Opens a connection; after a failed attempt, fails fast until the backoff has passed.
  std::unique_ptr<Connection> Connect();

  Options options_;
  std::atomic<std::size_t> waiting_{0};
  std::atomic<std::size_t> busy_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> open_{true};
  std::mutex connect_mu_;         // guards the reconnect backoff below
  int connect_failures_ = 0;      // consecutive failed attempts
  bool connect_probing_ = false;  // one thread is retrying after a failure
  std::chrono::steady_clock::time_point next_connect_;
  std::string last_connect_error_;
  net::thread_pool threads_;  // last: joined before the members above go away
};

template <class F>
auto Pool::Run(F&& f) -> net::awaitable<std::invoke_result_t<std::decay_t<F>&, Connection&>> {
  using Fn = std::decay_t<F>;
  using T = std::invoke_result_t<Fn&, Connection&>;
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;
  // optional: T need not be default-constructible.
  auto result = co_await net::async_initiate<decltype(net::use_awaitable),
                                             void(std::exception_ptr, std::optional<Stored>)>(
      [this, f = Fn(std::forward<F>(f))](auto handler) mutable {
        // Submit's std::function must be copyable but the awaitable handler (and maybe f) are
        // move-only, so the job shares them.
        using Handler = decltype(handler);
        struct Op {
          Fn f;
          Handler handler;
        };
        auto ex = net::get_associated_executor(handler);
        auto op = std::make_shared<Op>(Op{std::move(f), std::move(handler)});
        const bool queued = Submit([op, ex](Connection* c, std::exception_ptr err) {
          std::optional<Stored> value;
          if (!err) {
            try {
              if constexpr (std::is_void_v<T>) {
                op->f(*c);
                value.emplace();
              } else {
                value.emplace(op->f(*c));
              }
            } catch (...) {
              err = std::current_exception();
            }
          }
          // Moved, not copied: this thread keeps no reference to the error or the value.
          net::post(ex, [op, err = std::move(err), value = std::move(value)]() mutable {
            std::move(op->handler)(err, std::move(value));
          });
        });
        if (!queued) {
          const char* why = IsOpen() ? "database pool queue full"
                                     : "database not ready: schema migrations pending";
          net::post(ex, [op, why] {
            std::move(op->handler)(std::make_exception_ptr(Unavailable(why)),
                                   std::optional<Stored>{});
          });
        }
      },
      net::use_awaitable);
  if constexpr (!std::is_void_v<T>) co_return std::move(*result);
}

template <class F>
auto Pool::RunSync(F f) -> std::invoke_result_t<F, Connection&> {
  Connection c(options_);
  return f(c);
}

// Applies the versioned schema migrations (idempotent; records versions in
// schema_migrations). Throws on failure.
void Migrate(Connection& c);

}  // namespace ticketing::db
