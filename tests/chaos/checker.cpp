#include "tests/chaos/checker.hpp"

#include <algorithm>
#include <set>
#include <sstream>

namespace ticketing::chaos {
namespace {

bool Ok2xx(int status) { return status == 200 || status == 201; }

// A final, definite "you did not buy it" from confirm.
bool RefusesPurchase(const Event& e) {
  static const std::set<std::string> kCodes = {"RESERVATION_EXPIRED", "RESERVATION_NOT_FOUND",
                                               "RESERVATION_CANCELLED", "SOLD_OUT",
                                               "LIMIT_REACHED"};
  return e.status >= 400 && e.status < 500 && kCodes.count(e.code);
}

struct Hold {
  int buyer = -1;
  int quantity = 0;
  std::int64_t expires_at_ms = 0;  // 0: unknown (only repeats answered)
  bool confirm_sent = false;
  std::int64_t first_confirm_sent_ms = 0;
  bool confirmed = false, cancelled = false, refused = false;
  bool unresolved = false;  // the last answer about it was not a definite one
  std::string refusal;
};

}  // namespace

const char* OpName(Op op) {
  switch (op) {
    case Op::kReserve: return "reserve";
    case Op::kConfirm: return "confirm";
    case Op::kCancel: return "cancel";
  }
  return "?";
}

std::vector<Violation> Check(const History& h, const Snapshot& s, const CheckOptions& o,
                             Summary* summary) {
  std::vector<Violation> out;
  Summary sum;
  sum.buyers = static_cast<int>(h.buyers.size());
  std::map<std::string, Hold> holds;
  std::map<std::string, std::string> user_of_buyer_rid;
  for (const Buyer& b : h.buyers) {
    for (const Event& e : b.events) {
      ++sum.requests;
      if (e.status == 0) ++sum.transport_errors;
      if (e.status >= 500) ++sum.server_errors;
      if (e.code == "PRODUCT_NOT_FOUND") {
        out.push_back({"answered PRODUCT_NOT_FOUND for a product that exists", b.id, ""});
      }
      if (e.status == 500) {
        out.push_back({"answered 500 (a bug, not a fault: faults are 503)", b.id, ""});
      }
      if (e.op == Op::kReserve) {
        if (!Ok2xx(e.status) || e.rid.empty()) continue;
        Hold& hold = holds[e.rid];
        if (hold.buyer >= 0 && hold.buyer != b.id) {
          out.push_back({"two buyers were given the same reservation id", b.id, e.rid});
        }
        hold.buyer = b.id;
        hold.quantity = e.quantity;
        user_of_buyer_rid[e.rid] = b.user;
        if (e.status == 201) {
          hold.expires_at_ms = e.expires_at_ms;
          const std::int64_t lo = e.sent_ms + h.hold_seconds * 1000LL - o.clock_slack_ms;
          const std::int64_t hi = e.answered_ms + h.hold_seconds * 1000LL + o.clock_slack_ms;
          if (e.expires_at_ms < lo || e.expires_at_ms > hi) {
            out.push_back({"reserve answered an expiry that is not now + holdSeconds by Redis time",
                           b.id, e.rid});
          }
        }
        continue;
      }
      auto it = holds.find(e.key);
      if (it == holds.end() || it->second.buyer != b.id) {
        // The buyer only ever sends ids it was given; the harness would be broken.
        out.push_back({std::string(OpName(e.op)) + " of a reservation the buyer was never given",
                       b.id, e.key});
        continue;
      }
      Hold& hold = it->second;
      // Judged by when the answer came: a request sent before the expiry may truthfully find
      // the hold expired if it was still being served then (a cancel waits for the database).
      if (e.code == "RESERVATION_EXPIRED" && o.expiry_is_exact && hold.expires_at_ms > 0 &&
          e.answered_ms < hold.expires_at_ms - o.clock_slack_ms) {
        out.push_back({std::string(OpName(e.op)) + " answered RESERVATION_EXPIRED " +
                           std::to_string(hold.expires_at_ms - e.answered_ms) +
                           " ms before the hold's expiry",
                       b.id, e.key});
      }
      hold.unresolved = e.status == 0 || e.status >= 500 || e.code == "CONFIRM_IN_PROGRESS";
      if (e.op == Op::kConfirm) {
        if (!hold.confirm_sent) hold.first_confirm_sent_ms = e.sent_ms;
        hold.confirm_sent = true;
        if (Ok2xx(e.status)) {
          hold.confirmed = true;
          hold.refused = false;
        } else if (RefusesPurchase(e) && !hold.confirmed) {
          hold.refused = true;
          hold.refusal = e.code;
        }
      } else if (e.op == Op::kCancel && e.status == 200) {
        hold.cancelled = true;
      }
    }
  }

  std::map<std::string, const OrderRow*> order_of;
  std::map<std::string, long long> units_of_user;
  long long sold = 0;
  for (const OrderRow& row : s.orders) {
    sold += row.quantity;
    units_of_user[row.user] += row.quantity;
    if (order_of.count(row.rid)) {
      out.push_back({"two orders for one reservation", -1, row.rid});
    }
    order_of[row.rid] = &row;
    auto it = holds.find(row.rid);
    if (it == holds.end()) {
      out.push_back({"an order for a reservation no buyer was ever given (user " + row.user + ")",
                     -1, row.rid});
      continue;
    }
    const Hold& hold = it->second;
    if (user_of_buyer_rid[row.rid] != row.user) {
      out.push_back({"an order for another buyer's reservation (order user " + row.user + ")",
                     hold.buyer, row.rid});
    }
    if (row.quantity != hold.quantity) {
      out.push_back({"order quantity " + std::to_string(row.quantity) + " != reserved " +
                         std::to_string(hold.quantity),
                     hold.buyer, row.rid});
    }
    if (!hold.confirm_sent) {
      out.push_back({"an order for a reservation its buyer never confirmed", hold.buyer, row.rid});
    } else if (hold.expires_at_ms > 0 &&
               hold.first_confirm_sent_ms > hold.expires_at_ms + o.clock_slack_ms) {
      out.push_back({"an order for a hold that had expired before its first confirm was sent",
                     hold.buyer, row.rid});
    }
    if (hold.cancelled) {
      out.push_back({"buyer was told 'cancelled' (200) but an order exists", hold.buyer, row.rid});
    }
    if (hold.refused && !hold.confirmed) {
      out.push_back({"buyer was told " + hold.refusal + " but an order exists", hold.buyer,
                     row.rid});
    }
  }
  for (const auto& [rid, hold] : holds) {
    if (hold.unresolved) ++sum.unresolved;
    if (hold.confirmed) {
      ++sum.confirmed;
      if (!order_of.count(rid)) {
        out.push_back({"buyer was told 'confirmed' but there is no order", hold.buyer, rid});
      }
    } else if (hold.cancelled) {
      ++sum.cancelled;
    } else if (!hold.confirm_sent) {
      ++sum.abandoned;
    }
  }
  for (const auto& [user, units] : units_of_user) {
    if (units > h.per_user_limit) {
      int buyer = -1;
      for (const Buyer& b : h.buyers) {
        if (b.user == user) buyer = b.id;
      }
      out.push_back({"buyer " + user + " holds " + std::to_string(units) +
                         " units in orders, over the per-buyer limit of " +
                         std::to_string(h.per_user_limit),
                     buyer, ""});
    }
  }
  sum.units_sold = sold;
  if (sold + s.db_stock != s.total_stock) {
    out.push_back({"units in orders (" + std::to_string(sold) + ") + database stock (" +
                       std::to_string(s.db_stock) + ") != total (" +
                       std::to_string(s.total_stock) + ")",
                   -1, ""});
  }
  if (s.total_stock != h.total_stock) {
    out.push_back({"products.total_stock changed from " + std::to_string(h.total_stock), -1, ""});
  }
  const long long redis_side = s.redis_available + s.redis_live_held;
  if (redis_side != s.db_stock) {
    out.push_back({"Redis available (" + std::to_string(s.redis_available) + ") + live held (" +
                       std::to_string(s.redis_live_held) + ") != database stock (" +
                       std::to_string(s.db_stock) + ")",
                   -1, ""});
  }
  sum.oversold = std::max(0LL, sold - s.total_stock) + std::max(0LL, redis_side - s.db_stock);
  sum.units_lost = std::max(0LL, s.db_stock - redis_side) +
                   std::max(0LL, s.total_stock - sold - s.db_stock);
  if (summary) *summary = sum;
  return out;
}

std::string Describe(const Event& e) {
  std::ostringstream os;
  os << "  t=" << e.sent_ms << "+" << (e.answered_ms - e.sent_ms) << "ms server#" << e.server
     << " " << OpName(e.op) << " " << (e.op == Op::kReserve ? "key=" : "rid=") << e.key;
  if (e.op == Op::kReserve) os << " qty=" << e.quantity;
  os << " -> " << (e.status ? std::to_string(e.status) : std::string("transport error"));
  if (!e.code.empty()) os << " " << e.code;
  if (!e.rid.empty() && e.op == Op::kReserve) os << " rid=" << e.rid;
  if (e.expires_at_ms) os << " expiresAt=" << e.expires_at_ms;
  if (!e.state.empty()) os << " state=" << e.state;
  if (!e.detail.empty()) os << " body=" << e.detail;
  return os.str();
}

std::string Describe(const Summary& s) {
  std::ostringstream os;
  os << s.buyers << " buyers, " << s.requests << " requests (" << s.transport_errors
     << " transport errors, " << s.server_errors << " 5xx), " << s.confirmed << " confirmed, "
     << s.cancelled << " cancelled, " << s.abandoned << " abandoned, " << s.unresolved
     << " unresolved, " << s.units_sold
     << " units sold, units lost " << s.units_lost << ", oversold " << s.oversold;
  return os.str();
}

std::string Explain(const History& h, const Snapshot& s, const std::vector<Violation>& v) {
  std::ostringstream os;
  os << v.size() << " violation(s); replay with CHAOS_SEED=" << h.seed << " (product "
     << h.product << ")\n";
  const std::size_t kShown = 20;
  for (std::size_t i = 0; i < v.size() && i < kShown; ++i) {
    os << "* " << v[i].what;
    if (!v[i].rid.empty()) os << " [rid " << v[i].rid << "]";
    os << "\n";
    if (v[i].buyer >= 0 && v[i].buyer < static_cast<int>(h.buyers.size())) {
      const Buyer& b = h.buyers[v[i].buyer];
      os << "  buyer " << b.id << " (" << b.user << "):\n";
      // The reservation's own events (its reserve attempts share the idempotency key).
      std::set<std::string> keys;
      for (const Event& e : b.events) {
        if (e.op == Op::kReserve && !v[i].rid.empty() && e.rid == v[i].rid) keys.insert(e.key);
      }
      for (const Event& e : b.events) {
        const bool mine = v[i].rid.empty() || e.key == v[i].rid ||
                          (e.op == Op::kReserve && keys.count(e.key));
        if (mine) os << Describe(e) << "\n";
      }
    }
    for (const OrderRow& row : s.orders) {
      if (!v[i].rid.empty() && row.rid == v[i].rid) {
        os << "  order row: user " << row.user << " qty " << row.quantity << "\n";
      }
    }
  }
  if (v.size() > kShown) os << "(" << v.size() - kShown << " more)\n";
  return os.str();
}

}  // namespace ticketing::chaos
