#include "loadgen/engine.hpp"

#include "auth/jwt.hpp"
#include "loadgen/open_loop.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace ticketing::loadgen {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

std::int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The string value of "key":"..." in a compact JSON body (the server's serializer adds no
// spaces); empty when absent. Enough for reservationId and error.code, and far cheaper than a
// full parse on the load generator's hot path.
std::string JsonString(const std::string& body, std::string_view key) {
  std::string needle = "\"" + std::string(key) + "\":\"";
  auto p = body.find(needle);
  if (p == std::string::npos) return {};
  p += needle.size();
  auto e = body.find('"', p);
  if (e == std::string::npos) return {};
  return body.substr(p, e - p);
}

// State shared by every thread of this process.
struct Shared {
  const Options& o;
  EngineParams params;
  auth::JwtCodec jwt;
  tcp::endpoint server;
  std::vector<net::ip::address> sources;
  std::string host_header;
  std::string product;
  std::int64_t token_exp = 0;
  std::int64_t my_connections = 0;
  std::atomic<std::int64_t> next_buyer{0};
  std::atomic<std::int64_t> t0_ns{0};
  std::atomic<std::int64_t> deadline_ns{INT64_MAX};
  std::atomic<std::int64_t> connect_settled{0};  // connections open or given up (first time)
  std::atomic<std::int64_t> connect_open{0};
  // Open loop (--rate): the schedule, and the lanes of every process (each deals its share).
  ArrivalSchedule schedule{1, 0};
  int lanes_total = 1;

  explicit Shared(const EngineParams& p) : o(*p.options), params(p), jwt(o.secret) {}
  bool Open() const { return o.rate > 0; }

  std::int64_t Micros() const { return (NowNs() - t0_ns.load(std::memory_order_relaxed)) / 1000; }

  // Global id of this process' next buyer, or -1 when the run is over.
  std::int64_t NextBuyer() {
    if (NowNs() >= deadline_ns.load(std::memory_order_relaxed)) return -1;
    auto k = next_buyer.fetch_add(1, std::memory_order_relaxed);
    auto id = k * params.worker_count + params.worker_index;
    return id < o.buyers ? id : -1;
  }
};

struct Arrival {
  std::int64_t id = 0;      // global arrival number = buyer id
  std::int64_t due_ns = 0;  // NowNs() clock
};

// One I/O thread.
struct Lane {
  net::io_context ioc{1};
  RunStats stats;
  // Open loop: arrivals due and not yet taken by a connection, connections waiting for one (a
  // cancelled timer wakes each), and whether every arrival of this lane has been dealt.
  int index = 0;  // global lane number (open loop)
  std::deque<Arrival> due;
  std::deque<std::shared_ptr<net::steady_timer>> idle;
  bool dealt = false;
  int connecting = 0;
  // Connections waiting for a connect slot, woken in order (a cancelled timer each).
  std::deque<std::shared_ptr<net::steady_timer>> connect_waiters;
  bool go = false;
  net::steady_timer go_timer{ioc, Clock::time_point::max()};
};

class Conn {
 public:
  Conn(Shared& s, Lane& lane, std::optional<net::ip::address> source)
      : s_(s), lane_(lane), source_(std::move(source)) {}

  net::awaitable<void> Run();

 private:
  net::awaitable<bool> Connect();
  net::awaitable<bool> ConnectWithRetries();
  // Sends `request` and reads the answer; returns the status (0: transport error).
  // `due_ns` > 0: the request of an open-loop arrival due then (latency counts from it).
  net::awaitable<int> Send(Op op, const std::string& request, std::string& body,
                           std::int64_t due_ns = 0);
  net::awaitable<void> Buyer(std::int64_t id, std::int64_t due_ns = 0);
  void Close();
  void Transport(const char* kind);
  std::string Post(std::string_view target, const std::string& token, const std::string& body);

  Shared& s_;
  Lane& lane_;
  std::optional<net::ip::address> source_;
  std::optional<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  bool open_ = false;
};

net::awaitable<void> RunConn(std::shared_ptr<Conn> c) { co_await c->Run(); }

void Conn::Transport(const char* kind) {
  ++lane_.stats.transport[kind];
  s_.params.progress->transport_errors.fetch_add(1, std::memory_order_relaxed);
}

void Conn::Close() {
  if (stream_) {
    boost::system::error_code ec;
    stream_->socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_->socket().close(ec);
    stream_.reset();
  }
  buffer_.clear();
  if (open_) {
    open_ = false;
    s_.params.progress->Closed();
  }
}

net::awaitable<bool> Conn::Connect() {
  auto ex = co_await net::this_coro::executor;
  if (lane_.connecting >= s_.o.max_connecting) {
    auto slot = std::make_shared<net::steady_timer>(ex, Clock::time_point::max());
    lane_.connect_waiters.push_back(slot);
    co_await slot->async_wait(kTuple);  // the finishing connect hands its slot over
  } else {
    ++lane_.connecting;
  }
  stream_.emplace(ex);
  auto& sock = stream_->socket();
  boost::system::error_code ec;
  sock.open(tcp::v4(), ec);
  if (!ec && source_) {
    // Defer the port choice to connect(): ports are then unique per (source, destination)
    // rather than per source, and binding does not exhaust them early.
    int one = 1;
    setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    tcp::endpoint local(*source_, 0);
    sock.bind(local, ec);
  }
  if (!ec) {
    stream_->expires_after(std::chrono::microseconds(
        static_cast<std::int64_t>(s_.o.timeout_seconds * 1e6)));
    auto [cec] = co_await stream_->async_connect(s_.server, kTuple);
    ec = cec;
  }
  if (lane_.connect_waiters.empty()) {
    --lane_.connecting;
  } else {
    lane_.connect_waiters.front()->cancel();
    lane_.connect_waiters.pop_front();
  }
  if (ec) {
    Transport("connect");
    stream_.reset();
    co_return false;
  }
  sock.set_option(tcp::no_delay(true), ec);
  open_ = true;
  ++lane_.stats.connects;
  s_.params.progress->Opened();
  co_return true;
}

net::awaitable<bool> Conn::ConnectWithRetries() {
  auto ex = co_await net::this_coro::executor;
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (co_await Connect()) co_return true;
    net::steady_timer wait(ex, std::chrono::milliseconds(100 * (attempt + 1)));
    co_await wait.async_wait(kTuple);
  }
  co_return false;
}

