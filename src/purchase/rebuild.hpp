#pragma once
// Puts Redis right from the database, which is the truth: after Redis lost data (FLUSHALL, an
// AOF that lost its last second, a restore from an older snapshot, a first start), and for
// one product when a request finds it missing. One mechanism for all of these and for stock
// sync: ReconcileProduct, run under the product's row lock so that no confirm commits meanwhile.
#include "db/db.hpp"
#include "purchase/purchase_service.hpp"
#include "redis/blocking_client.hpp"
#include "redis/client.hpp"

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

// A blocking Redis connection for a database worker: to redis_host/redis_port, or to the
// first of the cluster seeds that answers (following redirections). Throws Unavailable.
redis::BlockingConnection OpenBlockingRedis(const Options& options);

// ReconcileProduct walks a product's live holds when it has at most this many (a few
// milliseconds of Redis), and rebuilds the counters from them; above it, the counters decide.
inline constexpr std::int64_t kRecountMaxHolds = 10000;

// Rewrites product `product_id` in Redis from its database row, which this locks (SELECT ...
// FOR UPDATE) until the caller's transaction ends: the info hash (name, price, limit, hold,
// start, waiting room), every live hold whose order exists marked confirmed without returning
// units, available = database stock - units of the remaining live holds, and the product
// listed in ticketing:products. Call inside db::Transaction on a database worker.
// Its cost does not grow with the crowd, so it may run in the busiest second of a sale (an
// admin's stock change, a voided confirm): the orders it looks for are the confirms in flight
// and those made since the oldest live hold's reserve, and it counts the live units from the
// counters the scripts keep (prefix:held, prefix:confirming), walking every live hold (and
// rebuilding the counters from them) only when there are at most `recount_max_holds`.
// nullopt: no such product. Throws on a Redis or database failure.
std::optional<StockSync> ReconcileProduct(db::Connection& c, redis::BlockingConnection& redis,
                                          std::int64_t product_id,
                                          std::int64_t recount_max_holds = kRecountMaxHolds);

// How far Redis is from the database for one product, measured exactly as ReconcileProduct
// would put it right, changing nothing: Redis available + units of live holds whose order is
// not committed, against the database stock; and the held counter against the units of the
// holds in state 'held'. Locks the product row like ReconcileProduct (call inside
// db::Transaction on a database worker), so an in-flight confirm is never mistaken for drift.
// With more than `walk_max_holds` live holds the live units come from the counters (as
// ReconcileProduct counts them then), so the held counter itself is not checked (`walked`).
struct Drift {
  std::int64_t stock = 0;         // database
  std::int64_t available = 0;     // Redis prefix:avail
  std::int64_t live_units = 0;    // Redis, live holds without a committed order
  std::int64_t held_counter = 0;  // Redis prefix:held
  std::int64_t held_units = 0;    // Redis, units of holds in state 'held' without an order
  bool in_redis = true;           // the product's info hash exists
  bool walked = true;             // every live hold read (else the counters: held_units derived)
  // available + live units - stock: > 0, Redis would sell units the database does not have.
  std::int64_t units() const { return available + live_units - stock; }
  bool Any() const { return units() != 0 || held_counter != held_units || !in_redis; }
};
// nullopt: no such product. Throws on a Redis or database failure.
std::optional<Drift> MeasureDrift(db::Connection& c, redis::BlockingConnection& redis,
                                  std::int64_t product_id,
                                  std::int64_t walk_max_holds = kRecountMaxHolds);

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
  RedisLossWatch(redis::Client& redis, db::Pool& db, Options options,
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
  // Standalone: one marker (kEpochKey) for the one server. Cluster: each master can lose data
  // on its own, so each product has its marker (keys::Epoch, checked and set by scripts on the
  // master that holds the product) and only the products whose master lost data are rebuilt;
  // the product list comes from the database, and every product is put back in
  // ticketing:products (which lives on one master and can be lost with it).
  net::awaitable<bool> CheckOnce(bool force);

 private:
  net::awaitable<bool> CheckCluster(bool force);
  std::vector<std::int64_t> products_;  // cluster: the database's, as last read
  redis::Client& redis_;
  db::Pool& db_;
  Options options_;
  std::chrono::milliseconds interval_;
  bool stopped_ = false;
  bool verified_ = false;
  std::uint64_t verified_connects_ = 0;  // the connection's connect count when verified
  std::string guard_;                     // this watch's guard key (see CheckOnce)
};

}  // namespace ticketing::purchase
