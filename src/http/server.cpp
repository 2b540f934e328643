#include "http/server.hpp"

#include "http/deadline.hpp"
#include "http/response.hpp"
#include "http/trace.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <string>

namespace ticketing::http {
namespace {

using tcp = net::ip::tcp;
constexpr auto kTuple = net::as_tuple(net::use_awaitable);

// Closes with a response for a request that could not be read (too large, malformed).
net::awaitable<void> RejectAndClose(beast::tcp_stream& stream, ConnectionDeadline& deadline,
                                    Response res, std::chrono::milliseconds timeout) {
  res.keep_alive(false);
  res.prepare_payload();
  deadline.Set(timeout);
  co_await bhttp::async_write(stream, res, kTuple);
}

// Parses what `buffer` holds of a request whose header is read: most often its whole body,
// which came with the header. Beast's async_read would parse the same bytes, then post its
// completion and resume the session once more (bench/RESULTS.md, stop 25). Leaves `ec` clear
// when the parser only needs more bytes (async_read reads them); a parse error, body_limit
// included, is the one async_read would give.
void ParseBuffered(bhttp::request_parser<bhttp::string_body>& parser, beast::flat_buffer& buffer,
                   beast::error_code& ec) {
  while (!parser.is_done() && buffer.size() > 0) {
    const std::size_t used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == bhttp::error::need_more) {
      ec = {};
      return;
    }
    if (ec || used == 0) return;
  }
}

// `trace`: the slot this connection's executor makes current (see http/trace.hpp).
net::awaitable<void> Session(tcp::socket socket, Handler& handler, ServerOptions options,
                             std::shared_ptr<Server::State> state,
                             std::shared_ptr<TraceSlot> trace) {
  auto& connections = metrics::Registry::Get().open_connections();
  connections.Add(1);
  struct Done {
    metrics::Gauge& g;
    std::shared_ptr<Server::State> s;
    ~Done() {
      g.Add(-1);
      s->connections.fetch_sub(1);
    }
  } done{connections, state};

  beast::error_code peer_ec;
  const net::ip::address peer = socket.remote_endpoint(peer_ec).address();
  // Its own deadlines, not the stream's: tcp_stream would arm and cancel a timer for every
  // read and write (http/deadline.hpp).
  beast::tcp_stream stream(std::move(socket));
  const auto deadline = ConnectionDeadline::Start(
      stream.socket(), std::min(options.idle_timeout, options.request_timeout));
  struct StopDeadline {
    ConnectionDeadline& d;
    ~StopDeadline() { d.Stop(); }
  } stop_deadline{*deadline};
  beast::flat_buffer buffer(8192);
  std::string head;  // the response's status line and fields, reused
  for (;;) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.body_limit(options.max_body_bytes);
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));

    deadline->Set(options.idle_timeout);
    auto [ec, n] = co_await bhttp::async_read_header(stream, buffer, parser, kTuple);
    if (!ec && !parser.is_done()) ParseBuffered(parser, buffer, ec);
    if (!ec && !parser.is_done()) {
      deadline->Set(options.request_timeout);
      std::tie(ec, n) = co_await bhttp::async_read(stream, buffer, parser, kTuple);
    }
    if (ec == bhttp::error::body_limit) {
      co_await RejectAndClose(stream, *deadline,
                              Error(413, "PAYLOAD_TOO_LARGE",
                                    "request body exceeds " +
                                        std::to_string(options.max_body_bytes) + " bytes"),
                              options.request_timeout);
      break;
    }
    if (ec == bhttp::error::header_limit) {
      co_await RejectAndClose(stream, *deadline,
                              Error(431, "HEADERS_TOO_LARGE", "request header too large"),
                              options.request_timeout);
      break;
    }
    if (ec && ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category() &&
        ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      co_await RejectAndClose(stream, *deadline,
                              Error(400, "BAD_REQUEST", "malformed HTTP request"),
                              options.request_timeout);
      break;
    }
    if (ec) break;  // closed, timed out, reset

    deadline->Clear();
    Request req = parser.release();
    // Current from here on: this coroutine runs only through the TracedExecutor of `trace`.
    BeginTrace(req, trace->ctx);
    Response res;
    // Counted until the response is written, so the drain on SIGTERM never stops the I/O
    // threads between a request's handling and its answer.
    bool counted = true;
    if (options.max_in_flight > 0 && state->in_flight.fetch_add(1) >= options.max_in_flight) {
      // Cheap, at once, before any Redis or database work: the caller retries later.
      state->in_flight.fetch_sub(1);
      counted = false;
      metrics::Registry::Get().Count(metrics::Event::kOverloaded);
      res = Error(503, "OVERLOADED", "the server is at its limit of requests in progress; retry");
      res.set(bhttp::field::retry_after, "1");
    } else {
      if (options.max_in_flight <= 0) state->in_flight.fetch_add(1);
      if (options.fault_delay.count() > 0) {
        net::steady_timer delay(stream.get_executor(), options.fault_delay);
        co_await delay.async_wait(kTuple);
      }
      Reply reply = handler(req, peer);
      // Not `now ? .. : co_await ..`: GCC 12 miscompiles co_await inside a conditional.
      if (reply.now) {
        res = std::move(*reply.now);
      } else {
        res = co_await std::move(*reply.later);
      }
    }
    if (options.stream && res.result() == bhttp::status::ok &&
        res[bhttp::field::content_type] == "text/event-stream") {
      // A stream is not a request in progress: it must not hold up the drain on SIGTERM (it
      // ends on `stopping`) nor count against HTTP_MAX_IN_FLIGHT.
      if (counted) state->in_flight.fetch_sub(1);
      res.set(bhttp::field::server, kServerName);
      SetTraceHeaders(trace->ctx, res);
      co_await options.stream(stream, std::move(res), state->stopping);
      break;
    }
    res.keep_alive(req.keep_alive() && !state->stopping.load());
    deadline->Set(options.request_timeout);
    // The fields of every answer go straight into its head: set as fields, they cost three
    // allocations and field-list inserts per answer (bench/server-cost).
    WriteServerHead(res, trace->ctx, head);
    // Named, not a braced list inside co_await (GCC 12, see redis::List).
    const std::array<net::const_buffer, 2> wire{net::buffer(head), net::buffer(res.body())};
    auto [wec, wn] = co_await net::async_write(stream, wire, kTuple);
    if (counted) state->in_flight.fetch_sub(1);
    trace->ctx.valid = false;
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

