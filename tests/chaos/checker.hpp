#pragma once
// The chaos suite's checker: a pure function from what buyers were told (the recorded history)
// and what the stores hold once things settled, to the list of broken promises. Pure, so a
// fabricated history can prove that it catches each kind of violation.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ticketing::chaos {

enum class Op { kReserve, kConfirm, kCancel };
const char* OpName(Op op);

// One HTTP attempt and its answer (status 0: transport error or timeout).
struct Event {
  int buyer = 0;
  Op op = Op::kReserve;
  int server = 0;             // which server slot it was sent to
  std::int64_t sent_ms = 0;   // unix ms (this machine's real clock, the same as Redis')
  std::int64_t answered_ms = 0;
  std::string key;            // reserve: the Idempotency-Key; confirm/cancel: the reservation id
  int quantity = 0;           // reserve: units asked for
  int status = 0;
  std::string code;           // error.code, "" when none
  std::string rid;            // reserve answer: reservationId
  std::int64_t expires_at_ms = 0;  // reserve answer: expiresAt
  std::string state;          // reserve repeat answer: state
  std::string detail;         // 5xx answers: the start of the body
};

struct Buyer {
  int id = 0;
  std::string user;
  std::vector<Event> events;  // in the order the buyer sent them
};

struct History {
  std::uint64_t seed = 0;
  std::int64_t product = 0;
  int total_stock = 0;
  int per_user_limit = 0;
  int hold_seconds = 0;
  std::vector<Buyer> buyers;
};

struct OrderRow {
  std::string rid;
  std::string user;
  int quantity = 0;
};

// The stores after the faults stopped and holds, leases and confirms settled.
struct Snapshot {
  long long total_stock = 0;     // products.total_stock
  long long db_stock = 0;        // products.stock
  std::vector<OrderRow> orders;  // orders of the product
  long long redis_available = 0;
  long long redis_live_held = 0;  // units of holds still `held` or `confirming`
};

struct CheckOptions {
  // Redis did not lose data in this run: a hold's expiry is then knowable from its reserve
  // answer, and an "expired" answer before it is a lie (e.g. a server trusting its own clock).
  bool expiry_is_exact = true;
  std::int64_t clock_slack_ms = 300;
};

struct Violation {
  std::string what;
  int buyer = -1;   // -1: not one buyer's
  std::string rid;  // "" when not about one reservation
};

struct Summary {
  int buyers = 0, requests = 0, transport_errors = 0, server_errors = 0;
  int confirmed = 0, cancelled = 0, abandoned = 0;
  int unresolved = 0;  // reservations whose last answer was still 5xx/transport/in progress
  long long units_sold = 0, units_lost = 0, oversold = 0;
};

std::vector<Violation> Check(const History& h, const Snapshot& s, const CheckOptions& o,
                             Summary* summary = nullptr);

// The seed and, for each violation, the shortest history that shows it: the offending buyer's
// events (those of the one reservation when the violation is about one), or the counts.
std::string Explain(const History& h, const Snapshot& s, const std::vector<Violation>& v);
std::string Describe(const Event& e);
std::string Describe(const Summary& s);

}  // namespace ticketing::chaos
