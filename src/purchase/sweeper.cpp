#include "purchase/sweeper.hpp"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "purchase/keys.hpp"
#include "purchase/purchase_service.hpp"
#include "purchase/scripts.hpp"

namespace ticketing::purchase {

using metrics::Event;
using metrics::Registry;

net::awaitable<void> Sweeper::Run() {
  net::steady_timer timer(co_await net::this_coro::executor);
  bool was_failing = false;
  while (!stopped_) {
    try {
      if (!options_.redis_verified || options_.redis_verified()) co_await SweepOnce();
      if (was_failing) log::Info("sweeper_recovered");
      was_failing = false;
    } catch (const std::exception& e) {
      if (!was_failing) log::Warn("sweeper_failed", {{"error", e.what()}});
      was_failing = true;
    }
    timer.expires_after(options_.interval);
    co_await timer.async_wait(net::use_awaitable);
  }
}

net::awaitable<SweepStats> Sweeper::SweepOnce() {
  SweepStats total;
  auto members = co_await redis_.Command(redis::List("SMEMBERS", std::string(keys::kProducts)));
  if (members.IsError()) throw std::runtime_error("SMEMBERS: " + members.str);
  // One product that cannot be swept (Redis refused its script) does not hold up the others.
  std::string first_error;
  for (const auto& m : members.elements) {
    try {
      auto s = co_await SweepProduct(std::stoll(m.str));
      total.released_units += s.released_units;
      total.settled += s.settled;
    } catch (const std::exception& e) {
      if (first_error.empty()) first_error = e.what();
    }
  }
  if (!first_error.empty()) throw std::runtime_error(first_error);
  co_return total;
}

net::awaitable<SweepStats> Sweeper::SweepProduct(std::int64_t product_id) {
  SweepStats stats;
  const auto prefix = keys::Prefix(product_id);
  for (;;) {
    // Named vectors: GCC 12 cannot keep a braced list's array alive across co_await in a loop.
    std::vector<std::string> keys{keys::Expiry(prefix)};
    std::vector<std::string> args{prefix, std::to_string(options_.batch),
                                  std::to_string(options_.confirm_lease.count())};
    auto reply = co_await redis_.Eval(Scripts::Get().sweep, keys, args);
    if (reply.IsError() || reply.elements.size() != 3) {
      throw std::runtime_error("sweep: " + reply.str);
    }
    const auto released = reply.elements[0].integer;
    if (released > 0) {
      Registry::Get().Count(Event::kHoldExpired, static_cast<std::uint64_t>(released));
      stats.released_units += released;
      if (options_.sold_out) options_.sold_out->Returned(product_id);
    }
    // Claimed confirming holds come as (reservation id, its lost lease id, our claim id).
    const auto& claimed = reply.elements[1].elements;
    for (std::size_t i = 0; i + 2 < claimed.size(); i += 3) {
      // A settlement the database cannot answer now waits for our claim to run out (a later
      // pass claims it again); the rest of the pass goes on.
      std::string error;
      try {
        co_await Settle(product_id, claimed[i].str, claimed[i + 1].str, claimed[i + 2].str);
        ++stats.settled;
      } catch (const std::exception& e) {
        error = e.what();
      }
      if (!error.empty()) {
        log::Warn("settle_deferred", {{"reservation", claimed[i].str}, {"error", error}});
      }
    }
    // A full batch means more may be due right now.
    if (reply.elements[2].integer < options_.batch) break;
  }
  // Figures for /metrics: best effort, a failure here does not fail the pass.
  std::vector<std::string> keys{keys::Expiry(prefix)};
  std::vector<std::string> args{prefix};
  try {
    auto figures = co_await redis_.Eval(Scripts::Get().gauges, keys, args);
    if (!figures.IsError() && figures.elements.size() == 5) {
      figures_.Set(product_id, {figures.elements[0].integer, figures.elements[1].integer,
                                figures.elements[2].integer, figures.elements[3].integer,
                                figures.elements[4].integer});
    }
  } catch (const std::exception&) {
  }
  co_return stats;
}

void SweepFigures::Set(std::int64_t product_id, const Product& p) {
  std::lock_guard lock(mu_);
  products_[product_id] = p;
}

double SweepFigures::LagSeconds(std::int64_t now_ms) const {
  std::lock_guard lock(mu_);
  std::int64_t lag_ms = 0;
  for (const auto& [id, p] : products_) {
    if (p.first_due_ms >= 0) lag_ms = std::max(lag_ms, now_ms - p.first_due_ms);
  }
  return static_cast<double>(lag_ms) / 1000.0;
}

void SweepFigures::Render(std::string& out) const {
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const double lag = LagSeconds(now_ms);
  std::lock_guard lock(mu_);
  auto family = [&](const char* name, const char* help, auto field) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n";
    for (const auto& [id, p] : products_) {
      out += std::string(name) + "{product=\"" + std::to_string(id) + "\"} " +
             std::to_string(p.*field) + "\n";
    }
  };
  family("ticketing_holds_live", "Live holds (held or confirming), as of the last sweep.",
         &Product::live_holds);
  family("ticketing_hold_units_held", "Units in held holds, as of the last sweep.",
         &Product::held_units);
  family("ticketing_queue_waiting", "Buyers waiting in the line, as of the last sweep.",
         &Product::line_length);
  family("ticketing_queue_active", "Admissions not yet used or expired, as of the last sweep.",
         &Product::active_admissions);
  out += "# HELP ticketing_sweeper_lag_seconds Now minus the due time of the live hold due "
         "first (0 when none is due yet).\n# TYPE ticketing_sweeper_lag_seconds gauge\n"
         "ticketing_sweeper_lag_seconds ";
  metrics::AppendNumber(out, lag);
  out += "\n";
}

