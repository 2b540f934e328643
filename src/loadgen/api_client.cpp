#include "loadgen/api_client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <optional>

namespace ticketing::loadgen {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

struct ApiClient::Impl {
  std::string host;
  std::uint16_t port;
  std::chrono::milliseconds timeout;
  net::io_context ioc;
  std::optional<tcp::socket> socket;
  boost::beast::flat_buffer buffer;

  void Open() {
    socket.emplace(ioc);
    tcp::endpoint ep(net::ip::make_address(host), port);
    socket->connect(ep);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    setsockopt(socket->native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(socket->native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    buffer.clear();
  }

  HttpAnswer Once(const std::string& method, const std::string& target, const std::string& body,
                  const std::string& token) {
    if (!socket) Open();
    bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
    req.set(bhttp::field::host, host + ":" + std::to_string(port));
    if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
    if (!body.empty()) {
      req.set(bhttp::field::content_type, "application/json");
      req.body() = body;
    }
    req.prepare_payload();
    bhttp::write(*socket, req);
    bhttp::response<bhttp::string_body> res;
    bhttp::read(*socket, buffer, res);
    if (!res.keep_alive()) socket.reset();
    return {static_cast<int>(res.result_int()), std::move(res.body())};
  }
};

ApiClient::ApiClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->timeout = timeout;
}

ApiClient::~ApiClient() = default;

HttpAnswer ApiClient::Send(const std::string& method, const std::string& target,
                           const std::string& body, const std::string& token) {
  std::string last_error;
  for (int attempt = 0; attempt < 2; ++attempt) {
    try {
      return impl_->Once(method, target, body, token);
    } catch (const std::exception& e) {
      impl_->socket.reset();
      last_error = e.what();
    }
  }
  return {0, last_error};
}

}  // namespace ticketing::loadgen
