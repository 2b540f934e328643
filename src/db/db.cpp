#include "db/db.hpp"

#include "common/trace.hpp"

#include <errmsg.h>
#include <mysqld_error.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace ticketing::db {
namespace {

using Clock = std::chrono::steady_clock;

// Error codes sent only by MySQL servers (absent from MariaDB's mysqld_error.h).
constexpr unsigned kMySqlQueryTimeout = 3024;              // max_execution_time exceeded
constexpr unsigned kMySqlClientInteractionTimeout = 4031;  // idle connection closed by server

// First backoff after a failed connect; doubles per failure up to kMaxBackoff.
constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
// A connection idle for longer is pinged before use, so a server restart or wait_timeout
// while the pool was quiet does not fail the first call.
constexpr std::chrono::seconds kPingIfIdleFor{30};

void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (mysql_library_init(0, nullptr, nullptr) != 0) {
      throw Unavailable("mysql_library_init failed");
    }
  });
}

// The server or the network dropped the session: the connection cannot be used again.
bool BreaksConnection(unsigned code) {
  if ((code >= CR_MIN_ERROR && code <= CR_MAX_ERROR) || (code >= 5000 && code < 6000)) {
    return true;  // client-side errors: lost, gone, timed out, out of sync, ...
  }
  switch (code) {
    case ER_CONNECTION_KILLED:
    case ER_SERVER_SHUTDOWN:
    case ER_ABORTING_CONNECTION:
    case ER_NEW_ABORTING_CONNECTION:
    case ER_NET_PACKET_TOO_LARGE:
    case ER_NET_READ_ERROR:
    case ER_NET_READ_INTERRUPTED:
    case ER_NET_ERROR_ON_WRITE:
    case ER_NET_WRITE_INTERRUPTED:
    case ER_HANDSHAKE_ERROR:
    case ER_CON_COUNT_ERROR:
    case ER_OUT_OF_RESOURCES:
    case kMySqlClientInteractionTimeout:
      return true;
    default:
      return false;
  }
}

// Transient server-side conditions on a healthy connection: worth retrying later.
bool IsRetryable(unsigned code) {
  switch (code) {
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_LOCK_DEADLOCK:
    case ER_QUERY_INTERRUPTED:
    case ER_STATEMENT_TIMEOUT:
    case kMySqlQueryTimeout:
      return true;
    default:
      return false;
  }
}

[[noreturn]] void ThrowLastError(MYSQL* m, bool& broken) {
  const unsigned code = mysql_errno(m);
  std::string what =
      "MySQL error " + std::to_string(code) + " (" + mysql_sqlstate(m) + "): " + mysql_error(m);
  if (code == 0 || BreaksConnection(code)) {
    broken = true;
    throw Unavailable(what);
  }
  if (IsRetryable(code)) throw Unavailable(what);
  throw QueryError(code, what);
}

unsigned TimeoutSeconds(std::chrono::seconds s, const char* name) {
  // 0 would mean "wait forever" to Connector/C.
  if (s.count() < 1 || s.count() > 86400) {
    throw std::invalid_argument(std::string("database ") + name + " must be 1..86400 s");
  }
  return static_cast<unsigned>(s.count());
}

void AppendInteger(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  // "x-?" with -1 would read "x--1"; keep a space so it can never look like a comment.
  if (v < 0 && !out.empty() && out.back() == '-') out.push_back(' ');
  out.append(buf, end);
}

void AppendDouble(std::string& out, double v) {
  if (!std::isfinite(v)) throw std::invalid_argument("SQL parameter is not a finite number");
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest exact round-trip
  if (v < 0 && !out.empty() && out.back() == '-') out.push_back(' ');
  out.append(buf, end);
  // With an exponent the literal is a DOUBLE; without one it would be an exact DECIMAL.
  if (std::find_if(buf, end, [](char ch) { return ch == 'e' || ch == 'E'; }) == end) {
    out.append("E0");
  }
}

void AppendString(std::string& out, MYSQL* m, const std::string& v) {
  const std::size_t start = out.size();
  out.resize(start + 2 * v.size() + 3);
  out[start] = '\'';
  const unsigned long n = mysql_real_escape_string(m, out.data() + start + 1, v.data(), v.size());
  if (n == static_cast<unsigned long>(-1)) throw std::invalid_argument("cannot escape string");
  out.resize(start + 1 + n);
  out.push_back('\'');
}