std::string Conn::Post(std::string_view target, const std::string& token,
                       const std::string& body) {
  std::string r;
  r.reserve(256 + token.size() + body.size());
  r.append("POST ").append(target).append(" HTTP/1.1\r\nHost: ").append(s_.host_header);
  r.append("\r\nAuthorization: Bearer ").append(token);
  r.append("\r\nContent-Type: application/json\r\nContent-Length: ");
  r.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  return r;
}

net::awaitable<int> Conn::Send(Op op, const std::string& request, std::string& body,
                              std::int64_t due_ns) {
  auto& stats = lane_.stats;
  auto& ops = stats.ops[static_cast<std::size_t>(op)];
  auto& progress = *s_.params.progress;
  if (!open_) {
    if (!co_await ConnectWithRetries()) co_return 0;
  }
  ++ops.sent;
  ++stats.requests;
  progress.sent.fetch_add(1, std::memory_order_relaxed);
  const auto start = NowNs();
  const auto timeout =
      std::chrono::microseconds(static_cast<std::int64_t>(s_.o.timeout_seconds * 1e6));
  stream_->expires_after(timeout);
  auto [wec, written] = co_await net::async_write(*stream_, net::buffer(request), kTuple);
  boost::system::error_code ec = wec;
  int status = 0;
  bool keep_alive = true;
  if (!ec) {
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(1 << 20);
    auto [rec, read] = co_await bhttp::async_read(*stream_, buffer_, parser, kTuple);
    ec = rec;
    if (!ec) {
      status = static_cast<int>(parser.get().result_int());
      keep_alive = parser.get().keep_alive();
      body = std::move(parser.get().body());
    }
  }
  if (ec) {
    if (ec == beast::error::timeout) Transport("timeout");
    else if (ec == bhttp::error::end_of_stream || ec == net::error::eof ||
             ec == net::error::connection_reset || ec == net::error::broken_pipe ||
             ec == bhttp::error::partial_message)
      Transport("closed");
    else Transport("io");
    Close();
    co_return 0;
  }
  const auto end = NowNs();
  auto latency = (end - start) / 1000;
  const auto at = s_.Micros();
  ++ops.answered;
  ++ops.status[status];
  ++stats.status[status];
  auto& slot = stats.At(at);
  ++slot.answered;
  if (!s_.Open()) {
    stats.latency.Record(latency);
  } else if (due_ns > 0) {
    const auto m = MeasureArrival(due_ns, start, end);
    stats.service_latency.Record(m.service);
    latency = m.corrected;
    stats.latency.Record(latency);
  }
  ops.latency.Record(latency);
  slot.latency.Record(latency);
  stats.last_answer_us = std::max(stats.last_answer_us, at);
  if (status >= 300) {
    auto code = JsonString(body, "code");
    ++stats.errors[code.empty() ? std::string("HTTP_") + std::to_string(status) : code];
  }
  progress.answered.fetch_add(1, std::memory_order_relaxed);
  if (status >= 0 && status < 600) progress.status[status].fetch_add(1, std::memory_order_relaxed);
  if (!keep_alive) Close();
  co_return status;
}

