#include "purchase/reconciler.hpp"

#include "auth/jwt.hpp"
#include "metrics/log.hpp"
#include "purchase/keys.hpp"
#include "purchase/scripts.hpp"
#include "purchase/sold_out.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <vector>

namespace ticketing::purchase {
namespace {

// Long enough that a round (and a slow scrape of the lease) does not lose it between renewals;
// short enough that a dead leader is replaced within a few intervals.
std::chrono::milliseconds LeaseTtl(std::chrono::milliseconds interval) {
  return std::max(std::chrono::milliseconds(1000), 3 * interval);
}

void Counter(std::string& out, const char* name, const char* help, std::uint64_t value) {
  out.append("# HELP ").append(name).append(" ").append(help).append("\n# TYPE ");
  out.append(name).append(" counter\n").append(name).append(" ");
  out.append(std::to_string(value)).append("\n");
}

}  // namespace

Reconciler::Reconciler(redis::Client& redis, db::Pool& db, Options purchase_options,
                       ReconcilerOptions options)
    : redis_(redis),
      db_(db),
      purchase_options_(std::move(purchase_options)),
      options_(std::move(options)),
      token_(auth::RandomHex(16)) {}

ReconcileRound Reconciler::Round(db::Connection& c, bool full) {
  ReconcileRound r;
  r.leader = true;
  auto redis = OpenBlockingRedis(purchase_options_);
  const auto& scripts = Scripts::Get();
  auto rows = c.Execute("SELECT id, stock FROM products ORDER BY id").rows;
  r.products = static_cast<int>(rows.size());
  std::vector<std::int64_t> present;
  present.reserve(rows.size());
  for (const auto& row : rows) {
    const std::int64_t id = std::stoll(row.at(0).value_or("0"));
    const std::int64_t stock = std::stoll(row.at(1).value_or("0"));
    present.push_back(id);
    const auto prefix = keys::Prefix(id);
    auto probe = redis.Eval(scripts.stock_probe,
                            {keys::Available(prefix), keys::Expiry(prefix), keys::Info(prefix)},
                            {prefix});
    if (probe.IsError() || probe.elements.size() != 4) {
      throw std::runtime_error("stock_probe: " + probe.str);
    }
    const Fingerprint fp{stock, probe.elements[0].integer, probe.elements[1].integer,
                         probe.elements[2].integer, probe.elements[3].integer};
    Seen& seen = seen_[id];
    if (!full && seen.clean && seen.fingerprint == fp) continue;  // nothing happened to it
    seen.fingerprint = fp;
    seen.clean = false;
    std::optional<Drift> drift;
    std::optional<StockSync> synced;
    db::Transaction(c, [&] {
      drift = MeasureDrift(c, redis, id, options_.max_holds);
      // Still under the row lock: the repair puts right exactly what was measured, counting
      // the live units the same way (every hold up to max_holds, else the counters).
      if (drift && drift->Any() && options_.repair) {
        synced = ReconcileProduct(c, redis, id, options_.max_holds);
      }
      return 0;
    });
    if (!drift) {  // deleted since the list was read
      seen_.erase(id);
      continue;
    }
    ++r.measured;
    if (!drift->walked) {
      // A big sale in full swing: measured from the counters, the held counter unchecked.
      ++r.from_counters;
      if (!seen.counters_logged) {
        log::Info("reconcile_from_counters", {{"product", id},
                                              {"liveHolds", fp.holds},
                                              {"maxHolds", options_.max_holds}});
      }
    }
    seen.counters_logged = !drift->walked;
    {
      std::lock_guard lock(drift_mutex_);
      drift_units_[id] = drift->units();
    }
    if (!drift->Any()) {
      seen.clean = true;
      continue;
    }
    ++r.drifted;
    if (synced) {
      ++r.repaired;
      // What this process learned about the product's stock is older than the repair.
      if (purchase_options_.sold_out) purchase_options_.sold_out->Returned(id);
    }
    log::Warn("stock_drift", {{"product", id},
                              {"units", drift->units()},
                              {"databaseStock", drift->stock},
                              {"redisAvailable", drift->available},
                              {"liveHeldUnits", drift->live_units},
                              {"heldCounter", drift->held_counter},
                              {"heldUnits", drift->held_units},
                              {"inRedis", drift->in_redis},
                              {"action", synced ? "repaired" : "reported"},
                              {"availableAfter", synced ? synced->after : drift->available}});
  }
  // Products gone from the database leave the figures.
  std::sort(present.begin(), present.end());
  std::erase_if(seen_, [&](const auto& kv) {
    return !std::binary_search(present.begin(), present.end(), kv.first);
  });
  std::lock_guard lock(drift_mutex_);
  std::erase_if(drift_units_, [&](const auto& kv) {
    return !std::binary_search(present.begin(), present.end(), kv.first);
  });
  return r;
}

net::awaitable<ReconcileRound> Reconciler::RunOnce() {
  const auto ttl = LeaseTtl(options_.interval);
  auto lease = co_await redis_.Eval(Scripts::Get().lease, redis::List(options_.lease_key),
                                    redis::List(token_, std::to_string(ttl.count())));
  if (lease.IsError()) throw std::runtime_error("lease: " + lease.str);
  const bool leader = lease.integer == 1;
  if (leader != leader_.load()) {
    log::Info(leader ? "reconciler_leader" : "reconciler_follower", {{"lease", options_.lease_key}});
  }
  leader_ = leader;
  if (!leader) co_return ReconcileRound{};

  const bool full = options_.full_every > 0 && round_++ % options_.full_every == 0;
  auto r = co_await db_.Run([this, full](db::Connection& c) { return Round(c, full); });
  ++rounds_;
  measured_ += static_cast<std::uint64_t>(r.measured);
  drifted_ += static_cast<std::uint64_t>(r.drifted);
  repaired_ += static_cast<std::uint64_t>(r.repaired);
  from_counters_ += static_cast<std::uint64_t>(r.from_counters);
  co_return r;
}

net::awaitable<void> Reconciler::Run() {
  net::steady_timer timer(co_await net::this_coro::executor);
  bool was_failing = false;
  while (!stopped_) {
    if (redis_.Connected()) {
      try {
        co_await RunOnce();
        if (was_failing) log::Info("reconcile_recovered");
        was_failing = false;
      } catch (const std::exception& e) {
        ++failures_;
        if (!was_failing) log::Warn("reconcile_failed", {{"error", e.what()}});
        was_failing = true;
      }
    }
    timer.expires_after(options_.interval);
    try {
      co_await timer.async_wait(net::use_awaitable);
    } catch (const std::exception&) {
      co_return;  // cancelled: shutting down
    }
  }
}

void Reconciler::Render(std::string& out) const {
  out += "# HELP ticketing_reconcile_leader 1 while this server holds the reconciler lease.\n";
  out += "# TYPE ticketing_reconcile_leader gauge\n";
  out += "ticketing_reconcile_leader " + std::to_string(leader_.load() ? 1 : 0) + "\n";
  Counter(out, "ticketing_reconcile_rounds_total", "Reconciler rounds run as the leader.",
          rounds_.load());
  Counter(out, "ticketing_reconcile_measured_total",
          "Products measured exactly (under the row lock).", measured_.load());
  Counter(out, "ticketing_reconcile_drift_total",
          "Measurements that found Redis off the database (stock or held counter).",
          drifted_.load());
  Counter(out, "ticketing_reconcile_repairs_total", "Products put right from the database.",
          repaired_.load());
  Counter(out, "ticketing_reconcile_from_counters_total",
          "Measurements of products with more live holds than RECONCILE_MAX_HOLDS: from the "
          "held counter and the confirming holds, the held counter itself not checked.",
          from_counters_.load());
  Counter(out, "ticketing_reconcile_failures_total",
          "Rounds that failed (Redis or the database did not answer).", failures_.load());
  out += "# HELP ticketing_stock_drift_units Redis available + live held units - database stock, "
         "as last measured (before any repair), by product.\n";
  out += "# TYPE ticketing_stock_drift_units gauge\n";
  std::lock_guard lock(drift_mutex_);
  for (const auto& [product, units] : drift_units_) {
    out += "ticketing_stock_drift_units{product=\"" + std::to_string(product) + "\"} " +
           std::to_string(units) + "\n";
  }
}

}  // namespace ticketing::purchase