// Index just past the quoted string (or `identifier`) that starts at sql[i].
std::size_t SkipQuoted(std::string_view sql, std::size_t i) {
  const char quote = sql[i];
  for (++i; i < sql.size(); ++i) {
    if (sql[i] == '\\' && quote != '`') {
      ++i;  // backslash escapes (NO_BACKSLASH_ESCAPES is not in our sql_mode)
    } else if (sql[i] == quote) {
      return i + 1;  // a doubled quote simply starts the next quoted run
    }
  }
  return sql.size();
}

// Index just past the comment that starts at sql[i]. `?` in a comment is never a parameter,
// not even in an executable /*! ... */ comment.
std::size_t SkipComment(std::string_view sql, std::size_t i) {
  if (sql[i] == '/') {
    const std::size_t end = sql.find("*/", i + 2);
    return end == std::string_view::npos ? sql.size() : end + 2;
  }
  const std::size_t end = sql.find('\n', i);
  return end == std::string_view::npos ? sql.size() : end + 1;
}

bool StartsComment(std::string_view sql, std::size_t i) {
  const char c = sql[i];
  const char next = i + 1 < sql.size() ? sql[i + 1] : '\0';
  if (c == '#') return true;
  if (c == '/' && next == '*') return true;
  if (c == '-' && next == '-') {
    // "-- " needs whitespace (or the end) after the dashes in both MySQL and MariaDB.
    const char after = i + 2 < sql.size() ? sql[i + 2] : ' ';
    return static_cast<unsigned char>(after) <= ' ';
  }
  return false;
}

std::string Bind(MYSQL* m, std::string_view sql, const std::vector<Param>& params) {
  std::string out;
  out.reserve(sql.size() + 16 * params.size());
  std::size_t next = 0;
  std::size_t i = 0;
  while (i < sql.size()) {
    const char c = sql[i];
    std::size_t end = i + 1;
    if (c == '\'' || c == '"' || c == '`') {
      end = SkipQuoted(sql, i);
    } else if (StartsComment(sql, i)) {
      end = SkipComment(sql, i);
    } else if (c == '?') {
      if (next == params.size()) {
        throw std::invalid_argument("SQL has more '?' than the " + std::to_string(params.size()) +
                                    " parameters given");
      }
      std::visit(
          [&](const auto& v) {
            using V = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<V, std::nullptr_t>) {
              out.append("NULL");
            } else if constexpr (std::is_same_v<V, std::int64_t>) {
              AppendInteger(out, v);
            } else if constexpr (std::is_same_v<V, double>) {
              AppendDouble(out, v);
            } else {
              AppendString(out, m, v);
            }
          },
          params[next++]);
      i = end;
      continue;
    }
    out.append(sql.substr(i, end - i));
    i = end;
  }
  if (next != params.size()) {
    throw std::invalid_argument("SQL has " + std::to_string(next) + " '?' but " +
                                std::to_string(params.size()) + " parameters were given");
  }
  return out;
}

struct ResultDeleter {
  void operator()(MYSQL_RES* r) const { mysql_free_result(r); }
};
using ResultPtr = std::unique_ptr<MYSQL_RES, ResultDeleter>;

struct MysqlDeleter {
  void operator()(MYSQL* m) const { mysql_close(m); }
};

// Per worker thread: its connection. Destroyed when the thread exits (Pool's destructor joins
// the threads), so each connection is closed on the thread that used it.
struct WorkerSlot {
  bool thread_initialized = false;
  std::unique_ptr<Connection> connection;
  Clock::time_point last_used;

  ~WorkerSlot() {
    connection.reset();
    if (thread_initialized) mysql_thread_end();
  }
};
thread_local WorkerSlot t_worker;

bool InTransaction(Connection& c) {
  unsigned status = 0;
  if (mariadb_get_infov(c.raw(), MARIADB_CONNECTION_SERVER_STATUS, &status) != 0) return true;
  return (status & SERVER_STATUS_IN_TRANS) != 0;
}

