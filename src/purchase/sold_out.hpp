#pragma once
// What this process knows about products it cannot sell from right now, so that a stampede on
// a sold-out product is answered without a Redis round trip. Safe from any thread.
//
// Two facts per product:
//  - sold out: no unit available and none in a hold that may come back. The waiting-room
//    ticker refreshes it about every 100 ms.
//  - "available was A": a reserve script's SOLD_OUT reply, or the ticker, saw A units
//    available. A reserve of more than A units is answered SOLD_OUT from it for `ttl` after the
//    command that saw it was sent, so a unit returned on another server is offered again
//    within `ttl` (the same lag the ticker's flag has). A unit returned by this process
//    (cancel, expiry, sync) clears it at once, and a reply to a command sent before that
//    return is not learned. Once the fact is a quarter of `ttl` old, one reserve per `ttl / 4`
//    goes on to Redis anyway and renews the fact with its reply: under a stampede the fact
//    does not run out, which sent every connection's next reserve to Redis at once until a
//    reply came back (~17% of the 100,000 reserves of bench (a), holds still live). A renewal
//    keeps the fact alive if its reply is learned within 3/4 of `ttl` (75 ms at the default
//    100 ms). On a loaded server a reply waits behind every handler ready before it: renewals
//    from the fact's second half only (50 ms) still let 14-18% of bench (a) through.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

namespace ticketing::purchase {

class SoldOutBoard {
 public:
  using Clock = std::chrono::steady_clock;

  // `available_ttl` 0: only the ticker's sold-out flag is used.
  explicit SoldOutBoard(Clock::duration available_ttl = std::chrono::milliseconds(100))
      : ttl_(available_ttl) {}

  // True when a reserve of `quantity` units cannot succeed, as far as this process knows.
  bool CannotReserve(std::int64_t product_id, int quantity, Clock::time_point now) const {
    if (count_.load(std::memory_order_acquire) == 0) return false;
    std::shared_lock lock(mu_);
    auto it = products_.find(product_id);
    if (it == products_.end()) return false;
    const Entry& e = it->second;
    if (e.sold_out) return true;
    if (e.seen < e.returned || e.available >= quantity) return false;
    const auto age = now - e.seen;
    if (age >= ttl_) return false;
    const auto every = ttl_ / 4;
    if (age < every) return true;
    // The one reserve per quarter-ttl that renews the fact (the first to claim the moment).
    const std::int64_t at = now.time_since_epoch().count();
    std::int64_t last = e.renewing.load(std::memory_order_relaxed);
    return !(at - last >= every.count() &&
             e.renewing.compare_exchange_strong(last, at, std::memory_order_relaxed));
  }
  bool CannotReserve(std::int64_t product_id, int quantity) const {
    return CannotReserve(product_id, quantity, Clock::now());
  }

  // True when a script that ran after `since` saw fewer than `quantity` units available: a
  // request that arrived at `since` may be answered SOLD_OUT from it, whatever happened later,
  // because that was the state at a moment between its arrival and now. Used for reserves
  // still waiting to be written (redis::StillWanted), however long they waited.
  bool SeenSoldOutSince(std::int64_t product_id, int quantity, Clock::time_point since) const {
    if (count_.load(std::memory_order_acquire) == 0) return false;
    std::shared_lock lock(mu_);
    auto it = products_.find(product_id);
    if (it == products_.end()) return false;
    const Entry& e = it->second;
    return e.seen >= since && e.seen >= e.returned && e.available < quantity;
  }

  bool IsSoldOut(std::int64_t product_id) const {
    if (count_.load(std::memory_order_acquire) == 0) return false;
    std::shared_lock lock(mu_);
    auto it = products_.find(product_id);
    return it != products_.end() && it->second.sold_out;
  }

  // The ticker's verdict: nothing available and nothing held.
  void Set(std::int64_t product_id, bool sold_out) {
    if (sold_out == IsSoldOut(product_id)) return;
    Update(product_id, [&](Entry& e) { e.sold_out = sold_out; });
  }

  // A script saw `available` units; `sent` is when its command was sent (the fact is at least
  // that fresh).
  void SeenAvailable(std::int64_t product_id, std::int64_t available, Clock::time_point sent) {
    if (ttl_ <= Clock::duration::zero()) return;
    {
      std::shared_lock lock(mu_);
      auto it = products_.find(product_id);
      if (it != products_.end()) {
        const Entry& e = it->second;
        if (sent < e.returned) return;  // older than a return this process made
        // Learned a moment ago: spare the exclusive lock on the stampede's hot path.
        if (e.available == available && e.seen >= e.returned &&
            sent - e.seen < std::chrono::milliseconds(1) && sent >= e.seen) {
          return;
        }
      }
    }
    Update(product_id, [&](Entry& e) {
      if (sent < e.returned || sent < e.seen) return;
      e.available = available;
      e.seen = sent;
    });
  }

  // This process put units back (or changed the stock): forget what it learned.
  void Returned(std::int64_t product_id, Clock::time_point now = Clock::now()) {
    Update(product_id, [&](Entry& e) {
      e.returned = now;
      e.sold_out = false;
    });
  }

  Clock::duration available_ttl() const { return ttl_; }

 private:
  struct Entry {
    bool sold_out = false;
    std::int64_t available = 0;
    Clock::time_point seen{};      // when the command that saw `available` was sent
    Clock::time_point returned{};  // this process's last return of units
    // When a reserve last went on to Redis to renew `available` (Clock ticks; under the
    // shared lock, so atomic).
    mutable std::atomic<std::int64_t> renewing{std::numeric_limits<std::int64_t>::min() / 2};
  };

  template <typename F>
  void Update(std::int64_t product_id, F&& change) {
    std::unique_lock lock(mu_);
    change(products_[product_id]);
    count_.store(products_.size(), std::memory_order_release);
  }

  const Clock::duration ttl_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::int64_t, Entry> products_;
  std::atomic<std::size_t> count_{0};
};

}  // namespace ticketing::purchase