net::awaitable<void> Conn::Buyer(std::int64_t id, std::int64_t due_ns) {
  auto& stats = lane_.stats;
  if (!s_.Open()) ++stats.buyers;
  std::string body;
  if (s_.o.mode == Mode::kGet) {
    std::string request = "GET " + s_.o.path + " HTTP/1.1\r\nHost: " + s_.host_header + "\r\n\r\n";
    int status = co_await Send(Op::kGet, request, body, due_ns);
    if (status != 0) {
      ++stats.buyers_answered;
      stats.last_buyer_answer_us = std::max(stats.last_buyer_answer_us, s_.Micros());
    }
    co_return;
  }
  auth::Identity who;
  who.user = s_.o.user_prefix + std::to_string(id);
  const std::string token = s_.jwt.Sign(who, s_.token_exp);
  const std::string reserve_body =
      "{\"productId\":" + s_.product + ",\"quantity\":" + std::to_string(s_.o.quantity) + "}";
  const std::string reserve = Post("/purchase/reserve", token, reserve_body);
  const int status = co_await Send(Op::kReserve, reserve, body, due_ns);
  if (status == 0) co_return;
  const auto at = s_.Micros();
  ++stats.buyers_answered;
  stats.last_buyer_answer_us = std::max(stats.last_buyer_answer_us, at);
  if (status == 409 && stats.first_sold_out_us < 0 && JsonString(body, "code") == "SOLD_OUT") {
    stats.first_sold_out_us = at;
  }
  if (status != 201) co_return;
  stats.units_taken += static_cast<std::uint64_t>(s_.o.quantity);
  stats.last_taken_us = std::max(stats.last_taken_us, at);
  stats.taken_us.push_back(at);
  const std::string rid = JsonString(body, "reservationId");
  const std::string rid_body = "{\"reservationId\":\"" + rid + "\"}";
  const double draw = Draw(s_.o.seed, id);
  if (draw < s_.o.confirm) {
    const std::string confirm = Post("/purchase/confirm", token, rid_body);
    const int st = co_await Send(Op::kConfirm, confirm, body);
    if (st == 200 || st == 201) ++stats.confirms_ok;
  } else if (draw < s_.o.confirm + s_.o.cancel) {
    const std::string cancel = Post("/purchase/cancel", token, rid_body);
    const int st = co_await Send(Op::kCancel, cancel, body);
    if (st == 200) ++stats.cancels_ok;
  }
}

net::awaitable<void> Conn::Run() {
  const bool ok = co_await ConnectWithRetries();
  s_.connect_settled.fetch_add(1);
  if (ok) s_.connect_open.fetch_add(1);
  if (s_.o.connect_first && !lane_.go) {
    co_await lane_.go_timer.async_wait(kTuple);
  }
  if (ok && !s_.Open()) {
    for (;;) {
      const auto id = s_.NextBuyer();
      if (id < 0) break;
      co_await Buyer(id);
    }
  }
  if (ok && s_.Open()) {
    auto ex = co_await net::this_coro::executor;
    for (;;) {
      if (lane_.due.empty()) {
        if (lane_.dealt) break;
        auto wake = std::make_shared<net::steady_timer>(ex, Clock::time_point::max());
        lane_.idle.push_back(wake);
        co_await wake->async_wait(kTuple);
        continue;
      }
      const Arrival a = lane_.due.front();
      lane_.due.pop_front();
      lane_.stats.start_lag.Record(std::max<std::int64_t>(0, NowNs() - a.due_ns) / 1000);
      co_await Buyer(a.id, a.due_ns);
    }
  }
  Close();
}

