#include "purchase/rebuild.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "auth/jwt.hpp"
#include "metrics/log.hpp"
#include "purchase/keys.hpp"
#include "purchase/scripts.hpp"

#include <unordered_set>

namespace ticketing::purchase {
namespace {

constexpr std::size_t kOrderLookupBatch = 500;  // reservation ids per IN (...) query
constexpr std::size_t kMarkBatch = 500;          // orders per confirm_committed.lua call
constexpr std::chrono::minutes kGuardTtl{10};     // bounds a guard left by a dead server
// Orders are looked for from an hour before the oldest live hold's reserve: for Redis' clock
// against the database's, and for a hold made before its product's hold time was shortened
// (by up to an hour).
constexpr std::int64_t kClockSlackMs = 3'600'000;

// A locking read sees the latest committed orders. A plain one would read the transaction's
// snapshot, which a consistent read before the product row lock (RebuildProduct's existence
// check) fixes earlier: orders committed while this waited for the lock would be missing, their
// holds counted live, and their units subtracted twice (once in the stock read under the lock,
// once as live holds). Seen in cluster_test mid-sale: 5 units short.
constexpr std::string_view kOrderColumns = "SELECT reservation_id, id, total_price_cents FROM orders";
constexpr std::string_view kLatest = " LOCK IN SHARE MODE";

void AppendRows(const db::Result& r, std::unordered_set<std::string>& seen,
                std::vector<std::string>& out) {
  for (const auto& row : r.rows) {
    auto rid = row.at(0).value_or("");
    if (!seen.insert(rid).second) continue;
    out.push_back(std::move(rid));
    out.push_back(row.at(1).value_or("0"));
    out.push_back(row.at(2).value_or("0"));
  }
}

// Appends (rid, orderId, totalCents) for every committed order that may belong to a hold Redis
// still counts live, without reading every live hold (a sale may have hundreds of thousands):
// - the confirming holds' orders (the confirms in flight, listed in prefix:confirming);
// - any order made since the oldest live hold's reserve (a hold's order comes after it), for a
//   hold that is held again because Redis came back from before its confirm. The oldest live
//   hold is taken to be the one that expires first (lowest in prefix:exp), less kClockSlackMs.
//   One older still (its hold time longer than the product's now by more than that) would be
//   missed: its units then stay out of sale until it ends, and are never sold twice.
// So the count grows with the units the product sold lately, not with the crowd; none at all
// when no hold is live.
void AppendCommitted(db::Connection& c, redis::BlockingConnection& redis,
                     const std::string& prefix, std::int64_t product_id,
                     std::vector<std::string>& out) {
  auto oldest = redis.Command({"ZRANGE", keys::Expiry(prefix), "0", "0", "WITHSCORES"});
  if (oldest.IsError()) throw std::runtime_error("ZRANGE: " + oldest.str);
  if (oldest.elements.size() < 2) return;
  std::unordered_set<std::string> seen;
  auto confirming = redis.Command({"SMEMBERS", prefix + ":confirming"});
  if (confirming.IsError()) throw std::runtime_error("SMEMBERS: " + confirming.str);
  const auto& rids = confirming.elements;
  for (std::size_t at = 0; at < rids.size(); at += kOrderLookupBatch) {
    const std::size_t n = std::min(kOrderLookupBatch, rids.size() - at);
    std::string sql = std::string(kOrderColumns) + " WHERE reservation_id IN (";
    std::vector<db::Param> params;
    params.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      sql += i ? ", ?" : "?";
      params.emplace_back(rids[at + i].str);
    }
    sql += ")";
    sql += kLatest;
    AppendRows(c.Execute(sql, params), seen, out);
  }
  auto created = redis.Command({"HGET", keys::Hold(prefix, oldest.elements[0].str), "created"});
  if (created.IsError()) throw std::runtime_error("HGET: " + created.str);
  // A hold without a reserve time (not written by reserve.lua) cannot bound it: every order.
  const auto since_ms =
      created.IsNil() ? 0 : std::max<std::int64_t>(0, std::stoll(created.str) - kClockSlackMs);
  AppendRows(c.Execute(std::string(kOrderColumns) +
                           // an index range (orders_product_created), not the product's orders
                           " WHERE product_id = ? AND created_at >= FROM_UNIXTIME(?)" +
                           std::string(kLatest),
                       {product_id, since_ms / 1000}),
             seen, out);
}

// `run_id` from an INFO server reply ("" if absent).
std::string RunId(const redis::Value& info) {
  static constexpr std::string_view kField = "run_id:";
  const auto at = info.str.find(kField);
  if (at == std::string::npos) return "";
  const auto from = at + kField.size();
  const auto end = info.str.find_first_of("\r\n", from);
  return info.str.substr(from, end == std::string::npos ? std::string::npos : end - from);
}

}  // namespace