// Connections taken from the kernel's queue per wake-up of a shard's accept loop.
constexpr int kAcceptBurst = 64;

// Serves an accepted connection on `executor` with `handler`, or closes it when the server
// holds its maximum.
void Admit(const net::io_context::executor_type& executor, Handler& handler, tcp::socket socket,
           const ServerOptions& options, const std::shared_ptr<Server::State>& state) {
  if (state->connections.fetch_add(1) >= options.max_connections) {
    state->connections.fetch_sub(1);
    beast::error_code ignored;
    socket.close(ignored);
    return;
  }
  beast::error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  // Every handler of the connection runs through this executor (and so with the current
  // request's trace context), its I/O objects keep the plain one.
  auto trace = std::make_shared<TraceSlot>();
  net::co_spawn(TracedExecutor(executor, trace),
                Session(std::move(socket), handler, options, state, trace), net::detached);
}

}  // namespace

struct Server::Shard {
  Shard(net::io_context& ctx, Handler h)
      : executor(ctx.get_executor()), acceptor(ctx), handler(std::move(h)) {}
  net::io_context::executor_type executor;
  tcp::acceptor acceptor;
  Handler handler;
};

Server::Server(std::vector<net::io_context*> contexts, ServerOptions options,
               std::function<Handler(std::size_t)> make_handler)
    : contexts_(std::move(contexts)),
      options_(std::move(options)),
      make_handler_(std::move(make_handler)),
      state_(std::make_shared<State>()) {}

Server::~Server() = default;

void Server::Start() {
  auto endpoint = tcp::endpoint(net::ip::make_address(options_.address), options_.port);
  if (options_.port != 0 && !options_.share_port) {
    // SO_REUSEPORT would let this process join another one already listening here (same
    // user): two servers silently splitting one port. A plain bind first refuses that, unless
    // sharing was asked for.
    tcp::acceptor probe(*contexts_[0]);
    probe.open(endpoint.protocol());
    probe.set_option(tcp::acceptor::reuse_address(true));
    probe.bind(endpoint);  // throws "Address already in use"
  }
  for (std::size_t i = 0; i < contexts_.size(); ++i) {
    auto shard = std::make_shared<Shard>(*contexts_[i], make_handler_(i));
    auto& acc = shard->acceptor;
    acc.open(endpoint.protocol());
    acc.set_option(tcp::acceptor::reuse_address(true));
    acc.set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    if (i > 0) endpoint.port(bound_port_);  // port 0: every shard shares the first one's port
    acc.bind(endpoint);
    acc.listen(4096);
    acc.non_blocking(true);  // the burst of synchronous accepts below never waits
    bound_port_ = acc.local_endpoint().port();
    shards_.push_back(shard);

    net::co_spawn(
        *contexts_[i],
        [shard, options = options_, state = state_]() -> net::awaitable<void> {
          for (;;) {
            auto [ec, socket] = co_await shard->acceptor.async_accept(kTuple);
            if (ec == net::error::operation_aborted || state->stopping.load()) co_return;
            if (ec) {
              // Out of file descriptors and the like: back off briefly instead of spinning.
              log::Warn("accept_failed", {{"error", ec.message()}});
              net::steady_timer t(shard->acceptor.get_executor(), std::chrono::milliseconds(50));
              co_await t.async_wait(kTuple);
              continue;
            }
            Admit(shard->executor, shard->handler, std::move(socket), options, state);
            // Then every connection already waiting, up to a bound, without a round trip
            // through the io_context each: a completed accept is queued behind every handler
            // ready on the thread, so under load one accept per round left connections in the
            // kernel's queue, their first requests unread, for seconds (bench/RESULTS.md).
            for (int n = 1; n < kAcceptBurst && !state->stopping.load(); ++n) {
              tcp::socket more = shard->acceptor.accept(ec);
              if (ec) break;  // would_block: none left (any other error: the next async accept)
              Admit(shard->executor, shard->handler, std::move(more), options, state);
            }
          }
        },
        net::detached);
  }
}

void Server::Stop() {
  state_->stopping = true;
  for (auto& shard : shards_) {
    net::post(shard->acceptor.get_executor(), [shard] {
      beast::error_code ignored;
      shard->acceptor.close(ignored);
    });
  }
}

}  // namespace ticketing::http
