#include "loadgen/queue_mode.hpp"

#include "abuse/pow.hpp"
#include "auth/jwt.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <optional>
#include <queue>
#include <random>
#include <thread>

namespace ticketing::loadgen {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
constexpr std::int64_t kMaxSilenceUs = 10'000'000;  // the server drops waiters silent > 30 s
constexpr std::int64_t kRunDeadlineUs = 600'000'000;

std::int64_t Micros(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                               t0)
      .count();
}

struct Buyer {
  std::string user;
  std::string token;
  std::string ticket;
  bool started = false;
  bool joined = false;
  std::int64_t joined_us = -1;
  int failures = 0;  // transport errors and 503s in a row
};

// Buyers by due time. A buyer is taken by one connection at a time and put back with its next
// due time, or finished.
class Scheduler {
 public:
  struct Next {
    enum Kind { kWork, kWait, kDone } kind;
    std::size_t buyer = 0;
    std::int64_t until = 0;
  };

  explicit Scheduler(std::size_t n) : remaining_(n) {
    for (std::size_t i = 0; i < n; ++i) heap_.push({0, i});
  }
  Next Take(std::int64_t now) {
    std::lock_guard lock(mu_);
    if (remaining_ == 0) return {Next::kDone};
    if (heap_.empty()) return {Next::kWait, 0, now + 20'000};  // all in flight
    auto [due, i] = heap_.top();
    if (due > now) return {Next::kWait, 0, due};
    heap_.pop();
    return {Next::kWork, i, 0};
  }
  void Again(std::size_t i, std::int64_t due) {
    std::lock_guard lock(mu_);
    heap_.push({due, i});
  }
  void Finish() {
    std::lock_guard lock(mu_);
    --remaining_;
  }

 private:
  using Item = std::pair<std::int64_t, std::size_t>;
  std::mutex mu_;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> heap_;
  std::size_t remaining_;
};

struct Shared {
  const Options& o;
  std::int64_t product_id;
  double rate;
  std::vector<Buyer> buyers;
  Scheduler scheduler;
  Progress* progress;
  std::chrono::steady_clock::time_point t0;
};

// One keep-alive connection working through due buyers.
class Conn {
 public:
  Conn(Shared& s, RunStats& stats, QueueStats& q, int index, std::uint64_t seed)
      : s_(s), stats_(stats), q_(q), index_(index), rng_(seed) {}

