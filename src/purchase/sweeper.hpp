#pragma once
// Returns the units of expired holds within about one sweep interval of their expiry, and
// settles confirms whose server died (lease ran out) by looking up their order in the database.
// Every server runs one; the scripts make concurrent sweepers safe (no unit returned twice).
#include "db/db.hpp"
#include "purchase/sold_out.hpp"
#include "redis/client.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "metrics/metrics.hpp"

namespace ticketing::purchase {

namespace net = boost::asio;

struct SweeperOptions {
  std::chrono::milliseconds interval{200};
  int batch = 500;
  std::chrono::milliseconds confirm_lease{30000};
  // False while Redis may have lost data not yet rebuilt (RedisLossWatch::Verified): passes are
  // skipped then, since an expired hold restored from an old snapshot may have been confirmed.
  std::function<bool()> redis_verified;
  // Told when this sweeper returns units (optional).
  SoldOutBoard* sold_out = nullptr;
};

struct SweepStats {
  std::int64_t released_units = 0;
  int settled = 0;
};

// What the sweeper last saw of each product (after its pass over it), for /metrics: live holds,
// units held, the waiting room, and the sweeper's lag (now minus the due time of the hold due
// first, while that is in the past: it grows when passes stop or fall behind).
class SweepFigures : public metrics::Collector {
 public:
  struct Product {
    std::int64_t live_holds = 0;
    std::int64_t first_due_ms = -1;  // Redis time (ms since the epoch); -1: no live hold
    std::int64_t held_units = 0;
    std::int64_t line_length = 0;
    std::int64_t active_admissions = 0;
  };
  void Set(std::int64_t product_id, const Product& p);
  void Render(std::string& out) const override;
  // Seconds since the first live hold fell due (0 when none is due), as of `now_ms`.
  double LagSeconds(std::int64_t now_ms) const;

 private:
  mutable std::mutex mu_;
  std::map<std::int64_t, Product> products_;
};

class Sweeper {
 public:
  Sweeper(redis::Client& redis, db::Pool& db, SweeperOptions options)
      : redis_(redis), db_(db), options_(options) {}

  // Runs until the coroutine is cancelled or Stop(): one pass every interval, errors logged.
  net::awaitable<void> Run();
  void Stop() { stopped_ = true; }

  // One pass over every product (public for tests).
  net::awaitable<SweepStats> SweepOnce();

  // Filled by every pass; add it to the metrics registry to export it.
  const SweepFigures& figures() const { return figures_; }

 private:
  net::awaitable<SweepStats> SweepProduct(std::int64_t product_id);
  // Settles a claimed confirming hold from the database (see sweeper.cpp).
  net::awaitable<void> Settle(std::int64_t product_id, const std::string& reservation_id,
                              const std::string& lost_lease, const std::string& claim);

  redis::Client& redis_;
  db::Pool& db_;
  SweeperOptions options_;
  SweepFigures figures_;
  bool stopped_ = false;
};

}  // namespace ticketing::purchase
