#pragma once
// HTTP/1.1 server on Beast coroutines: one acceptor per io_context (SO_REUSEPORT spreads
// connections over threads), keep-alive, a deadline on every read and write, a size limit on
// every header and body, a cap on open connections, and a drain on Stop().
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ticketing::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;
// A handler's answer: a response at once, when no I/O was needed (a sold-out reserve,
// GET /health, a 4xx), or a coroutine that will answer. Answering at once costs no coroutine
// frame and no trip through the coroutine machinery (bench/server-cost).
struct Reply {
  Reply(Response now) : now(std::move(now)) {}                  // NOLINT: implicit on purpose
  Reply(net::awaitable<Response> later) : later(std::move(later)) {}  // NOLINT
  std::optional<Response> now;
  std::optional<net::awaitable<Response>> later;  // set when `now` is not
};

// Turns a request (and the TCP peer's address) into a response; must not throw (map failures
// to 5xx itself), and neither may the coroutine it returns.
using Handler = std::function<Reply(Request&, const net::ip::address& peer)>;

// A streamed answer (server-sent events, http/events.hpp): given the connection when a handler
// answered 200 with Content-Type text/event-stream (that answer's head and first bytes); writes
// them itself and returns when the stream ends; the connection is then closed. Streams are not
// requests in flight (a drain does not wait for them); they end when `stopping` turns true.
using StreamHandler = std::function<net::awaitable<void>(beast::tcp_stream&, Response,
                                                         const std::atomic<bool>& stopping)>;

struct ServerOptions {
  std::string address = "0.0.0.0";
  std::uint16_t port = 3000;
  std::chrono::milliseconds idle_timeout{30000};     // waiting for the next request's header
  std::chrono::milliseconds request_timeout{10000};  // reading a body, writing a response
  std::size_t max_body_bytes = 16 * 1024;
  std::size_t max_header_bytes = 8 * 1024;
  int max_connections = 100000;
  // Requests in progress (process-wide) beyond which a new one is answered 503 OVERLOADED at
  // once, instead of queueing work that would time out. 0: no bound.
  int max_in_flight = 20000;
  bool share_port = false;  // join other processes on the port instead of failing
  StreamHandler stream;  // none: such answers are sent as plain responses
  // Test-only fault: every request waits this long (on a timer) before it is handled.
  std::chrono::milliseconds fault_delay{0};
};

class Server {
 public:
  // `make_handler(i)` gives the handler for connections on contexts[i].
  Server(std::vector<net::io_context*> contexts, ServerOptions options,
         std::function<Handler(std::size_t)> make_handler);
  ~Server();

  // Binds and starts accepting; throws std::system_error if the port cannot be bound.
  void Start();
  // Stops accepting; responses from now on close their connection. Returns at once.
  void Stop();
  // Requests being handled or answered right now (for the drain on shutdown: a request counts
  // until its answer is written).
  int InFlight() const { return state_->in_flight.load(); }
  // Connections accepted and not yet closed.
  int Connections() const { return state_->connections.load(); }
  std::uint16_t port() const { return bound_port_; }

  struct State {
    std::atomic<bool> stopping{false};
    std::atomic<int> in_flight{0};
    std::atomic<int> connections{0};
  };

 private:
  struct Shard;
  std::vector<net::io_context*> contexts_;
  ServerOptions options_;
  std::function<Handler(std::size_t)> make_handler_;
  std::shared_ptr<State> state_;
  std::vector<std::shared_ptr<Shard>> shards_;
  std::uint16_t bound_port_ = 0;
};

}  // namespace ticketing::http