redis::BlockingConnection OpenBlockingRedis(const Options& o) {
  if (o.redis_cluster.empty()) {
    return redis::BlockingConnection(o.redis_host, o.redis_port, o.redis_timeout);
  }
  // A seed may be a master that is down (the failover in progress): try each.
  for (std::size_t i = 0;; ++i) {
    try {
      return redis::BlockingConnection(o.redis_cluster[i].host, o.redis_cluster[i].port,
                                       o.redis_timeout, /*cluster=*/true);
    } catch (const redis::Unavailable&) {
      if (i + 1 == o.redis_cluster.size()) throw;
    }
  }
}

namespace {

// What a measurement and a repair both start from, with the product row locked until the
// caller's transaction ends: the lock keeps every confirm of the product from committing until
// then, so the orders read here are all there are for the holds Redis has now. A confirm that
// committed before the lock but has not finished in Redis is among them: its hold is sold,
// not live.
struct LockedHolds {
  Product product;
  std::string prefix;
  std::vector<std::string> committed;  // (rid, orderId, totalCents) that may be of live holds
};
std::optional<LockedHolds> LockAndReadHolds(db::Connection& c, redis::BlockingConnection& redis,
                                            std::int64_t product_id) {
  auto product = SelectProductForUpdate(c, product_id);
  if (!product) return std::nullopt;
  LockedHolds out{*product, keys::Prefix(product_id), {}};
  AppendCommitted(c, redis, out.prefix, product_id, out.committed);
  return out;
}

}  // namespace

std::optional<Drift> MeasureDrift(db::Connection& c, redis::BlockingConnection& redis,
                                  std::int64_t product_id, std::int64_t walk_max_holds) {
  auto held = LockAndReadHolds(c, redis, product_id);
  if (!held) return std::nullopt;
  const auto& prefix = held->prefix;
  std::vector<std::string> args{prefix, std::to_string(walk_max_holds)};
  for (std::size_t i = 0; i < held->committed.size(); i += 3) args.push_back(held->committed[i]);
  auto reply = redis.Eval(Scripts::Get().stock_check,
                          {keys::Available(prefix), keys::Expiry(prefix), keys::Info(prefix)},
                          args);
  if (reply.IsError() || reply.elements.size() != 6) {
    throw std::runtime_error("stock_check: " + reply.str);
  }
  Drift d;
  d.stock = held->product.available;
  d.available = reply.elements[0].integer;
  d.live_units = reply.elements[1].integer;
  d.held_counter = reply.elements[2].integer;
  d.held_units = reply.elements[3].integer;
  d.in_redis = reply.elements[4].integer == 1;
  d.walked = reply.elements[5].integer == 1;
  return d;
}

std::optional<StockSync> ReconcileProduct(db::Connection& c, redis::BlockingConnection& redis,
                                          std::int64_t product_id,
                                          std::int64_t recount_max_holds) {
  auto held = LockAndReadHolds(c, redis, product_id);
  if (!held) return std::nullopt;
  const auto& product = held->product;
  const auto& prefix = held->prefix;
  // Holds whose order is committed are sold: marked so first, a chunk per call, so that no
  // single call holds Redis for long.
  std::int64_t confirmed = 0;
  const auto& committed = held->committed;
  for (std::size_t at = 0; at < committed.size(); at += 3 * kMarkBatch) {
    const auto end = std::min(committed.size(), at + 3 * kMarkBatch);
    std::vector<std::string> args{prefix};
    args.insert(args.end(), committed.begin() + static_cast<std::ptrdiff_t>(at),
                committed.begin() + static_cast<std::ptrdiff_t>(end));
    auto marked = redis.Eval(Scripts::Get().confirm_committed, {keys::Expiry(prefix)}, args);
    if (marked.IsError()) throw std::runtime_error("confirm_committed: " + marked.str);
    confirmed += marked.integer;
  }
  std::vector<std::string> args{prefix, std::to_string(product.available)};
  auto info = ProductInfoArgs(product);
  args.insert(args.end(), info.begin(), info.end());
  args.push_back(std::to_string(recount_max_holds));
  auto reply = redis.Eval(Scripts::Get().sync_stock,
                          {keys::Available(prefix), keys::Expiry(prefix), keys::Info(prefix)},
                          args);
  if (reply.IsError() || reply.elements.size() != 4) {
    throw std::runtime_error("sync_stock: " + reply.str);
  }
  auto sadd = redis.Command({"SADD", std::string(keys::kProducts), std::to_string(product_id)});
  if (sadd.IsError()) throw std::runtime_error("SADD: " + sadd.str);
  if (confirmed > 0) {
    log::Warn("stale_holds_confirmed", {{"product", product_id}, {"holds", confirmed}});
  }
  return StockSync{reply.elements[0].integer, reply.elements[1].integer, product.available,
                   reply.elements[2].integer};
}

