// The server's accept loop over real loopback sockets: connections already waiting in the
// kernel's queue are taken in a burst per wake-up, and the connection cap still holds.
#include "http/server.hpp"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <string>
#include <vector>

namespace ticketing::http {
namespace {

using tcp = net::ip::tcp;

Handler Hello() {
  return [](Request&, const net::ip::address&) -> net::awaitable<Response> {
    Response res{bhttp::status::ok, 11};
    res.body() = "hello";
    co_return res;
  };
}

// `n` connections completed by the kernel (so waiting in the listen queue) before the
// server's io_context runs a single handler.
std::vector<tcp::socket> ConnectAll(net::io_context& client, std::uint16_t port, int n) {
  std::vector<tcp::socket> socks;
  for (int i = 0; i < n; ++i) {
    socks.emplace_back(client);
    socks.back().connect({net::ip::make_address("127.0.0.1"), port});
  }
  return socks;
}

// The answer to one GET on `s`, or what came before the connection ended.
std::string Get(tcp::socket& s) {
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  boost::system::error_code ec;
  net::write(s, net::buffer(request), ec);
  std::string got;
  char buf[512];
  while (!ec && got.find("hello") == std::string::npos) {
    const auto n = s.read_some(net::buffer(buf), ec);
    got.append(buf, n);
  }
  return got;
}

ServerOptions Loopback() {
  ServerOptions so;
  so.address = "127.0.0.1";
  so.port = 0;
  return so;
}

// Before, each accept's completion waited its turn behind every handler ready on the thread,
// so under load a connection sat in the kernel's queue, its first request unread, for up to
// seconds (bench/RESULTS.md). Now one wake-up takes up to 64 waiting connections: here, 100
// waiting connections are 64 or more after a handful of handlers, where one accept per
// handler would need at least 64.
TEST(ServerAccept, TakesTheWaitingConnectionsInABurstPerWakeUp) {
  net::io_context ctx;
  Server server({&ctx}, Loopback(), [](std::size_t) { return Hello(); });
  server.Start();
  net::io_context client;
  auto socks = ConnectAll(client, server.port(), 100);

  int handlers = 0;
  while (server.Connections() < 64 && handlers < 10) handlers += static_cast<int>(ctx.run_one());
  EXPECT_GE(server.Connections(), 64) << "after " << handlers << " handlers";

  // Every one of them, burst or not, is served.
  std::thread io([&] { ctx.run(); });
  for (auto& s : socks) EXPECT_NE(Get(s).find("HTTP/1.1 200"), std::string::npos);
  EXPECT_EQ(server.Connections(), 100);
  server.Stop();
  for (auto& s : socks) s.close();
  io.join();
}

// The cap holds inside a burst: past it, a waiting connection is closed unanswered.
TEST(ServerAccept, ConnectionsPastTheCapAreClosedEvenInABurst) {
  net::io_context ctx;
  auto so = Loopback();
  so.max_connections = 10;
  Server server({&ctx}, so, [](std::size_t) { return Hello(); });
  server.Start();
  net::io_context client;
  auto socks = ConnectAll(client, server.port(), 30);
  std::thread io([&] { ctx.run(); });

  int served = 0, closed = 0;
  for (auto& s : socks) {
    const auto got = Get(s);
    if (got.find("HTTP/1.1 200") != std::string::npos) ++served;
    else if (got.empty()) ++closed;
  }
  EXPECT_EQ(served, 10);
  EXPECT_EQ(closed, 20);
  server.Stop();
  for (auto& s : socks) s.close();
  io.join();
}

}  // namespace
}  // namespace ticketing::http