  net::awaitable<void> Run() {
    net::steady_timer timer(co_await net::this_coro::executor);
    for (;;) {
      const std::int64_t now = Micros(s_.t0);
      auto next = s_.scheduler.Take(now);
      if (next.kind == Scheduler::Next::kDone) break;
      if (next.kind == Scheduler::Next::kWait) {
        timer.expires_after(std::chrono::microseconds(std::min<std::int64_t>(
            std::max<std::int64_t>(next.until - now, 1000), 20'000)));
        co_await timer.async_wait(kTuple);
        continue;
      }
      Buyer& b = s_.buyers[next.buyer];
      if (now > kRunDeadlineUs) {
        Finish(b, "deadline");
        continue;
      }
      if (!b.joined) {
        co_await Join(b, next.buyer);
      } else {
        co_await Poll(b, next.buyer);
      }
    }
    if (stream_) {
      beast::error_code ignored;
      stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
  }

 private:
  struct Answer {
    int status = 0;  // 0: transport error
    json::value body;
  };

  http::request<http::string_body> Request(http::verb verb, std::string target,
                                           const Buyer& b, std::string body = "",
                                           const std::string& admission = "") {
    http::request<http::string_body> req{verb, target, 11};
    req.set(http::field::host, s_.o.host);
    req.set(http::field::authorization, "Bearer " + b.token);
    if (!admission.empty()) req.set("X-Admission-Token", admission);
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.keep_alive(true);
    req.prepare_payload();
    return req;
  }

  net::awaitable<Answer> Send(http::request<http::string_body>& req, std::optional<Op> op) {
    Answer a;
    const std::int64_t start = Micros(s_.t0);
    ++stats_.requests;
    if (op) ++stats_.ops[static_cast<int>(*op)].sent;
    if (s_.progress) s_.progress->sent.fetch_add(1, std::memory_order_relaxed);
    const auto timeout = std::chrono::milliseconds(static_cast<int>(s_.o.timeout_seconds * 1000));
    for (int attempt = 0; attempt < 2 && a.status == 0; ++attempt) {
      if (!stream_) {
        stream_.emplace(co_await net::this_coro::executor);
        buffer_.clear();
        beast::error_code ec;
        if (!s_.o.source_addresses.empty()) {
          const auto& src = s_.o.source_addresses[static_cast<std::size_t>(index_) %
                                                  s_.o.source_addresses.size()];
          stream_->socket().open(tcp::v4(), ec);
          if (!ec) stream_->socket().bind(tcp::endpoint(net::ip::make_address(src), 0), ec);
        }
        stream_->expires_after(timeout);
        const tcp::endpoint ep(net::ip::make_address(s_.o.host), s_.o.port);
        auto [cec] = co_await stream_->async_connect(ep, kTuple);
        ++stats_.connects;
        if (ec || cec) {
          ++stats_.transport["connect"];
          stream_.reset();
          continue;
        }
      }
      stream_->expires_after(timeout);
      auto [wec, wn] = co_await http::async_write(*stream_, req, kTuple);
      http::response<http::string_body> res;
      beast::error_code rec;
      if (!wec) std::tie(rec, std::ignore) = co_await http::async_read(*stream_, buffer_, res, kTuple);
      if (wec || rec) {
        // A kept-alive connection the server closed: one fresh try.
        const bool stale = attempt == 0 && (wec == net::error::broken_pipe ||
                                            rec == http::error::end_of_stream ||
                                            rec == net::error::connection_reset);
        if (!stale) ++stats_.transport[(wec ? wec : rec) == beast::error::timeout ? "timeout" : "io"];
        stream_.reset();
        if (!stale) break;
        continue;
      }
      a.status = static_cast<int>(res.result_int());
      boost::system::error_code pec;
      a.body = json::parse(res.body(), pec);
      if (pec) a.body = nullptr;
      if (!res.keep_alive()) stream_.reset();
    }
    const std::int64_t end = Micros(s_.t0);
    if (a.status == 0) {
      if (s_.progress) s_.progress->transport_errors.fetch_add(1, std::memory_order_relaxed);
      co_return a;
    }
    stats_.latency.Record(end - start);
    ++stats_.status[a.status];
    stats_.last_answer_us = std::max(stats_.last_answer_us, end);
    auto& second = stats_.At(end);
    ++second.answered;
    second.latency.Record(end - start);
    if (op) {
      auto& os = stats_.ops[static_cast<int>(*op)];
      ++os.answered;
      os.latency.Record(end - start);
      ++os.status[a.status];
    }
    if (a.status >= 400) ++stats_.errors[Code(a)];
    if (s_.progress) {
      s_.progress->answered.fetch_add(1, std::memory_order_relaxed);
      if (a.status < 600) s_.progress->status[a.status].fetch_add(1, std::memory_order_relaxed);
    }
    co_return a;
  }

  static std::string Code(const Answer& a) {
    if (!a.body.is_object()) return "NO_JSON";
    auto* e = a.body.as_object().if_contains("error");
    if (!e || !e->is_object()) return "NO_CODE";
    auto* c = e->as_object().if_contains("code");
    return c && c->is_string() ? std::string(c->as_string()) : "NO_CODE";
  }
  static std::string Str(const json::value& body, const char* key) {
    if (!body.is_object()) return "";
    auto* v = body.as_object().if_contains(key);
    return v && v->is_string() ? std::string(v->as_string()) : "";
  }
  static double Num(const json::value& body, const char* key) {
    if (!body.is_object()) return 0;
    auto* v = body.as_object().if_contains(key);
    return v && v->is_number() ? v->to_number<double>() : 0;
  }

  // About half the expected wait, 0.5..10 s, +-20% jitter so waiters do not poll in step.
  std::int64_t NextPollUs(const json::value& status) {
    double seconds = 0;
    auto* pre = status.is_object() ? status.as_object().if_contains("preQueue") : nullptr;
    if (pre && pre->is_bool() && pre->as_bool()) {
      seconds = std::clamp(Num(status, "etaSeconds"), 0.5, 10.0);
    } else {
      seconds = std::clamp(Num(status, "aheadOfYou") / std::max(1.0, s_.rate) / 2, 0.5, 10.0);
    }
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    return std::min<std::int64_t>(static_cast<std::int64_t>(seconds * jitter(rng_) * 1e6),
                                  kMaxSilenceUs);
  }

  void Finish(Buyer&, const std::string& outcome) {
    ++q_.outcomes[outcome];
    s_.scheduler.Finish();
  }
  // Transport errors and 503s: try again shortly, a few times.
  void Retry(Buyer& b, std::size_t i) {
    if (++b.failures > 5) return Finish(b, "error");
    s_.scheduler.Again(i, Micros(s_.t0) + 500'000 * b.failures);
  }

  net::awaitable<void> Join(Buyer& b, std::size_t i) {
    auto req = Request(http::verb::post, "/queue/" + std::to_string(s_.product_id) + "/join", b);
    const std::int64_t sent = Micros(s_.t0);
    if (q_.first_join_us < 0 || sent < q_.first_join_us) q_.first_join_us = sent;
    if (!b.started) ++stats_.buyers;
    b.started = true;
    Answer a = co_await Send(req, std::nullopt);
    for (int round = 0; a.status == 428 && round < 3; ++round) {
      // The line asks for a proof of work: solve the challenge, join again with it.
      const std::string challenge = Str(a.body, "challenge");
      const int difficulty = static_cast<int>(Num(a.body, "difficulty"));
      if (challenge.empty()) break;
      const std::int64_t t = Micros(s_.t0);
      const std::string nonce = abuse::SolvePow(challenge, difficulty);
      q_.pow_solve_us += Micros(s_.t0) - t;
      ++q_.pow_solved;
      req.set("X-Pow-Challenge", challenge);
      req.set("X-Pow-Nonce", nonce);
      a = co_await Send(req, std::nullopt);
    }
    const std::int64_t now = Micros(s_.t0);
    if (a.status == 0 || a.status == 503) co_return Retry(b, i);
    ++stats_.buyers_answered;
    stats_.last_buyer_answer_us = std::max(stats_.last_buyer_answer_us, now);
    if (a.status != 200) co_return Finish(b, "error");
    b.failures = 0;
    b.joined = true;
    b.joined_us = now;
    b.ticket = Str(a.body, "ticket");
    ++q_.joined;
    q_.join_latency.Record(now - sent);
    q_.last_join_us = std::max(q_.last_join_us, now);
    co_await Handle(b, i, a.body);
  }

  net::awaitable<void> Poll(Buyer& b, std::size_t i) {
    auto req = Request(http::verb::get,
                       "/queue/" + std::to_string(s_.product_id) + "/status?ticket=" + b.ticket, b);
    Answer a = co_await Send(req, std::nullopt);
    ++q_.polls;
    if (a.status == 0 || a.status == 503) co_return Retry(b, i);
    if (a.status != 200) co_return Finish(b, "error");
    b.failures = 0;
    co_await Handle(b, i, a.body);
  }

  // Acts on a join or status answer.
  net::awaitable<void> Handle(Buyer& b, std::size_t i, const json::value& status) {
    const std::string state = Str(status, "state");
    if (state == "waiting") co_return s_.scheduler.Again(i, Micros(s_.t0) + NextPollUs(status));
    if (state == "soldout") co_return Finish(b, "soldout");
    if (state == "expired") co_return Finish(b, "expired");
    const std::string admission = Str(status, "admissionToken");
    if (state != "admitted" || admission.empty()) co_return Finish(b, "error");
    const std::int64_t waited = Micros(s_.t0) - b.joined_us;
    q_.wait.Record(waited);
    q_.longest_wait_us = std::max(q_.longest_wait_us, waited);
    co_await Buy(b, admission);
  }

  net::awaitable<void> Buy(Buyer& b, const std::string& admission) {
    const int qty = std::max(1, s_.o.quantity);
    auto reserve = Request(http::verb::post, "/purchase/reserve", b,
                           json::serialize(json::object{{"productId", s_.product_id},
                                                        {"quantity", qty}}),
                           admission);
    Answer r = co_await Send(reserve, Op::kReserve);
    const std::int64_t now = Micros(s_.t0);
    if (r.status == 409 && Code(r) == "SOLD_OUT") {
      if (stats_.first_sold_out_us < 0) stats_.first_sold_out_us = now;
      co_return Finish(b, "soldout");
    }
    if (r.status == 403) co_return Finish(b, "not_admitted");
    if (r.status != 201) co_return Finish(b, "error");
    stats_.units_taken += static_cast<std::uint64_t>(qty);
    stats_.taken_us.push_back(now);
    stats_.last_taken_us = std::max(stats_.last_taken_us, now);
    auto confirm = Request(http::verb::post, "/purchase/confirm", b,
                           json::serialize(json::object{{"reservationId", Str(r.body, "reservationId")}}));
    for (int attempt = 0; attempt < 6; ++attempt) {
      Answer c = co_await Send(confirm, Op::kConfirm);
      if (c.status == 200 || c.status == 201) {
        ++stats_.confirms_ok;
        co_return Finish(b, "confirmed");
      }
      const bool retry = c.status == 0 || c.status == 503 ||
                         (c.status == 409 && Code(c) == "CONFIRM_IN_PROGRESS");
      if (!retry) break;
      net::steady_timer t(co_await net::this_coro::executor, std::chrono::milliseconds(200));
      co_await t.async_wait(kTuple);
    }
    Finish(b, "error");
  }

  Shared& s_;
  RunStats& stats_;
  QueueStats& q_;
  int index_;
  std::mt19937_64 rng_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
};

}  // namespace

double QueueStats::JoinsPerSecond() const {
  if (joined == 0 || last_join_us <= first_join_us) return 0;
  return static_cast<double>(joined) * 1e6 / static_cast<double>(last_join_us - first_join_us);
}

void QueueStats::Merge(const QueueStats& o) {
  joined += o.joined;
  if (o.first_join_us >= 0 && (first_join_us < 0 || o.first_join_us < first_join_us)) {
    first_join_us = o.first_join_us;
  }
  last_join_us = std::max(last_join_us, o.last_join_us);
  join_latency.Merge(o.join_latency);
  wait.Merge(o.wait);
  longest_wait_us = std::max(longest_wait_us, o.longest_wait_us);
  polls += o.polls;
  pow_solved += o.pow_solved;
  pow_solve_us += o.pow_solve_us;
  for (const auto& [k, n] : o.outcomes) outcomes[k] += n;
}

json::value QueueStats::ToJson() const {
  json::object outcomes_json;
  for (const auto& [k, n] : outcomes) outcomes_json[k] = n;
  auto ms = [](double us) { return us / 1000.0; };
  return json::object{
      {"joined", joined},
      {"joinsPerSecond", JoinsPerSecond()},
      {"joinLatencyMs",
       {{"p50", ms(join_latency.QuantileMicros(0.5))}, {"p99", ms(join_latency.QuantileMicros(0.99))}}},
      {"waitMs",
       {{"p50", ms(wait.QuantileMicros(0.5))},
        {"p99", ms(wait.QuantileMicros(0.99))},
        {"max", ms(static_cast<double>(longest_wait_us))}}},
      {"polls", polls},
      {"powSolved", pow_solved},
      {"powSolveMsMean", pow_solved ? ms(static_cast<double>(pow_solve_us)) / pow_solved : 0.0},
      {"outcomes", outcomes_json}};
}

RunStats RunQueue(const Options& o, std::int64_t product_id, double admit_per_second,
                  QueueStats& queue, Progress* progress) {
  Shared shared{o, product_id, admit_per_second, {}, Scheduler(static_cast<std::size_t>(o.buyers)),
                progress, std::chrono::steady_clock::now()};
  const auto expiry = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count() +
                      7200;
  auth::JwtCodec jwt(o.secret);
  shared.buyers.resize(static_cast<std::size_t>(o.buyers));
  for (std::int64_t i = 0; i < o.buyers; ++i) {
    auto& b = shared.buyers[static_cast<std::size_t>(i)];
    b.user = o.user_prefix + "q" + std::to_string(i);
    b.token = jwt.Sign({b.user, false}, expiry);
  }
  shared.t0 = std::chrono::steady_clock::now();

  const int threads =
      o.threads > 0 ? o.threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int connections = std::max<int>(1, std::min<std::int64_t>(o.connections, o.buyers));
  std::vector<RunStats> stats(static_cast<std::size_t>(threads));
  std::vector<QueueStats> queues(static_cast<std::size_t>(threads));
  std::vector<std::thread> runners;
  for (int t = 0; t < threads; ++t) {
    runners.emplace_back([&, t] {
      net::io_context ctx(1);
      std::vector<std::unique_ptr<Conn>> conns;
      for (int c = t; c < connections; c += threads) {
        conns.push_back(std::make_unique<Conn>(shared, stats[static_cast<std::size_t>(t)],
                                               queues[static_cast<std::size_t>(t)], c,
                                               o.seed * 1000003 + static_cast<std::uint64_t>(c)));
        Conn* conn = conns.back().get();
        net::co_spawn(ctx, [conn]() -> net::awaitable<void> { co_await conn->Run(); },
                      net::detached);
      }
      ctx.run();
    });
  }
  for (auto& r : runners) r.join();
  RunStats total;
  for (std::size_t t = 0; t < stats.size(); ++t) {
    total.Merge(stats[t]);
    queue.Merge(queues[t]);
  }
  total.elapsed_us = Micros(shared.t0);
  return total;
}

}  // namespace ticketing::loadgen