net::awaitable<void> Sweeper::Settle(std::int64_t product_id, const std::string& reservation_id,
                                     const std::string& lost_lease, const std::string& claim) {
  // The database decides, in one transaction: the order exists (the confirm committed), or the
  // lost lease is revoked so that its confirm, however late, can no longer commit (it checks
  // revoked_leases inside its own transaction). The locking read waits for a confirm that has
  // inserted the order but not committed yet, and otherwise keeps one from inserting it until
  // the revocation is committed. If the database cannot answer, our claim runs out and a later
  // pass tries again.
  auto order = co_await db_.Run([&](db::Connection& c) {
    return db::Transaction(c, [&]() -> std::optional<Order> {
      auto rows = c.Execute(
          "SELECT id, reservation_id, product_id, quantity, total_price_cents FROM orders "
          "WHERE reservation_id = ? FOR UPDATE",
          {reservation_id});
      if (!rows.rows.empty()) return OrderFromRow(rows.rows.front());
      if (!lost_lease.empty()) {
        c.Execute("INSERT IGNORE INTO revoked_leases (lease_id, reservation_id) VALUES (?, ?)",
                  {lost_lease, reservation_id});
      }
      return std::nullopt;
    });
  });
  const auto prefix = keys::Prefix(product_id);
  // Built before the co_await: GCC 12 mishandles ?: temporaries inside a co_await expression.
  auto args = order ? redis::List(prefix, reservation_id, "1", std::to_string(order->id),
                                  std::to_string(order->total_cents), claim)
                    : redis::List(prefix, reservation_id, "0", "", "", claim);
  auto reply = co_await redis_.Eval(Scripts::Get().settle,
                                    redis::List(keys::Hold(prefix, reservation_id)), args);
  const std::string& outcome = reply.str;
  if (outcome == "CONFIRMED") Registry::Get().Count(Event::kSettledConfirmed);
  if (outcome == "RELEASED") {
    Registry::Get().Count(Event::kSettledReleased);
    if (options_.sold_out) options_.sold_out->Returned(product_id);
  }
  if (outcome == "RESTORED") Registry::Get().Count(Event::kSettledRestored);
  log::Info("confirm_settled", {{"reservation", reservation_id}, {"outcome", outcome}});
}

}  // namespace ticketing::purchase