net::awaitable<std::optional<StockSync>> RebuildProduct(db::Pool& db, const Options& options,
                                                        std::int64_t product_id) {
  // On a database worker, never on the I/O thread: the blocking Redis calls happen while the
  // transaction holds the row lock.
  auto synced = co_await db.Run([&options, product_id](db::Connection& c) {
    return db::Transaction(c, [&]() -> std::optional<StockSync> {
      // An unknown id (a made-up reserve) costs one primary-key read, no Redis connection.
      if (c.Execute("SELECT 1 FROM products WHERE id = ?", {product_id}).rows.empty()) return {};
      auto redis = OpenBlockingRedis(options);
      return ReconcileProduct(c, redis, product_id);
    });
  });
  // Whatever this process learned about the product's stock is older than the rebuild.
  if (synced && options.sold_out) options.sold_out->Returned(product_id);
  co_return synced;
}

net::awaitable<bool> RebuildProductIfInDatabase(db::Pool& db, const Options& options,
                                                std::int64_t product_id) {
  auto synced = co_await RebuildProduct(db, options, product_id);
  if (synced) log::Info("product_rebuilt", {{"product", product_id}, {"available", synced->after}});
  co_return synced.has_value();
}

net::awaitable<int> RebuildAllProducts(db::Pool& db, const Options& options) {
  co_return co_await db.Run([&options](db::Connection& c) {
    auto ids = c.Execute("SELECT id FROM products ORDER BY id");
    auto redis = OpenBlockingRedis(options);
    int rebuilt = 0;
    // One transaction per product: a row lock is held only while its product is rebuilt.
    for (const auto& row : ids.rows) {
      const std::int64_t id = std::stoll(row.at(0).value_or("0"));
      if (db::Transaction(c, [&] { return ReconcileProduct(c, redis, id); })) ++rebuilt;
    }
    return rebuilt;
  });
}

bool RedisLossWatch::Verified() const {
  return verified_ && redis_.GetStats().connects == verified_connects_;
}

net::awaitable<bool> RedisLossWatch::CheckCluster(bool force) {
  const auto connects = redis_.GetStats().connects;
  try {
    products_ = co_await db_.Run([](db::Connection& c) {
      std::vector<std::int64_t> ids;
      for (const auto& row : c.Execute("SELECT id FROM products ORDER BY id").rows) {
        ids.push_back(std::stoll(row.at(0).value_or("0")));
      }
      return ids;
    });
  } catch (const std::exception&) {
    if (products_.empty()) throw;  // else check the products known: a lost one shows anyway
  }
  const auto& scripts = Scripts::Get();
  bool verified = true;
  int rebuilt = 0;
  const auto started = std::chrono::steady_clock::now();
  for (const std::int64_t id : products_) {
    const auto prefix = keys::Prefix(id);
    auto seen = co_await redis_.Eval(scripts.product_epoch, redis::List(keys::Epoch(prefix)), {});
    if (seen.IsError() || seen.elements.size() != 2 || seen.elements[1].str.empty()) {
      throw std::runtime_error("product_epoch: " + seen.str);
    }
    const auto& marker = seen.elements[0];
    const std::string run_id = seen.elements[1].str;
    const bool lost = marker.IsNil() || marker.str != run_id;
    if (!lost && !force) continue;
    verified_ = false;  // the sweeper waits until this product is rebuilt
    if (!co_await RebuildProduct(db_, options_, id)) continue;  // gone from the database
    auto marked = co_await redis_.Eval(scripts.product_epoch_mark,
                                       redis::List(keys::Epoch(prefix), keys::Info(prefix)),
                                       redis::List(run_id));
    if (marked.IsError()) throw std::runtime_error("product_epoch_mark: " + marked.str);
    ++rebuilt;
    log::Info("redis_product_rebuilt",
              {{"product", id},
               {"reason", lost ? (marker.IsNil() ? "marker_missing" : "node_changed") : "start"},
               {"recorded", marked.integer == 1}});
    if (marked.integer != 1) verified = false;  // the next check rebuilds it again
  }
  if (!products_.empty()) {
    std::vector<std::string> sadd{"SADD", std::string(keys::kProducts)};
    for (const std::int64_t id : products_) sadd.push_back(std::to_string(id));
    auto added = co_await redis_.Command(std::move(sadd));
    if (added.IsError()) throw std::runtime_error("SADD products: " + added.str);
  }
  if (rebuilt > 0) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    log::Info("redis_rebuilt", {{"products", rebuilt}, {"ms", ms}, {"cluster", true}});
  }
  verified_ = verified && redis_.GetStats().connects == connects;
  verified_connects_ = connects;
  co_return rebuilt > 0;
}