// Open loop: deals this lane's arrivals at their due times to idle connections, or queues them
// (a late start) when every connection of the lane is busy.
net::awaitable<void> Deal(Shared& s, Lane& lane) {
  net::steady_timer timer(lane.ioc);
  const std::int64_t t0 = s.t0_ns.load();
  // Let the connections released with this lane's start queue up as idle first.
  timer.expires_after(std::chrono::milliseconds(0));
  co_await timer.async_wait(kTuple);
  for (auto i = s.schedule.First(lane.index); i >= 0; i = s.schedule.Next(i, s.lanes_total)) {
    const std::int64_t due = t0 + s.schedule.DueNs(i);
    if (NowNs() < due) {
      timer.expires_at(Clock::time_point(std::chrono::nanoseconds(due)));
      co_await timer.async_wait(kTuple);
    }
    ++lane.stats.arrivals;
    ++lane.stats.buyers;
    Arrival a;
    a.id = i;
    a.due_ns = due;
    lane.due.push_back(a);
    if (lane.idle.empty()) {
      ++lane.stats.late_starts;
    } else {
      lane.idle.front()->cancel();
      lane.idle.pop_front();
    }
  }
  lane.dealt = true;
  for (auto& w : lane.idle) w->cancel();
  lane.idle.clear();
}

}  // namespace

double Draw(std::uint64_t seed, std::int64_t id) {
  // splitmix64 of (seed, id): independent of which connection or process runs the buyer.
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(id) + 1;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) * (1.0 / 9007199254740992.0);
}

RunStats RunEngine(const EngineParams& params) {
  Shared s(params);
  const Options& o = s.o;
  s.server = tcp::endpoint(net::ip::make_address(o.host), o.port);
  for (const auto& a : o.source_addresses) s.sources.push_back(net::ip::make_address(a));
  s.host_header = o.host + ":" + std::to_string(o.port);
  s.product = std::to_string(params.product_id);
  s.token_exp = UnixNow() + 24 * 3600;

  const int k = params.worker_count, i = params.worker_index;
  s.my_connections = o.connections / k + (i < o.connections % k ? 1 : 0);
  int threads = o.threads;
  if (threads <= 0) {
    int cores = static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
    threads = std::max(1, cores / k);
  }
  threads = static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(threads, s.my_connections)));
  if (s.Open()) {
    // Every process must have as many lanes (the arrivals are dealt over all of them), and
    // every lane at least one connection.
    threads = static_cast<int>(std::max<std::int64_t>(
        1, std::min<std::int64_t>(threads, o.connections / k)));
    s.lanes_total = threads * k;
    s.schedule =
        ArrivalSchedule(o.rate, ArrivalSchedule::Total(o.rate, o.duration_seconds, o.buyers));
  }

  std::vector<std::unique_ptr<Lane>> lanes;
  for (int t = 0; t < threads; ++t) {
    lanes.push_back(std::make_unique<Lane>());
    lanes.back()->index = t * k + i;
  }
  for (std::int64_t c = 0; c < s.my_connections; ++c) {
    // Global connection number: spreads source addresses evenly over all processes.
    const std::int64_t global = c * k + i;
    std::optional<net::ip::address> source;
    if (!s.sources.empty()) source = s.sources[static_cast<std::size_t>(global) % s.sources.size()];
    auto& lane = *lanes[static_cast<std::size_t>(c % threads)];
    auto conn = std::make_shared<Conn>(s, lane, source);
    net::co_spawn(lane.ioc, RunConn(std::move(conn)), net::detached);
  }

  const auto start_load = [&] {
    s.t0_ns = NowNs();
    if (o.duration_seconds > 0 && !s.Open()) {
      s.deadline_ns = s.t0_ns.load() + static_cast<std::int64_t>(o.duration_seconds * 1e9);
    }
  };
  if (!o.connect_first) start_load();
  std::vector<std::thread> workers;
  for (auto& lane : lanes) workers.emplace_back([&l = *lane] { l.ioc.run(); });
  if (o.connect_first) {
    while (s.connect_settled.load() < s.my_connections) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (params.barrier) params.barrier(s.connect_open.load());
    start_load();
    for (auto& lane : lanes) {
      net::post(lane->ioc, [&l = *lane] {
        l.go = true;
        l.go_timer.cancel();
      });
      if (s.Open()) net::co_spawn(lane->ioc, Deal(s, *lane), net::detached);
    }
  }
  for (auto& w : workers) w.join();
  RunStats total;
  for (auto& lane : lanes) total.Merge(lane->stats);
  total.elapsed_us = s.Micros();
  return total;
}

}  // namespace ticketing::loadgen
