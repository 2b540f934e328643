#include "tests/support/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>

#include <optional>

#include <sys/socket.h>
#include <sys/time.h>

namespace ticketing::testing {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

http::request<http::string_body> MakeRequest(const Call& c) {
  http::request<http::string_body> req{http::string_to_verb(c.method), c.target, 11};
  req.set(http::field::host, "127.0.0.1");
  if (!c.token.empty()) req.set(http::field::authorization, "Bearer " + c.token);
  if (!c.body.empty()) req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : c.headers) req.set(name, value);
  req.body() = c.body;
  req.prepare_payload();
  req.keep_alive(true);
  return req;
}

Reply FromResponse(http::response<http::string_body>& res) {
  Reply r;
  r.status = static_cast<int>(res.result_int());
  r.body = std::move(res.body());
  boost::system::error_code ec;
  r.json = boost::json::parse(r.body, ec);
  if (ec) r.json = nullptr;
  return r;
}

}  // namespace

std::string Reply::ErrorCode() const {
  if (!json.is_object()) return "";
  auto* e = json.as_object().if_contains("error");
  if (!e || !e->is_object()) return "";
  auto* c = e->as_object().if_contains("code");
  return c && c->is_string() ? std::string(c->as_string()) : "";
}

struct HttpClient::Impl {
  net::io_context ctx;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
  std::string host;
  std::uint16_t port;
  int timeout_ms = 0;
};

HttpClient::HttpClient(std::uint16_t port, std::string host) : impl_(new Impl) {
  impl_->host = std::move(host);
  impl_->port = port;
}

HttpClient::~HttpClient() { delete impl_; }

void HttpClient::set_timeout_ms(int ms) {
  impl_->timeout_ms = ms;
  impl_->stream.reset();
}

Reply HttpClient::Send(const Call& call) {
  auto req = MakeRequest(call);
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      if (!impl_->stream) {
        impl_->stream.emplace(impl_->ctx);
        impl_->stream->expires_after(std::chrono::seconds(30));
        impl_->stream->connect(tcp::endpoint(net::ip::make_address(impl_->host), impl_->port));
        impl_->buffer.clear();
        if (impl_->timeout_ms > 0) {
          // The blocking reads and writes below ignore the stream's expiry; the socket's own
          // timeouts bound them.
          timeval tv{impl_->timeout_ms / 1000, (impl_->timeout_ms % 1000) * 1000};
          const int fd = impl_->stream->socket().native_handle();
          setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
          setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        }
      }
      http::write(impl_->stream->socket(), req);
      http::response_parser<http::string_body> parser;
      parser.body_limit(64 * 1024 * 1024);
      http::read(impl_->stream->socket(), impl_->buffer, parser);
      auto res = parser.release();
      if (!res.keep_alive()) impl_->stream.reset();
      return FromResponse(res);
    } catch (const std::exception&) {
      impl_->stream.reset();
    }
  }
  return Reply{};
}

std::string HttpClient::Raw(const std::string& bytes) {
  net::io_context ctx;
  beast::tcp_stream s(ctx);
  s.expires_after(std::chrono::seconds(5));
  std::string out;
  try {
    s.connect(tcp::endpoint(net::ip::make_address(impl_->host), impl_->port));
    net::write(s.socket(), net::buffer(bytes));
    char buf[4096];
    boost::system::error_code ec;
    for (;;) {
      std::size_t n = s.socket().read_some(net::buffer(buf), ec);
      out.append(buf, n);
      if (ec) break;
    }
  } catch (const std::exception&) {
  }
  return out;
}

std::vector<Reply> Concurrent(std::uint16_t port, const std::vector<Call>& calls) {
  net::io_context ctx;
  std::vector<Reply> replies(calls.size());
  const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), port);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    net::co_spawn(
        ctx,
        [&, i]() -> net::awaitable<void> {
          constexpr auto tuple = net::as_tuple(net::use_awaitable);
          beast::tcp_stream s(co_await net::this_coro::executor);
          s.expires_after(std::chrono::seconds(60));
          auto [ec] = co_await s.async_connect(ep, tuple);
          if (ec) co_return;
          auto req = MakeRequest(calls[i]);
          auto [wec, wn] = co_await http::async_write(s, req, tuple);
          if (wec) co_return;
          beast::flat_buffer buf;
          http::response<http::string_body> res;
          auto [rec, rn] = co_await http::async_read(s, buf, res, tuple);
          if (rec) co_return;
          replies[i] = FromResponse(res);
        },
        net::detached);
  }
  ctx.run();
  return replies;
}

long long MetricValue(std::uint16_t port, const std::string& series) {
  HttpClient c(port);
  // Anchored at a line start, so a `# HELP name ...` line is never read as the value.
  const auto page = "\n" + c.Get("/metrics").body;
  const auto at = page.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(page.substr(at + series.size() + 2));
}

}  // namespace ticketing::testing
