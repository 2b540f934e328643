#include "redis/redis_client.hpp"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <climits>
#include <deque>
#include <exception>
#include <new>
#include <utility>

namespace ticketing::redis {
namespace {

using Clock = std::chrono::steady_clock;
using tcp = net::ip::tcp;
using Handler = net::any_completion_handler<void(std::exception_ptr, Value)>;

constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);
constexpr std::chrono::milliseconds kInitialBackoff{10};
constexpr std::size_t kReadChunk = std::size_t{64} * 1024;
constexpr std::size_t kMaxIdleBuffer = std::size_t{4}
                                       << 20;  // keep a write buffer this big between bursts

struct ReaderDeleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};
using ReaderPtr = std::unique_ptr<redisReader, ReaderDeleter>;

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

struct CommandDeleter {
  void operator()(char* c) const { redisFreeSdsCommand(c); }
};

// One command in RESP form, as hiredis formatted it (an sds string: redisFormatSdsCommandArgv
// writes the lengths with its own integer formatting, where redisFormatCommandArgv calls
// sprintf once per argument, ~5k instructions of a reserve's ~15 arguments).
struct Encoded {
  std::unique_ptr<char, CommandDeleter> data;
  std::size_t size = 0;
};

// hiredis' RESP form of the `n` arguments `arg(0) .. arg(n - 1)` (string_views).
template <typename Arg>
Encoded EncodeArgs(std::size_t n, Arg arg) {
  if (n == 0) throw std::invalid_argument("redis: empty command");
  if (n > static_cast<std::size_t>(INT_MAX)) throw std::invalid_argument("redis: too many arguments");
  constexpr std::size_t kSmall = 24;
  const char* small_argv[kSmall];
  std::size_t small_len[kSmall];
  std::vector<const char*> big_argv;
  std::vector<std::size_t> big_len;
  const char** argv = small_argv;
  std::size_t* len = small_len;
  if (n > kSmall) {
    big_argv.resize(n);
    big_len.resize(n);
    argv = big_argv.data();
    len = big_len.data();
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view a = arg(i);
    argv[i] = a.data();
    len[i] = a.size();
  }
  sds raw = nullptr;
  int r = redisFormatSdsCommandArgv(&raw, static_cast<int>(n), argv, len);
  Encoded out{std::unique_ptr<char, CommandDeleter>(raw), 0};
  if (r < 0 || raw == nullptr) throw std::bad_alloc();
  out.size = static_cast<std::size_t>(r);
  return out;
}

Encoded Encode(const std::vector<std::string>& args) {
  return EncodeArgs(args.size(), [&](std::size_t i) -> std::string_view { return args[i]; });
}

// EVALSHA sha1 numkeys keys... args..., encoded from the pieces (EvalShaCommand's vector would
// copy every key and argument once more: a reserve's ~15 strings, most of them allocations).
Encoded EncodeEval(const Script& script, const std::vector<std::string>& keys,
                   const std::vector<std::string>& args) {
  char count[24];
  const auto end = std::to_chars(count, count + sizeof count, keys.size()).ptr;
  const std::string_view head[] = {"EVALSHA", script.sha1,
                                   std::string_view(count, static_cast<std::size_t>(end - count))};
  return EncodeArgs(3 + keys.size() + args.size(), [&](std::size_t i) -> std::string_view {
    if (i < 3) return head[i];
    i -= 3;
    return i < keys.size() ? std::string_view(keys[i]) : std::string_view(args[i - keys.size()]);
  });
}

// Completes a handler later, never inline, so a caller's state is never re-entered from inside
// Command(), the reader loop or Stop(). post(ex, h) runs h on h's associated executor (ex is
// only the fallback); posting to the any_completion_executor directly does not compile in 1.81.
void Complete(Handler handler, std::exception_ptr error, Value value,
              const net::any_io_executor& ex) {
  net::post(ex, net::append(std::move(handler), error, std::move(value)));
}

}  // namespace

