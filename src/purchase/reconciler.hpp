#pragma once
// The continuous watch on the stock: every interval, for every product something happened to,
// compares Redis (available + live holds, the held counter) with the database, which is the
// truth; reports drift in /metrics and the log and, in repair mode, puts the product right the
// way sync-stock does (ReconcileProduct, rebuild.hpp). The Redis-loss watch rebuilds after a
// loss it can see (a flush, a restart); this catches what it cannot: a failover to a replica
// that missed the last writes, a key edited by hand, a bug.
//
// One server at a time: a Redis lease (lease.lua) elects the one that runs the rounds. Two
// running at once (a lease lost mid-round) is harmless, only wasted work: each measurement and
// repair holds the product's row lock, and a repair is idempotent.
#include "db/db.hpp"
#include "metrics/metrics.hpp"
#include "purchase/purchase_service.hpp"
#include "purchase/rebuild.hpp"
#include "redis/client.hpp"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace ticketing::purchase {

struct ReconcilerOptions {
  bool repair = true;  // false: report only
  std::chrono::milliseconds interval{5000};
  // A product with more live holds than this is measured from its counters (the held counter
  // and the confirming holds) instead of by reading every hold while Redis waits: its available
  // units are checked, its held counter is not. Counted in
  // ticketing_reconcile_from_counters_total and logged once.
  std::int64_t max_holds = 10000;
  // Every this many rounds every product is measured, even one whose figures did not move.
  int full_every = 12;
  std::string lease_key = "ticketing:reconciler";
};

// What one round did.
struct ReconcileRound {
  bool leader = false;
  int products = 0;   // in the database
  int measured = 0;   // exact measurement under the row lock
  int drifted = 0;    // of those, with drift
  int repaired = 0;
  int from_counters = 0;  // of the measured, from the counters (more than max_holds holds)
};

class Reconciler : public metrics::Collector {
 public:
  Reconciler(redis::Client& redis, db::Pool& db, Options purchase_options,
             ReconcilerOptions options);

  // Until Stop(): a round every interval. Never throws.
  net::awaitable<void> Run();
  void Stop() { stopped_ = true; }

  // One round now (tests): takes or renews the lease, then measures (and repairs) if it holds
  // it. Throws when Redis or the database cannot answer.
  net::awaitable<ReconcileRound> RunOnce();

  bool leader() const { return leader_.load(); }
  // The reconciler's series in the Prometheus text format (metrics::Registry::Add).
  void Render(std::string& out) const override;

 private:
  // Figures that move whenever anything happens to a product; equal twice and clean: skipped.
  struct Fingerprint {
    std::int64_t stock = -1, available = 0, held = 0, holds = 0, in_redis = 0;
    bool operator==(const Fingerprint&) const = default;
  };
  struct Seen {
    Fingerprint fingerprint;
    bool clean = false;
    bool counters_logged = false;
  };
  ReconcileRound Round(db::Connection& c, bool full);

  redis::Client& redis_;
  db::Pool& db_;
  Options purchase_options_;
  ReconcilerOptions options_;
  std::string token_;
  bool stopped_ = false;
  int round_ = 0;
  std::map<std::int64_t, Seen> seen_;  // the database worker's (one round at a time)

  std::atomic<bool> leader_{false};
  std::atomic<std::uint64_t> rounds_{0}, measured_{0}, drifted_{0}, repaired_{0}, from_counters_{0},
      failures_{0};
  mutable std::mutex drift_mutex_;
  std::map<std::int64_t, std::int64_t> drift_units_;  // last measured, by product
};

}  // namespace ticketing::purchase
