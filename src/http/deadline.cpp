#include "http/deadline.hpp"

namespace ticketing::http {

ConnectionDeadline::ConnectionDeadline(boost::asio::ip::tcp::socket& socket,
                                       Clock::duration period)
    : timer_(socket.get_executor()), socket_(&socket), period_(period) {}

std::shared_ptr<ConnectionDeadline> ConnectionDeadline::Start(
    boost::asio::ip::tcp::socket& socket, Clock::duration period) {
  auto d = std::make_shared<ConnectionDeadline>(socket, period);
  d->Sleep(Clock::now() + period);
  return d;
}

void ConnectionDeadline::Stop() {
  socket_ = nullptr;
  timer_.cancel();
}

void ConnectionDeadline::Sleep(Clock::time_point until) {
  timer_.expires_at(until);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->Wake();
  });
}

void ConnectionDeadline::Wake() {
  if (!socket_) return;
  const auto now = Clock::now();
  if (at_ <= now) {
    boost::system::error_code ignored;
    socket_->close(ignored);
    return;
  }
  // Never past now + period: a deadline set while sleeping is at least that late.
  Sleep(at_ - now < period_ ? at_ : now + period_);
}

}  // namespace ticketing::http
