#include "tests/chaos/fault_proxy.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <chrono>
#include <list>
#include <mutex>
#include <thread>

namespace ticketing::chaos {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

struct Shared {
  std::atomic<int> latency_ms{0};
  std::atomic<bool> blackhole{false};
};

// One proxied connection: two pumps (client -> upstream, upstream -> client) that each read a
// chunk, wait the configured latency and write it on, one chunk at a time. Callbacks rather
// than coroutines: GCC 12 miscompiles some co_await expressions.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(net::io_context& io, tcp::socket client, Shared& shared)
      : client_(std::move(client)), upstream_(io), shared_(shared), timers_{net::steady_timer(io),
                                                                           net::steady_timer(io)} {}

  void Start(std::uint16_t upstream_port) {
    if (shared_.blackhole) {
      // A partition: the client's connect succeeded (to us), nothing ever comes back.
      Pump(0, client_, upstream_);
      return;
    }
    auto self = shared_from_this();
    upstream_.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), upstream_port),
                            [self](const error_code& ec) {
                              if (ec) return self->Close();
                              self->Pump(0, self->client_, self->upstream_);
                              self->Pump(1, self->upstream_, self->client_);
                            });
  }

  void Close() {
    error_code ignored;
    client_.close(ignored);
    upstream_.close(ignored);
    for (auto& t : timers_) t.cancel();
  }

 private:
  void Pump(int dir, tcp::socket& from, tcp::socket& to) {
    auto self = shared_from_this();
    from.async_read_some(net::buffer(buf_[dir]), [self, dir, &from, &to](const error_code& ec,
                                                                         std::size_t n) {
      if (ec) return self->Close();
      if (self->shared_.blackhole) return self->Pump(dir, from, to);  // swallowed
      const int delay = self->shared_.latency_ms;
      if (delay <= 0) return self->Forward(dir, from, to, n);
      self->timers_[dir].expires_after(std::chrono::milliseconds(delay));
      self->timers_[dir].async_wait([self, dir, &from, &to, n](const error_code& tec) {
        if (tec) return self->Close();
        self->Forward(dir, from, to, n);
      });
    });
  }

  void Forward(int dir, tcp::socket& from, tcp::socket& to, std::size_t n) {
    auto self = shared_from_this();
    net::async_write(to, net::buffer(buf_[dir].data(), n),
                     [self, dir, &from, &to](const error_code& ec, std::size_t) {
                       if (ec) return self->Close();
                       self->Pump(dir, from, to);
                     });
  }

  tcp::socket client_;
  tcp::socket upstream_;
  Shared& shared_;
  std::array<net::steady_timer, 2> timers_;
  std::array<std::array<char, 16384>, 2> buf_{};
};

}  // namespace

struct FaultProxy::Impl {
  net::io_context io;
  tcp::acceptor acceptor{io};
  Shared shared;
  std::uint16_t upstream_port = 0;
  std::uint16_t port = 0;
  std::string name;
  std::mutex mu;
  std::list<std::weak_ptr<Session>> sessions;  // guarded by mu
  std::atomic<std::uint64_t> accepted{0};
  std::thread thread;

  void Accept() {
    acceptor.async_accept([this](const error_code& ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) {
        ++accepted;
        auto s = std::make_shared<Session>(io, std::move(socket), shared);
        {
          std::lock_guard lock(mu);
          sessions.remove_if([](const auto& w) { return w.expired(); });
          sessions.push_back(s);
        }
        s->Start(upstream_port);
      }
      Accept();
    });
  }

  void CloseAll() {
    net::post(io, [this] {
      std::lock_guard lock(mu);
      for (auto& w : sessions) {
        if (auto s = w.lock()) s->Close();
      }
      sessions.clear();
    });
  }
};

FaultProxy::FaultProxy(std::uint16_t upstream_port, std::string name)
    : impl_(std::make_unique<Impl>()) {
  impl_->upstream_port = upstream_port;
  impl_->name = std::move(name);
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->Accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

FaultProxy::~FaultProxy() {
  net::post(impl_->io, [this] {
    error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->CloseAll();
  // Sessions end once their sockets are closed; stop() bounds the wait regardless.
  net::post(impl_->io, [this] { impl_->io.stop(); });
  impl_->thread.join();
}

std::uint16_t FaultProxy::port() const { return impl_->port; }
const std::string& FaultProxy::name() const { return impl_->name; }
void FaultProxy::SetLatencyMs(int ms) { impl_->shared.latency_ms = ms; }
void FaultProxy::DropAll() { impl_->CloseAll(); }
std::uint64_t FaultProxy::connections() const { return impl_->accepted; }

void FaultProxy::SetBlackhole(bool on) {
  const bool was = impl_->shared.blackhole.exchange(on);
  // Connections that swallowed bytes are desynchronised (a request lost, its successor's
  // answer would be taken for it): end them, as TCP would after retransmissions fail.
  if (was && !on) impl_->CloseAll();
}

void FaultProxy::Heal() {
  impl_->shared.latency_ms = 0;
  SetBlackhole(false);
}

}  // namespace ticketing::chaos
