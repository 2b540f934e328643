#pragma once
// Returns the units of expired holds within about one sweep interval of their expiry, and
// settles confirms whose server died (lease ran out) by looking up their order in the database.
// Every server runs one; the scripts make concurrent sweepers safe (no unit returned twice).
#include "db/db.hpp"
#include "purchase/sold_out.hpp"
#include "redis/redis_client.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>

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

class Sweeper {
 public:
  Sweeper(redis::Connection& redis, db::Pool& db, SweeperOptions options)
      : redis_(redis), db_(db), options_(options) {}

  // Runs until the coroutine is cancelled or Stop(): one pass every interval, errors logged.
  net::awaitable<void> Run();
  void Stop() { stopped_ = true; }

  // One pass over every product (public for tests).
  net::awaitable<SweepStats> SweepOnce();

 private:
  net::awaitable<SweepStats> SweepProduct(std::int64_t product_id);
  // Settles a claimed confirming hold from the database (see sweeper.cpp).
  net::awaitable<void> Settle(std::int64_t product_id, const std::string& reservation_id,
                              const std::string& lost_lease, const std::string& claim);

  redis::Connection& redis_;
  db::Pool& db_;
  SweeperOptions options_;
  bool stopped_ = false;
};

}  // namespace ticketing::purchase
