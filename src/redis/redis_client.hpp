#pragma once
// Pipelined asynchronous Redis client over Asio. hiredis does the protocol (redisReader for
// replies, redisFormatSdsCommandArgv for commands); this file does the I/O.
//
// One Connection lives on one io_context (one I/O thread) and must only be used from that
// thread: concurrent coroutines' commands are queued, written together in one write and their
// replies matched in FIFO order. A broken connection fails every pending command with
// redis::Unavailable and is re-opened with backoff, forever, until Stop().
#include "common/errors.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

struct redisReply;

namespace ticketing::redis {

namespace net = boost::asio;

// Infrastructure failure: not connected, connection lost, timed out, or too many pending. A
// command written to Redis before the failure may or may not have run.
class Unavailable : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};

// The command was never written to Redis, so it certainly did not run (safe to retry as is).
class NotSent : public Unavailable {
 public:
  using Unavailable::Unavailable;
};

// The caller's StillWanted said no before the command was written: it did not run.
class Withdrawn : public NotSent {
 public:
  using NotSent::NotSent;
};

// Asked once, just before a queued command is written: false withdraws it (Withdrawn). Lets a
// caller whose answer became known while its command waited (a product seen sold out) skip the
// round trip. A plain function and a context the caller keeps alive while it awaits: no
// allocation on the hot path.
struct StillWanted {
  bool (*fn)(const void* context) = nullptr;
  const void* context = nullptr;
  explicit operator bool() const { return fn != nullptr; }
  bool operator()() const { return fn(context); }
};

// A reply. Error replies are values (type kError, text in str), not exceptions.
struct Value {
  enum class Type { kNil, kInteger, kString, kStatus, kError, kArray };

  Type type = Type::kNil;
  long long integer = 0;
  std::string str;
  std::vector<Value> elements;
  // A reply of Connection (top level only): when its command was written. What the reply
  // says held at some moment after this.
  std::chrono::steady_clock::time_point written_at{};

  [[nodiscard]] bool IsNil() const { return type == Type::kNil; }
  [[nodiscard]] bool IsError() const { return type == Type::kError; }
  // Integer value of an integer reply or of a string that holds a decimal integer; throws
  // std::runtime_error otherwise.
  [[nodiscard]] long long AsInt() const;
};

// True for an error reply by which Redis refused to run the command for now: LOADING (it is
// reading its data after a restart), BUSY (a script runs too long), MASTERDOWN, TRYAGAIN,
// CLUSTERDOWN. Such a command did not run. Both clients throw NotSent for these, so callers
// answer 503 and retry rather than treat them as a script's own error.
bool IsRefusal(const Value& v);

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::chrono::milliseconds connect_timeout{2000};
  // A command not answered within this time of being WRITTEN fails alone (Unavailable: it may
  // have run); the commands behind it keep their own deadlines, and its reply, if it comes, is
  // read and dropped. Replies already waiting in the socket are read before anyone is failed,
  // so a process slow to read (CPU-starved) does not fail commands Redis has answered.
  std::chrono::milliseconds command_timeout{2000};
  // No reply at all for this long with commands written: the connection or the server is stuck;
  // the connection is closed (failing what is pending) and re-opened. 0: 2 x command_timeout.
  std::chrono::milliseconds dead_timeout{0};
  // At most this many commands are written and unanswered; the rest wait in the send queue, so
  // one slow reply does not put thousands of unrelated commands past their deadline.
  std::size_t max_in_flight = 256;
  // A command still in the send queue after this fails alone with NotSent (it did not run);
  // the connection stays up. 0: command_timeout.
  std::chrono::milliseconds queue_timeout{0};
  std::size_t max_pending = 100000;  // queued + in flight; beyond, Command() fails fast (NotSent)
  std::chrono::milliseconds max_backoff{2000};
};

// Builds a command or script argument list: List("SET", key, std::to_string(n)). Use it, not a
// braced list, inside a co_await expression: GCC 12 mis-compiles a braced list's backing array
// that must live across a suspension ("array used as initializer").
template <class... T>
std::vector<std::string> List(T&&... items) {
  std::vector<std::string> v;
  v.reserve(sizeof...(items));
  (v.emplace_back(std::forward<T>(items)), ...);
  return v;
}

// Converts a hiredis reply tree into a Value (does not free it). Shared with
// BlockingConnection.
Value FromReply(const redisReply* reply);

// A Lua script with its SHA1 (computed with OpenSSL), for EVALSHA.
struct Script {
  explicit Script(std::string source, bool changes_state = true);
  std::string source;
  std::string sha1;  // lowercase hex
  // With Client's wait_replicas, a WAIT follows every successful run of a script that changes
  // state (a read-only one, or one whose loss does no harm, such as a rate limit, skips it).
  bool changes_state = true;
};

// EVALSHA sha1 numkeys keys... args...: the command an Eval sends first.
std::vector<std::string> EvalShaCommand(const Script& script, const std::vector<std::string>& keys,
                                        const std::vector<std::string>& args);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(net::any_io_executor executor, Options options);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Starts the connect/read/write loops on the executor. Returns at once.
  void Start();
  // Closes the socket, fails pending commands, stops reconnecting. Idempotent; the destructor
  // calls it, so destroy the Connection on the I/O thread or after the io_context has stopped.
  void Stop();
  bool Connected() const;

  // Sends one command; returns its reply (error replies included). Throws Unavailable
  // (std::invalid_argument if args is empty).
  net::awaitable<Value> Command(std::vector<std::string> args);
  // The same, as `co_await c.Command("GET", key)`. Prefer it to Command({...}): GCC 11.2-12
  // reject a braced list inside a co_await expression ("array used as initializer").
  template <typename... Args>
    requires(sizeof...(Args) > 0 && (std::is_convertible_v<Args&&, std::string_view> && ...))
  net::awaitable<Value> Command(Args&&... args) {
    std::vector<std::string> v;
    v.reserve(sizeof...(Args));
    (v.emplace_back(std::forward<Args>(args)), ...);
    return Command(std::move(v));
  }
  // The same with the cluster router's options: `asking` writes ASKING immediately before the
  // command, in the same write and with nothing between them on this connection (an ASK
  // redirection); `still_wanted` as for Eval.
  struct SendOptions {
    StillWanted still_wanted;
    bool asking = false;
  };
  net::awaitable<Value> Send(std::vector<std::string> args, SendOptions options);
  // EVALSHA; on a NOSCRIPT error loads the script (SCRIPT LOAD) and retries once.
  net::awaitable<Value> Eval(const Script& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args, StillWanted still_wanted = {});

  // Counters since construction, for tests and metrics. `writes` counts async_write calls, each
  // carrying every command queued since the previous one, so writes << commands under load.
  struct Stats {
    std::uint64_t commands = 0;  // accepted by Command() (fast failures not counted)
    std::uint64_t writes = 0;
    std::uint64_t replies = 0;
    std::uint64_t connects = 0;  // successful TCP connects
    std::uint64_t not_sent = 0;  // failed in the send queue after queue_timeout
    std::uint64_t timed_out = 0;     // written, not answered within command_timeout
    std::uint64_t late_replies = 0;  // replies to timed-out commands, dropped
    std::uint64_t withdrawn = 0;     // not written: StillWanted said no
    std::string last_error;      // why the last connection attempt or connection failed
  };
  Stats GetStats() const;
  // Commands written and not answered yet; safe to call from any thread (for /metrics).
  std::size_t InFlight() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace ticketing::redis