net::awaitable<bool> RedisLossWatch::CheckOnce(bool force) {
  if (redis_.IsCluster()) co_return co_await CheckCluster(force);
  const auto connects = redis_.GetStats().connects;
  // A restart between the two reads shows as another run id; a FLUSHALL between them, as a
  // missing marker at the next check (a flushed Redis has no stale holds to sweep meanwhile).
  auto marker = co_await redis_.Command(redis::List("GET", std::string(kEpochKey)));
  auto info = co_await redis_.Command(redis::List("INFO", "server"));
  if (marker.IsError() || info.IsError()) {
    throw std::runtime_error("redis loss check: " + marker.str + info.str);
  }
  const std::string run_id = RunId(info);
  if (run_id.empty()) throw std::runtime_error("redis loss check: no run_id in INFO server");
  const bool lost = marker.IsNil() || marker.str != run_id;
  verified_ = !lost;
  verified_connects_ = connects;
  if (!lost && !force) co_return false;

  // The guard goes with a FLUSHALL during the rebuild; then the marker is not written and
  // the next check rebuilds again.
  if (guard_.empty()) guard_ = std::string(kEpochKey) + ":guard:" + auth::RandomHex(8);
  const std::string guard = guard_;
  co_await redis_.Command(redis::List("SET", guard, "1", "PX",
                                      std::to_string(std::chrono::milliseconds(kGuardTtl).count())));
  const auto started = std::chrono::steady_clock::now();
  const int products = co_await RebuildAllProducts(db_, options_);
  auto marked = co_await redis_.Eval(Scripts::Get().epoch_mark,
                                     redis::List(std::string(kEpochKey), guard),
                                     redis::List(run_id));
  if (marked.IsError()) throw std::runtime_error("epoch_mark: " + marked.str);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  log::Info("redis_rebuilt", {{"products", products},
                              {"reason", lost ? (marker.IsNil() ? "marker_missing" : "run_id_changed")
                                              : "start"},
                              {"ms", ms},
                              {"recorded", marked.integer == 1}});
  // Verified only if the run we rebuilt is still the one recorded; the next check says.
  verified_ = marked.integer == 1 && redis_.GetStats().connects == connects;
  co_return true;
}

net::awaitable<void> RedisLossWatch::Run() {
  net::steady_timer timer(co_await net::this_coro::executor);
  bool was_failing = false;
  while (!stopped_) {
    if (!redis_.Connected()) {
      // Not connected (yet, or again): nothing to check; the connection reconnects by itself.
      timer.expires_after(std::chrono::milliseconds(50));
      try {
        co_await timer.async_wait(net::use_awaitable);
      } catch (const std::exception&) {
        co_return;
      }
      continue;
    }
    try {
      // No forced rebuild at start: the marker tells whether this Redis run was rebuilt
      // already. A rebuild holds Redis for as long as the scripts walk a product's live holds,
      // and six workers (re)starting mid-sale each forcing one stalled Redis for seconds.
      co_await CheckOnce(false);
      if (was_failing) log::Info("redis_loss_check_recovered");
      was_failing = false;
    } catch (const std::exception& e) {
      if (!was_failing) log::Warn("redis_loss_check_failed", {{"error", e.what()}});
      was_failing = true;
    }
    timer.expires_after(interval_);
    try {
      co_await timer.async_wait(net::use_awaitable);
    } catch (const std::exception&) {
      co_return;  // cancelled: shutting down
    }
  }
}

}  // namespace ticketing::purchase
