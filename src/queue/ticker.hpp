#pragma once
// Advances every waiting room and refreshes the process's sold-out flags, once per interval.
// Every server runs one; the tick script is atomic and reads shared counters in Redis, so
// several servers advancing the same line together never pass its rate or caps.
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>

#include "purchase/sold_out.hpp"
#include "redis/client.hpp"

namespace ticketing::queue {

namespace net = boost::asio;

struct TickerOptions {
  std::chrono::milliseconds interval{100};
  std::chrono::milliseconds poll_timeout{30000};  // a waiter silent this long loses the place
  int batch = 5000;                               // admissions / drops per product per tick
};

struct TickStats {
  std::int64_t admitted = 0;
  std::int64_t dropped = 0;
  int sold_out = 0;  // products flagged sold out
};

class Ticker {
 public:
  Ticker(redis::Client& redis, purchase::SoldOutBoard& sold_out, TickerOptions options)
      : redis_(redis), sold_out_(sold_out), options_(options) {}

  // Runs until Stop(): one pass every interval, errors logged.
  net::awaitable<void> Run();
  void Stop() { stopped_ = true; }

  // One pass over every product.
  net::awaitable<TickStats> TickOnce();

 private:
  redis::Client& redis_;
  purchase::SoldOutBoard& sold_out_;
  TickerOptions options_;
  bool stopped_ = false;
};

}  // namespace ticketing::queue
