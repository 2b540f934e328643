#pragma once
// Products known to be sold out (no unit available and none in a hold that may come back), per
// process. The waiting-room ticker refreshes it about every 100 ms from Redis, so a stampede on
// a sold-out product is answered without a Redis round-trip. Safe from any thread.
#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <unordered_set>

namespace ticketing::purchase {

class SoldOutBoard {
 public:
  bool IsSoldOut(std::int64_t product_id) const {
    if (count_.load(std::memory_order_acquire) == 0) return false;
    std::shared_lock lock(mu_);
    return products_.count(product_id) > 0;
  }

  void Set(std::int64_t product_id, bool sold_out) {
    if (sold_out == IsSoldOut(product_id)) return;
    std::unique_lock lock(mu_);
    if (sold_out)
      products_.insert(product_id);
    else
      products_.erase(product_id);
    count_.store(products_.size(), std::memory_order_release);
  }

 private:
  mutable std::shared_mutex mu_;
  std::unordered_set<std::int64_t> products_;
  std::atomic<std::size_t> count_{0};
};

}  // namespace ticketing::purchase
