#pragma once
// Puts Redis right from the database, which is the truth: after Redis lost data (FLUSHALL, an
// AOF that lost its last second, a restore from an older snapshot, a first start), and for
// one product when a request finds it missing. One mechanism for all of these and for stock
// sync: ReconcileProduct, run under the product's row lock so that no confirm commits meanwhile.
#include "db/db.hpp"
#include "purchase/purchase_service.hpp"
#include "redis/blocking_client.hpp"
#include "redis/redis_client.hpp"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ticketing::purchase {

// Marks the Redis run whose data was last rebuilt from the database: its value is that run's
// `run_id` (INFO server). Missing (flushed) or another run id (restarted from an AOF/RDB):
// Redis lost data since, and may hold stale holds and counters.
inline constexpr std::string_view kEpochKey = "{ticketing}:epoch";

// Rewrites product `product_id` in Redis from its database row, which this locks (SELECT ...
// FOR UPDATE) until the caller's transaction ends: the info hash (name, price, limit, hold,
// start, waiting room), every live hold whose order exists marked confirmed without returning
// units, available = database stock - units of the remaining live holds, the held counter,
// and the product listed in ticketing:products. Call inside db::Transaction on a database
// worker. nullopt: no such product. Throws on a Redis or database failure.
std::optional<StockSync> ReconcileProduct(db::Connection& c, redis::BlockingConnection& redis,
                                          std::int64_t product_id);

// ReconcileProduct in its own transaction on a database worker. nullopt: no such product.
net::awaitable<std::optional<StockSync>> RebuildProduct(db::Pool& db, const Options& options,
                                                        std::int64_t product_id);

// For a product that Redis does not know: true if the database has it (it is then rebuilt in
// Redis), false if not. Throws when either store cannot answer.
net::awaitable<bool> RebuildProductIfInDatabase(db::Pool& db, const Options& options,
                                                std::int64_t product_id);

// Reconciles every database product, each in its own transaction. Returns how many.
net::awaitable<int> RebuildAllProducts(db::Pool& db, const Options& options);

// Watches for Redis losing data and rebuilds every product when it did: at start, then every
// `interval` it compares kEpochKey with Redis' run id. Runs on one server's I/O thread (shard 0)
// with that thread's connection; any number of servers may run one (the row locks serialise
// their rebuilds per product).
class RedisLossWatch {
 public:
  RedisLossWatch(redis::Connection& redis, db::Pool& db, Options options,
                 std::chrono::milliseconds interval = std::chrono::seconds(1))
      : redis_(redis), db_(db), options_(std::move(options)), interval_(interval) {}

  // Until Stop(): the check at once, then every interval; a full rebuild whenever the marker
  // says this Redis run was not rebuilt (retried until the database answers). Never throws.
  net::awaitable<void> Run();
  void Stop() { stopped_ = true; }

  // False while Redis is known, or may be, to have lost data not rebuilt yet (also after the
  // connection to it was re-made, until the next check): a sweeper must not return units
  // then, since a hold restored from an older snapshot may have been confirmed since.
  bool Verified() const;

  // One check; rebuilds if Redis lost data or `force`. Returns true if it rebuilt.
  net::awaitable<bool> CheckOnce(bool force);

 private:
  redis::Connection& redis_;
  db::Pool& db_;
  Options options_;
  std::chrono::milliseconds interval_;
  bool stopped_ = false;
  bool verified_ = false;
  std::uint64_t verified_connects_ = 0;  // the connection's connect count when verified
  std::string guard_;                     // this watch's guard key (see CheckOnce)
};

}  // namespace ticketing::purchase