Options Validate(Options o) {
  if (o.pool_size < 1 || o.pool_size > 1024) {
    throw std::invalid_argument("database pool_size must be 1..1024");
  }
  TimeoutSeconds(o.connect_timeout, "connect_timeout");
  TimeoutSeconds(o.read_timeout, "read_timeout");
  TimeoutSeconds(o.write_timeout, "write_timeout");
  if (o.lock_wait_timeout_seconds < 1) {
    throw std::invalid_argument("database lock_wait_timeout_seconds must be >= 1");
  }
  return o;
}

}  // namespace

Connection::Connection(const Options& options) {
  InitLibraryOnce();
  const unsigned connect_timeout = TimeoutSeconds(options.connect_timeout, "connect_timeout");
  const unsigned read_timeout = TimeoutSeconds(options.read_timeout, "read_timeout");
  const unsigned write_timeout = TimeoutSeconds(options.write_timeout, "write_timeout");
  if (options.lock_wait_timeout_seconds < 1) {
    throw std::invalid_argument("database lock_wait_timeout_seconds must be >= 1");
  }

  std::unique_ptr<MYSQL, MysqlDeleter> m(mysql_init(nullptr));
  if (!m) throw Unavailable("mysql_init failed (out of memory)");
  const unsigned protocol = MYSQL_PROTOCOL_TCP;  // also for host "localhost"
  mysql_options(m.get(), MYSQL_OPT_PROTOCOL, &protocol);
  mysql_options(m.get(), MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_options(m.get(), MYSQL_OPT_READ_TIMEOUT, &read_timeout);
  mysql_options(m.get(), MYSQL_OPT_WRITE_TIMEOUT, &write_timeout);
  mysql_options(m.get(), MYSQL_SET_CHARSET_NAME, "utf8mb4");
  // No CLIENT_MULTI_STATEMENTS: one statement per call, so a bad parameter cannot add one.
  if (!mysql_real_connect(m.get(), options.host.c_str(), options.user.c_str(),
                          options.password.c_str(),
                          options.database.empty() ? nullptr : options.database.c_str(),
                          options.port, nullptr, 0)) {
    throw Unavailable("cannot connect to MySQL at " + options.host + ":" +
                      std::to_string(options.port) + ": " + mysql_error(m.get()));
  }
  mysql_ = m.release();
  try {
    // Default isolation (REPEATABLE READ) is kept on purpose.
    // MySQL 8.4's default sql_mode plus STRICT_ALL_TABLES, fixed whatever the server's global
    // mode: our SQL runs under MySQL's rules on MariaDB too (tests run on MariaDB), and a
    // DBA's ANSI_QUOTES or NO_BACKSLASH_ESCAPES cannot change how Execute quotes parameters.
    Execute(
        "SET SESSION innodb_lock_wait_timeout = ?, SESSION sql_mode = "
        "'ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
        "ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
        {std::int64_t{options.lock_wait_timeout_seconds}});
  } catch (const std::exception& e) {
    mysql_close(mysql_);
    mysql_ = nullptr;
    throw Unavailable(std::string("cannot set up MySQL session: ") + e.what());
  }
}

Connection::~Connection() {
  if (mysql_) mysql_close(mysql_);
}

Result Connection::Execute(std::string_view sql, const std::vector<Param>& params) {
  if (broken_) throw Unavailable("database connection is broken");
  const std::string query = Bind(mysql_, sql, params);
  if (mysql_real_query(mysql_, query.data(), query.size()) != 0) ThrowLastError(mysql_, broken_);

  Result result;
  ResultPtr res(mysql_store_result(mysql_));
  if (res) {
    const unsigned fields = mysql_num_fields(res.get());
    result.rows.reserve(mysql_num_rows(res.get()));
    while (MYSQL_ROW row = mysql_fetch_row(res.get())) {
      const unsigned long* lengths = mysql_fetch_lengths(res.get());
      Row& out = result.rows.emplace_back();
      out.reserve(fields);
      for (unsigned f = 0; f < fields; ++f) {
        if (row[f]) {
          out.emplace_back(std::in_place, row[f], lengths[f]);
        } else {
          out.emplace_back(std::nullopt);
        }
      }
    }
    result.affected_rows = result.rows.size();
  } else if (mysql_field_count(mysql_) != 0) {
    ThrowLastError(mysql_, broken_);  // a result set was due but could not be read
  } else {
    result.affected_rows = mysql_affected_rows(mysql_);
  }
  result.insert_id = mysql_insert_id(mysql_);

  // A CALL can return more results; read and drop them so the connection stays in sync.
  while (mysql_more_results(mysql_)) {
    const int status = mysql_next_result(mysql_);
    if (status > 0) ThrowLastError(mysql_, broken_);
    if (status < 0) break;
    ResultPtr extra(mysql_store_result(mysql_));
  }
  return result;
}

Pool::Pool(Options options, bool open)
    : options_(Validate(std::move(options))), open_(open), threads_(options_.pool_size) {
  InitLibraryOnce();
}

Pool::~Pool() { Stop(); }

void Pool::Stop() {
  // The queued jobs run (failing fast), then the threads exit and their WorkerSlots close the
  // connections. join() on a joined pool returns at once.
  stopping_.store(true);
  threads_.join();
}

std::unique_ptr<Connection> Pool::Connect() {
  {
    std::lock_guard lock(connect_mu_);
    if (connect_failures_ > 0) {
      if (connect_probing_ || Clock::now() < next_connect_) {
        throw Unavailable("database unavailable (reconnecting): " + last_connect_error_);
      }
      connect_probing_ = true;
    }
  }
  try {
    auto c = std::make_unique<Connection>(options_);
    std::lock_guard lock(connect_mu_);
    if (connect_failures_ > 0) spdlog::info("database connection restored");
    connect_failures_ = 0;
    connect_probing_ = false;
    return c;
  } catch (const std::exception& e) {
    std::lock_guard lock(connect_mu_);
    const int shift = std::min(connect_failures_, 10);
    const auto backoff =
        std::min<std::chrono::milliseconds>(kFirstBackoff * (1 << shift), kMaxBackoff);
    ++connect_failures_;
    connect_probing_ = false;
    next_connect_ = Clock::now() + backoff;
    last_connect_error_ = e.what();
    spdlog::warn("database connect failed ({} in a row, next try in {} ms): {}", connect_failures_,
                 backoff.count(), e.what());
    throw;
  }
}

Connection& Pool::WorkerConnection() {
  WorkerSlot& slot = t_worker;
  if (!slot.thread_initialized) {
    mysql_thread_init();
    slot.thread_initialized = true;
  }
  const auto now = Clock::now();
  if (slot.connection && now - slot.last_used > kPingIfIdleFor &&
      mysql_ping(slot.connection->raw()) != 0) {
    spdlog::info("dropping idle database connection: {}", mysql_error(slot.connection->raw()));
    slot.connection.reset();
  }
  if (!slot.connection) slot.connection = Connect();
  slot.last_used = now;
  return *slot.connection;
}

bool Pool::Submit(std::function<void(Connection*, std::exception_ptr)> job) {
  if (stopping_.load() || !open_.load()) return false;
  if (waiting_.fetch_add(1) + 1 > options_.max_waiting) {
    waiting_.fetch_sub(1);
    return false;
  }
  // The submitter's request (if any) stays current for the job, so this file's warnings about
  // it carry its trace id.
  const trace::Context* current = trace::Current();
  net::post(threads_, [this, job = std::move(job),
                       ctx = current ? *current : trace::Context{}] {
    waiting_.fetch_sub(1);
    busy_.fetch_add(1);
    struct Done {
      std::atomic<std::size_t>& busy;
      ~Done() { busy.fetch_sub(1); }
    } done{busy_};
    const trace::Scope scope(&ctx);
    Connection* c = nullptr;
    std::exception_ptr err;
    try {
      if (stopping_.load()) throw Unavailable("database pool shutting down");
      c = &WorkerConnection();
    } catch (...) {
      err = std::current_exception();
    }
    try {
      job(c, std::move(err));
    } catch (const std::exception& e) {  // Run's jobs do not throw; keep the worker alive anyway
      spdlog::error("database job threw: {}", e.what());
    } catch (...) {
      spdlog::error("database job threw a non-standard exception");
    }
    if (!c) return;
    if (!c->Broken() && InTransaction(*c)) {
      // A job left a transaction open; never hand it to the next job.
      spdlog::warn("database job left a transaction open; rolling back");
      try {
        c->Execute("ROLLBACK");
      } catch (const std::exception& e) {
        spdlog::warn("rollback failed: {}", e.what());
      }
    }
    if (c->Broken()) {
      spdlog::warn("dropping broken database connection");
      t_worker.connection.reset();
    }
  });
  return true;
}

}  // namespace ticketing::db
