#include "queue/ticker.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <random>

#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "purchase/keys.hpp"
#include "queue/scripts.hpp"

namespace ticketing::queue {

using metrics::Event;
using metrics::Registry;

net::awaitable<void> Ticker::Run() {
  net::steady_timer timer(co_await net::this_coro::executor);
  bool was_failing = false;
  bool ticked = false;  // no warning while the first connection is still being made
  std::minstd_rand rng(std::random_device{}());
  std::uniform_int_distribution<int> jitter(0, 40);
  while (!stopped_) {
    // +-20 % jitter: servers ticking in lock-step would always find the same one first.
    const auto next =
        std::chrono::steady_clock::now() + options_.interval * (80 + jitter(rng)) / 100;
    try {
      co_await TickOnce();
      if (was_failing) log::Info("queue_ticker_recovered");
      was_failing = false;
      ticked = true;
    } catch (const std::exception& e) {
      if (!was_failing && ticked) log::Warn("queue_ticker_failed", {{"error", e.what()}});
      was_failing = ticked;
    }
    timer.expires_at(next);
    co_await timer.async_wait(net::use_awaitable);
  }
}

net::awaitable<TickStats> Ticker::TickOnce() {
  TickStats total;
  auto members =
      co_await redis_.Command(redis::List("SMEMBERS", std::string(purchase::keys::kProducts)));
  if (members.IsError()) throw std::runtime_error("SMEMBERS: " + members.str);
  for (const auto& m : members.elements) {
    const std::int64_t product_id = std::stoll(m.str);
    const auto prefix = purchase::keys::Prefix(product_id);
    // Named vectors: GCC 12 cannot keep a braced list's array alive across co_await in a loop.
    std::vector<std::string> keys{purchase::keys::Info(prefix)};
    std::vector<std::string> args{prefix, std::to_string(options_.poll_timeout.count()),
                                  std::to_string(options_.batch)};
    auto reply = co_await redis_.Eval(Scripts::Get().tick, keys, args);
    if (reply.IsError()) throw std::runtime_error("queue tick: " + reply.str);
    if (reply.elements.size() != 5) continue;  // NOT_FOUND: not in Redis (yet)
    const bool sold_out = reply.elements[1].integer == 1;
    sold_out_.Set(product_id, sold_out);
    sold_out_.SeenAvailable(product_id, reply.elements[4].integer, reply.written_at);
    total.sold_out += sold_out ? 1 : 0;
    const auto admitted = reply.elements[2].integer;
    const auto dropped = reply.elements[3].integer;
    if (admitted > 0)
      Registry::Get().Count(Event::kQueueAdmitted, static_cast<std::uint64_t>(admitted));
    if (dropped > 0)
      Registry::Get().Count(Event::kQueueDropped, static_cast<std::uint64_t>(dropped));
    total.admitted += admitted;
    total.dropped += dropped;
  }
  co_return total;
}

}  // namespace ticketing::queue
