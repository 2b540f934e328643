#include "http/events.hpp"

#include "common/iso_time.hpp"
#include "http/response.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>

#include <charconv>
#include <cmath>

namespace ticketing::http {
namespace {

namespace json = boost::json;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);
// How often a subscriber looks for a new sample (in-process, no I/O).
constexpr std::chrono::milliseconds kLook{200};
constexpr std::uint64_t kIdleEvery = 5;

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One write with its own deadline; false when the client is gone or too slow.
net::awaitable<bool> Send(beast::tcp_stream& stream, const std::string& bytes,
                          std::chrono::seconds timeout) {
  stream.expires_after(timeout);
  auto [ec, n] = co_await net::async_write(stream, net::buffer(bytes), kTuple);
  co_return !ec;
}

std::string HeadBytes(const Response& res) {
  std::string out;
  WriteHead(res, out);
  return out;
}

}  // namespace

EventHub::EventHub(EventHubOptions options) : options_(options) {}

void EventHub::Publish(json::object sample) {
  std::string text = json::serialize(sample);
  std::lock_guard lock(mutex_);
  samples_.push_back(std::move(text));
  while (samples_.size() > options_.history) samples_.pop_front();
  ++sequence_;
}

std::string EventHub::Opening() const {
  std::string out = "retry: 3000\n\nevent: history\ndata: [";
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < samples_.size(); ++i) {
    if (i) out += ',';
    out += samples_[i];
  }
  out += "]\n\n";
  if (!samples_.empty()) out += "event: snapshot\ndata: " + samples_.back() + "\n\n";
  return out;
}

net::awaitable<void> EventHub::Serve(beast::tcp_stream& stream, Response head,
                                     const std::atomic<bool>& stopping) {
  if (subscribers_.fetch_add(1) >= options_.max_subscribers) {
    subscribers_.fetch_sub(1);
    auto res = Error(503, "TOO_MANY_SUBSCRIBERS",
                     "too many dashboards are watching this server; retry later");
    res.set(bhttp::field::retry_after, "5");
    res.keep_alive(false);
    res.prepare_payload();
    const std::string bytes = HeadBytes(res) + res.body();
    co_await Send(stream, bytes, options_.write_timeout);
    co_return;
  }
  struct Leave {
    std::atomic<int>& n;
    ~Leave() { n.fetch_sub(1); }
  } leave{subscribers_};

  // No Content-Length: the body is the stream and ends when the connection closes.
  head.set(bhttp::field::cache_control, "no-store");
  head.set(bhttp::field::connection, "close");
  head.set("X-Accel-Buffering", "no");  // a proxy in front must not buffer it
  std::uint64_t seen = 0;
  {
    std::lock_guard lock(mutex_);
    seen = sequence_;
  }
  std::string opening = HeadBytes(head) + head.body();
  if (!co_await Send(stream, opening, options_.write_timeout)) co_return;

  const auto start = std::chrono::steady_clock::now();
  auto last_write = start;
  net::steady_timer timer(stream.get_executor());
  while (!stopping.load() && !stopped_.load()) {
    timer.expires_after(kLook);
    co_await timer.async_wait(kTuple);
    const auto now = std::chrono::steady_clock::now();
    if (now - start > options_.max_life) break;
    std::string bytes;
    {
      std::lock_guard lock(mutex_);
      if (sequence_ != seen && !samples_.empty()) {
        bytes = "event: snapshot\ndata: " + samples_.back() + "\n\n";
      }
      seen = sequence_;
    }
    if (bytes.empty() && now - last_write >= options_.heartbeat) bytes = ": ping\n\n";
    if (bytes.empty()) continue;
    if (!co_await Send(stream, bytes, options_.write_timeout)) break;
    last_write = now;
  }
  beast::error_code ignored;
  stream.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
}

EventHub::Totals EventHub::RequestTotals(std::string_view text) {
  Totals t;
  constexpr std::string_view kName = "ticketing_http_requests_total{";
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.starts_with(kName)) continue;
    const auto close = line.rfind('}');
    if (close == std::string_view::npos) continue;
    double v = 0;
    std::string_view num = line.substr(close + 1);
    while (!num.empty() && num.front() == ' ') num.remove_prefix(1);
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec != std::errc()) continue;
    t.requests += v;
    if (line.substr(0, close).find("status=\"5") != std::string_view::npos) t.errors_5xx += v;
  }
  return t;
}

net::awaitable<void> EventHub::Run(purchase::Service& purchase, queue::Service* queue) {
  net::steady_timer timer(co_await net::this_coro::executor);
  Totals last;
  auto last_at = std::chrono::steady_clock::now();
  bool have_last = false;
  for (std::uint64_t tick = 0; !stopped_.load(); ++tick) {
    timer.expires_after(options_.interval);
    co_await timer.async_wait(kTuple);
    if (stopped_.load()) break;
    // Unwatched, a sample every kIdleEvery intervals keeps the history (a dashboard opened in
    // the middle of a sale draws it from the start) at a fifth of the cost.
    if (subscribers_.load() == 0 && tick % kIdleEvery != 0) continue;
    json::object sample;
    sample["at"] = FormatIsoUtcMs(NowMs());
    const auto now = std::chrono::steady_clock::now();
    const Totals totals = RequestTotals(metrics::Registry::Get().Render());
    const double seconds = std::chrono::duration<double>(now - last_at).count();
    double rps = 0, errors = 0;
    if (have_last && seconds > 0) {
      rps = std::max(0.0, totals.requests - last.requests) / seconds;
      errors = std::max(0.0, totals.errors_5xx - last.errors_5xx) / seconds;
    }
    last = totals;
    last_at = now;
    have_last = true;
    sample["requestsPerSecond"] = std::round(rps * 10) / 10;
    sample["errors5xxPerSecond"] = std::round(errors * 10) / 10;
    sample["requests5xx"] = totals.errors_5xx;
    json::array products;
    try {
      const int limit = static_cast<int>(options_.max_products);
      auto page = co_await purchase.ListProducts(0, limit);
      for (const auto& p : page.value.items) {
        auto f = co_await purchase.GetProductFigures(p.id);
        if (f.outcome != purchase::Outcome::kOk) continue;
        json::object o;
        o["id"] = p.id;
        o["name"] = p.name;
        o["paused"] = f.value.product.paused;
        o["totalStock"] = f.value.product.total_stock;
        o["available"] = f.value.product.available;
        o["held"] = f.value.held;
        o["confirming"] = f.value.confirming;
        o["sold"] = f.value.sold;
        o["orders"] = f.value.orders;
        o["databaseStock"] = f.value.database_stock;
        o["line"] = nullptr;
        if (queue && p.queue && p.queue->enabled) {
          auto q = co_await queue->Info(p.id);
          if (q.outcome == purchase::Outcome::kOk) {
            json::object line;
            line["length"] = q.value.length;
            line["admitted"] = q.value.admitted;
            line["active"] = q.value.active;
            line["dropped"] = q.value.dropped;
            line["soldOut"] = q.value.sold_out;
            o["line"] = std::move(line);
          }
        }
        products.push_back(std::move(o));
      }
    } catch (const std::exception& e) {
      // Redis or the database did not answer: the dashboard shows it, the stream goes on.
      sample["error"] = e.what();
      log::Warn("events_sample_failed", {{"error", e.what()}});
    }
    sample["products"] = std::move(products);
    Publish(std::move(sample));
  }
}

}  // namespace ticketing::http