Value FromReply(const redisReply* reply) {
  if (reply == nullptr) throw std::invalid_argument("redis: null reply");
  const redisReply& r = *reply;
  Value v;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      v.type = Value::Type::kString;
      v.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      v.type = Value::Type::kStatus;
      v.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      v.type = Value::Type::kError;
      v.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      v.type = Value::Type::kInteger;
      v.integer = r.integer;
      break;
    case REDIS_REPLY_NIL:
      v.type = Value::Type::kNil;
      break;
    case REDIS_REPLY_ARRAY:
      v.type = Value::Type::kArray;
      v.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) v.elements.push_back(FromReply(r.element[i]));
      break;
    default:  // hiredis 0.14 has no other types (no RESP3)
      throw std::runtime_error("redis: unknown reply type " + std::to_string(r.type));
  }
  return v;
}

long long Value::AsInt() const {
  if (type == Type::kInteger) return integer;
  if (type == Type::kString && !str.empty()) {
    long long out = 0;
    const char* end = str.data() + str.size();
    auto [ptr, ec] = std::from_chars(str.data(), end, out);
    if (ec == std::errc() && ptr == end) return out;
  }
  throw std::runtime_error("redis: reply is not an integer");
}

Script::Script(std::string src, bool changes) : source(std::move(src)), changes_state(changes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(source.data(), source.size(), md, &md_len, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("redis: SHA1 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  sha1.reserve(std::size_t{md_len} * 2);
  for (unsigned int i = 0; i < md_len; ++i) {
    sha1.push_back(kHex[md[i] >> 4]);
    sha1.push_back(kHex[md[i] & 0xf]);
  }
}

struct Connection::Impl {
  enum class State { kIdle, kConnecting, kConnected, kDisconnected, kStopped };

  // Written to the socket, awaiting its reply.
  struct Pending {
    Handler handler;
    Clock::time_point written;
  };
  // Not written yet.
  struct Queued {
    Encoded command;
    Handler handler;
    Clock::time_point enqueued;
    StillWanted still_wanted;
    bool asking = false;  // write ASKING first; its reply goes to no one
  };

  Impl(net::any_io_executor ex, Options opts)
      : executor_(std::move(ex)),
        options_(std::move(opts)),
        socket_(executor_),
        resolver_(executor_),
        timer_(executor_),
        wake_writer_(executor_),
        watchdog_(executor_),
        read_buf_(new char[kReadChunk]) {
    // Zero or negative timeouts would make the watchdog spin.
    options_.connect_timeout = std::max(options_.connect_timeout, std::chrono::milliseconds(1));
    options_.command_timeout = std::max(options_.command_timeout, std::chrono::milliseconds(1));
    if (options_.queue_timeout.count() <= 0) options_.queue_timeout = options_.command_timeout;
    if (options_.dead_timeout < options_.command_timeout) {
      options_.dead_timeout = 2 * options_.command_timeout;
    }
    options_.max_in_flight = std::max<std::size_t>(options_.max_in_flight, 1);
    options_.max_backoff = std::max(options_.max_backoff, kInitialBackoff);
  }

  // Connect, session, backoff, until Stop(). Holds `self`, so Impl outlives the Connection.
  static net::awaitable<void> Run(std::shared_ptr<Impl> self) {
    std::chrono::milliseconds backoff = kInitialBackoff;
    while (self->state_ != State::kStopped) {
      bool healthy = false;
      try {
        healthy = co_await self->RunOnce();
      } catch (const std::exception& e) {
        self->Fail(std::string("redis: ") + e.what());
      }
      if (self->state_ == State::kStopped) break;
      self->state_ = State::kDisconnected;
      if (healthy) {
        backoff = kInitialBackoff;
        continue;  // the server answered a moment ago: reconnect at once
      }
      self->timer_.expires_after(backoff);
      co_await self->timer_.async_wait(kNoThrow);
      backoff = std::min(backoff * 2, self->options_.max_backoff);
    }
  }

  // One connect and, if it succeeds, one session. Returns whether the session got a reply.
  net::awaitable<bool> RunOnce() {
    state_ = State::kConnecting;
    boost::system::error_code ec = co_await ConnectWithTimeout();
    if (state_ == State::kStopped) co_return false;
    if (ec) {
      Fail("redis: connect to " + options_.host + ":" + std::to_string(options_.port) +
           " failed: " + ec.message());
      co_return false;
    }
    socket_.set_option(tcp::no_delay(true), ec);
    reader_.reset(redisReaderCreate());
    if (!reader_) throw std::bad_alloc();
    session_error_.clear();
    const std::uint64_t replies_before = stats_.replies;
    abandoned_ = 0;
    last_read_ = Clock::now();
    state_ = State::kConnected;
    ++stats_.connects;

    // The first loop to end ends the session (EndSession); the group then cancels the others
    // and waits for them, so no loop of this session survives into the next.
    co_await net::experimental::make_parallel_group(
        net::co_spawn(executor_, ReadLoop(), net::deferred),
        net::co_spawn(executor_, WriteLoop(), net::deferred),
        net::co_spawn(executor_, WatchdogLoop(), net::deferred))
        .async_wait(net::experimental::wait_for_one(), net::use_awaitable);

    if (state_ != State::kStopped) {
      EndSession("redis: connection lost");  // no-op if a loop already ended it
      Fail(session_error_);
    }
    co_return stats_.replies > replies_before;
  }

  net::awaitable<boost::system::error_code> ConnectWithTimeout() {
    boost::system::error_code ignored;
    socket_.close(ignored);
    timer_.expires_after(options_.connect_timeout);
    auto [order, spawn_error, connect_ec, timer_ec] =
        co_await net::experimental::make_parallel_group(
            net::co_spawn(executor_, Connect(), net::deferred), timer_.async_wait(net::deferred))
            .async_wait(net::experimental::wait_for_one(), net::use_awaitable);
    (void)timer_ec;
    if (order[0] == 1) {
      socket_.close(ignored);
      co_return net::error::timed_out;
    }
    if (spawn_error) co_return net::error::fault;
    co_return connect_ec;
  }

  net::awaitable<boost::system::error_code> Connect() {
    boost::system::error_code ec;
    std::vector<tcp::endpoint> endpoints;
    auto address = net::ip::make_address(options_.host, ec);
    if (!ec) {
      endpoints.emplace_back(address, options_.port);
    } else {
      // getaddrinfo ignores the connect timeout's cancellation; Stop() still cancels it.
      auto [rec, results] =
          co_await resolver_.async_resolve(options_.host, std::to_string(options_.port), kNoThrow);
      if (rec) co_return rec;
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }
    auto [cec, endpoint] = co_await net::async_connect(socket_, endpoints, kNoThrow);
    (void)endpoint;
    co_return cec;
  }

  net::awaitable<void> ReadLoop() {
    try {
      for (;;) {
        auto [ec, n] =
            co_await socket_.async_read_some(net::buffer(read_buf_.get(), kReadChunk), kNoThrow);
        if (state_ != State::kConnected) co_return;
        if (ec) {
          co_return EndSession(ec == net::error::eof ? std::string("redis: closed by server")
                                                     : "redis: read failed: " + ec.message());
        }
        last_read_ = Clock::now();
        if (redisReaderFeed(reader_.get(), read_buf_.get(), n) != REDIS_OK) {
          co_return EndSession(std::string("redis: reply reader: ") + reader_->errstr);
        }
        for (;;) {
          void* raw = nullptr;
          if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
            co_return EndSession(std::string("redis: protocol error: ") + reader_->errstr);
          }
          if (raw == nullptr) break;
          ReplyPtr reply(static_cast<redisReply*>(raw));
          if (pending_.empty()) co_return EndSession("redis: reply to no command");
          ++stats_.replies;
          if (abandoned_ > 0) {
            // The caller of this one was told it timed out; the reply keeps the order.
            --abandoned_;
            pending_.pop_front();
            ++stats_.late_replies;
            continue;
          }
          if (!pending_.front().handler) {  // ASKING's reply
            pending_.pop_front();
            continue;
          }
          Value value = FromReply(reply.get());
          value.written_at = pending_.front().written;
          Handler handler = std::move(pending_.front().handler);
          pending_.pop_front();
          Complete(std::move(handler), nullptr, std::move(value), executor_);
        }
        in_flight_.store(pending_.size(), std::memory_order_relaxed);
        // Room in flight again: a writer waiting for it may send the next commands.
        if (writer_idle_ && !queued_.empty()) {
          writer_idle_ = false;
          wake_writer_.cancel();
        }
      }
    } catch (const std::exception& e) {
      EndSession(std::string("redis: ") + e.what());
    }
  }

  net::awaitable<void> WriteLoop() {
    try {
      for (;;) {
        if (queued_.empty() || pending_.size() >= options_.max_in_flight) {
          writer_idle_ = true;
          wake_writer_.expires_at(Clock::time_point::max());
          co_await wake_writer_.async_wait(kNoThrow);
          writer_idle_ = false;
          if (state_ != State::kConnected) co_return;
          continue;
        }
        // Everything queued that fits in flight goes out in one write; each command's deadline
        // starts now.
        writing_.clear();
        const auto now = Clock::now();
        while (!queued_.empty() && pending_.size() < options_.max_in_flight) {
          Queued& q = queued_.front();
          if (q.still_wanted && !q.still_wanted()) {
            ++stats_.withdrawn;
            Complete(std::move(q.handler),
                     std::make_exception_ptr(Withdrawn("redis: withdrawn before it was written")),
                     Value{}, executor_);
            queued_.pop_front();
            continue;
          }
          if (q.asking) {
            // An empty handler: the reader drops ASKING's +OK (or error; the command's own
            // reply then says what happened).
            static constexpr std::string_view kAsking = "*1\r\n$6\r\nASKING\r\n";
            writing_.append(kAsking);
            pending_.push_back(Pending{Handler{}, now});
          }
          writing_.append(q.command.data.get(), q.command.size);
          pending_.push_back(Pending{std::move(q.handler), now});
          queued_.pop_front();
        }
        in_flight_.store(pending_.size(), std::memory_order_relaxed);
        if (writing_.empty()) continue;  // every one was withdrawn
        auto [ec, n] = co_await net::async_write(socket_, net::buffer(writing_), kNoThrow);
        (void)n;
        if (state_ != State::kConnected) co_return;
        if (ec) co_return EndSession("redis: write failed: " + ec.message());
        ++stats_.writes;
        if (writing_.capacity() > kMaxIdleBuffer) std::string().swap(writing_);
      }
    } catch (const std::exception& e) {
      EndSession(std::string("redis: ") + e.what());
    }
  }

  // A written command unanswered for command_timeout fails alone: it is abandoned (its caller
  // told it may have run) and stays in `pending_`, in order, until its reply comes. Written
  // times only grow, so the abandoned ones are always the oldest (`abandoned_` of them). No
  // byte from Redis for dead_timeout while commands wait means the connection or the server is
  // stuck: end the session. A command that waited in the send queue for queue_timeout fails
  // alone too: it was never written, so it did not run.
  net::awaitable<void> WatchdogLoop() {
    try {
      bool unread = false;
      for (;;) {
        auto now = Clock::now();
        auto wake = now + options_.command_timeout;
        if (unread) {
          wake = now + std::chrono::milliseconds(5);  // let the read loop take what is there
        } else if (!pending_.empty()) {
          wake = std::max(pending_.front().written, last_read_) + options_.dead_timeout;
          if (abandoned_ < pending_.size()) {
            wake = std::min(wake, pending_[abandoned_].written + options_.command_timeout);
          }
        }
        if (!queued_.empty() && queued_.front().enqueued + options_.queue_timeout < wake) {
          wake = queued_.front().enqueued + options_.queue_timeout;
        }
        watchdog_.expires_at(wake);
        co_await watchdog_.async_wait(kNoThrow);
        if (state_ != State::kConnected) co_return;
        now = Clock::now();
        // Replies waiting in the socket: this process was slow to read, not Redis to answer.
        boost::system::error_code aec;
        unread = !pending_.empty() && socket_.available(aec) > 0 && !aec;
        if (!unread && !pending_.empty()) {
          if (now - std::max(pending_.front().written, last_read_) >= options_.dead_timeout) {
            co_return EndSession("redis: no reply within " +
                                 std::to_string(options_.dead_timeout.count()) +
                                 " ms (connection stuck)");
          }
          while (abandoned_ < pending_.size() &&
                 now - pending_[abandoned_].written >= options_.command_timeout) {
            ++stats_.timed_out;
            stats_.last_error = "redis: no reply within " +
                                std::to_string(options_.command_timeout.count()) +
                                " ms (command timed out)";
            if (pending_[abandoned_].handler) {
              Complete(std::move(pending_[abandoned_].handler),
                       std::make_exception_ptr(Unavailable(stats_.last_error)), Value{},
                       executor_);
            }
            ++abandoned_;
          }
        }
        while (!queued_.empty() && now - queued_.front().enqueued >= options_.queue_timeout) {
          ++stats_.not_sent;
          Complete(std::move(queued_.front().handler),
                   std::make_exception_ptr(NotSent(
                       "redis: not sent within " + std::to_string(options_.queue_timeout.count()) +
                       " ms (connection busy); the command did not run")),
                   Value{}, executor_);
          queued_.pop_front();
        }
      }
    } catch (const std::exception& e) {
      EndSession(std::string("redis: ") + e.what());
    }
  }

  static net::awaitable<Value> Execute(std::shared_ptr<Impl> self, std::vector<std::string> args,
                                       StillWanted still_wanted = {}, bool asking = false) {
    return ExecuteEncoded(std::move(self), Encode(args), still_wanted, asking);
  }

  static net::awaitable<Value> ExecuteEncoded(std::shared_ptr<Impl> self, Encoded cmd,
                                              StillWanted still_wanted = {}, bool asking = false) {
    if (self->state_ != State::kConnected) throw NotSent("redis: not connected");
    if (self->pending_.size() + self->queued_.size() >= self->options_.max_pending) {
      throw NotSent("redis: too many pending commands");
    }
    Value reply = co_await net::async_initiate<decltype(net::use_awaitable),
                                               void(std::exception_ptr, Value)>(
        [](Handler handler, Impl* impl, Encoded encoded, StillWanted wanted, bool ask) {
          impl->Enqueue(std::move(handler), std::move(encoded), wanted, ask);
        },
        net::use_awaitable, self.get(), std::move(cmd), still_wanted, asking);
    if (IsRefusal(reply)) throw NotSent("redis: " + reply.str);
    co_return reply;
  }

  void Enqueue(Handler handler, Encoded cmd, StillWanted still_wanted = {}, bool asking = false) {
    // Execute checked this already and nothing runs in between today; this is the line that
    // must hold, so check again.
    if (state_ != State::kConnected) {
      Complete(std::move(handler), std::make_exception_ptr(NotSent("redis: not connected")),
               Value{}, executor_);
      return;
    }
    const bool first = queued_.empty();
    queued_.push_back(
        Queued{std::move(cmd), std::move(handler), Clock::now(), still_wanted, asking});
    ++stats_.commands;
    // The watchdog may sleep past this command's queue deadline: let it re-arm.
    if (first) watchdog_.cancel();
    if (writer_idle_) {
      writer_idle_ = false;
      wake_writer_.cancel();
    }
  }

  // Called by the loop that notices the failure: from here on commands fail fast, and closing
  // the socket and the timers makes the other loops return.
  void EndSession(std::string reason) {
    if (state_ != State::kConnected) return;
    state_ = State::kDisconnected;
    session_error_ = std::move(reason);
    boost::system::error_code ignored;
    socket_.close(ignored);
    watchdog_.cancel();
    wake_writer_.cancel();
  }

  // Closes the socket and fails every pending command with Unavailable(reason).
  void Fail(const std::string& reason) {
    stats_.last_error = reason;
    boost::system::error_code ignored;
    socket_.close(ignored);
    watchdog_.cancel();
    wake_writer_.cancel();
    std::deque<Pending> failed;
    failed.swap(pending_);
    in_flight_.store(0, std::memory_order_relaxed);
    // The abandoned ones were answered already.
    failed.erase(failed.begin(), failed.begin() + static_cast<std::ptrdiff_t>(
                                                      std::min(abandoned_, failed.size())));
    abandoned_ = 0;
    std::deque<Queued> unsent;
    unsent.swap(queued_);
    if (!failed.empty()) {
      auto error = std::make_exception_ptr(Unavailable(reason));
      for (auto& p : failed) {
        if (p.handler) Complete(std::move(p.handler), error, Value{}, executor_);
      }
    }
    if (!unsent.empty()) {
      auto error = std::make_exception_ptr(NotSent(reason + " (the command was not sent)"));
      for (auto& q : unsent) Complete(std::move(q.handler), error, Value{}, executor_);
    }
  }

  void Stop() {
    if (state_ == State::kStopped) return;
    state_ = State::kStopped;
    resolver_.cancel();
    timer_.cancel();
    Fail("redis: connection stopped");
  }

  net::any_io_executor executor_;
  Options options_;
  tcp::socket socket_;
  tcp::resolver resolver_;
  net::steady_timer timer_;        // connect timeout, then reconnect backoff
  net::steady_timer wake_writer_;  // the idle writer waits on it; cancel() wakes it
  net::steady_timer watchdog_;
  std::unique_ptr<char[]> read_buf_;
  ReaderPtr reader_;
  State state_ = State::kIdle;
  bool writer_idle_ = false;
  std::deque<Queued> queued_;    // not yet written, oldest first (bounded wait: queue_timeout)
  std::string writing_;          // the batch async_write is sending
  std::deque<Pending> pending_;  // written, oldest first (at most max_in_flight); replies
                                 // complete the front
  std::size_t abandoned_ = 0;    // the oldest pending_ whose callers were told they timed out
  std::atomic<std::size_t> in_flight_{0};  // pending_.size(), readable from any thread
  Clock::time_point last_read_{};  // the last bytes from Redis
  std::string session_error_;
  Stats stats_;
};

Connection::Connection(net::any_io_executor executor, Options options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {}

Connection::~Connection() {
  try {
    Stop();
  } catch (...) {  // only bad_alloc while failing pending commands; nothing better to do here
  }
}

bool IsRefusal(const Value& v) {
  if (!v.IsError()) return false;
  for (std::string_view word : {"LOADING ", "BUSY ", "MASTERDOWN ", "TRYAGAIN ", "CLUSTERDOWN "}) {
    if (v.str.starts_with(word)) return true;
  }
  return false;
}

void Connection::Start() {
  if (impl_->state_ != Impl::State::kIdle) return;
  impl_->state_ = Impl::State::kDisconnected;
  net::co_spawn(impl_->executor_, Impl::Run(impl_), net::detached);
}

void Connection::Stop() { impl_->Stop(); }

bool Connection::Connected() const { return impl_->state_ == Impl::State::kConnected; }

Connection::Stats Connection::GetStats() const { return impl_->stats_; }

std::size_t Connection::InFlight() const {
  return impl_->in_flight_.load(std::memory_order_relaxed);
}

net::awaitable<Value> Connection::Command(std::vector<std::string> args) {
  return Impl::Execute(impl_, std::move(args));
}

net::awaitable<Value> Connection::Send(std::vector<std::string> args, SendOptions options) {
  return Impl::Execute(impl_, std::move(args), options.still_wanted, options.asking);
}

std::vector<std::string> EvalShaCommand(const Script& script, const std::vector<std::string>& keys,
                                        const std::vector<std::string>& args) {
  std::vector<std::string> cmd;
  cmd.reserve(3 + keys.size() + args.size());
  cmd.emplace_back("EVALSHA");
  cmd.push_back(script.sha1);
  cmd.push_back(std::to_string(keys.size()));
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  return cmd;
}

net::awaitable<Value> Connection::Eval(const Script& script, const std::vector<std::string>& keys,
                                       const std::vector<std::string>& args,
                                       StillWanted still_wanted) {
  std::shared_ptr<Impl> impl = impl_;  // `this` may be gone by the time we resume
  auto evalsha = [&] { return EncodeEval(script, keys, args); };
  Value reply = co_await Impl::ExecuteEncoded(impl, evalsha(), still_wanted);
  if (!reply.IsError() || !reply.str.starts_with("NOSCRIPT")) co_return reply;
  std::vector<std::string> load{"SCRIPT", "LOAD", script.source};
  Value loaded = co_await Impl::Execute(impl, std::move(load));
  if (loaded.IsError()) co_return loaded;
  co_return co_await Impl::ExecuteEncoded(impl, evalsha());
}

}  // namespace ticketing::redis
