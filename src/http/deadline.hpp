#pragma once
// The deadline of one connection's reads and writes, kept by one timer that moves only when it
// fires. Setting or clearing the deadline is a store.
//
// beast::tcp_stream arms a timer before every read and write and cancels it after: three timer
// arms and cancels per request, about 3.6% of the server's samples under load
// (bench/RESULTS.md). Here the timer never sleeps longer than `period`, the shortest timeout the
// connection sets, so any deadline set later lies at or after the timer's expiry and is seen in
// time: when the timer fires before the deadline it sleeps again until the deadline (or for
// another period), and once the deadline has passed it closes the socket, which ends the
// pending read or write with an error. A connection's timer wakes at most once per period
// while nothing is late (every 10 s with the default timeouts).
//
// Everything runs on the connection's one I/O thread (io_context per core): no locks.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>

namespace ticketing::http {

class ConnectionDeadline : public std::enable_shared_from_this<ConnectionDeadline> {
 public:
  using Clock = std::chrono::steady_clock;

  // Watches `socket` until Stop(); `period` > 0 must not exceed any duration given to Set().
  static std::shared_ptr<ConnectionDeadline> Start(boost::asio::ip::tcp::socket& socket,
                                                   Clock::duration period);

  // The socket is closed once `d` from now has passed, unless Set or Clear is called before.
  void Set(Clock::duration d) { at_ = Clock::now() + d; }
  // No deadline (while a handler works: its own calls have theirs).
  void Clear() { at_ = Clock::time_point::max(); }
  // Forgets the socket (which may be destroyed after) and cancels the timer.
  void Stop();

  ConnectionDeadline(boost::asio::ip::tcp::socket& socket, Clock::duration period);

 private:
  void Sleep(Clock::time_point until);
  void Wake();

  boost::asio::steady_timer timer_;
  boost::asio::ip::tcp::socket* socket_;
  Clock::duration period_;
  Clock::time_point at_ = Clock::time_point::max();
};

}  // namespace ticketing::http
