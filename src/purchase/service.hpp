#pragma once
// The purchase domain as seen by the HTTP layer. Expected outcomes are values (Outcome);
// infrastructure failures are thrown as ticketing::UnavailableError (-> 503).
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ticketing::purchase {

namespace net = boost::asio;

enum class Outcome {
  kOk,
  kProductNotFound,
  kSoldOut,
  kLimitReached,
  kReservationNotFound,
  kReservationExpired,
  kReservationCancelled,
  kAlreadyConfirmed,
  kConfirmInProgress,
  kSaleNotOpen,      // before the product's saleStartsAt
  kNotAdmitted,      // queue-enabled product without a valid, unused admission
  kQueueNotEnabled,  // the product has no waiting room
  kTicketNotFound,   // no such waiting-room ticket for this buyer and product
  kQueueFull,        // the line is at its cap
  kIdempotencyConflict,  // the Idempotency-Key was used for a reserve of another quantity
  kRateLimited,          // over a rate limit (src/abuse): nothing was taken
  kPowRequired,          // queue join needs a solved proof-of-work challenge (none or too easy)
  kPowExpired,           // the solved challenge's lifetime is over (by Redis time)
  kPowReplayed,          // the solved challenge was used already
  kSalePaused,           // an admin paused the sale (reserve, queue join)
  kOrderNotFound,
  kStockInUse,           // a stock remove asked for more units than are free (not held, not sold)
  kInvalidCursor,        // a paging cursor this server did not hand out
};

// Rate limits folded into one script call (src/abuse builds them): keys in the product's
// slot, and per key its GCRA emission interval and tolerance in µs (2 strings each).
struct RateChecks {
  std::vector<std::string> keys;
  std::vector<std::string> specs;
  bool empty() const { return keys.empty(); }
  // Hands them to a script that folds them in (reserve.lua, join.lua): their count as the next
  // argument, then the specs; the keys after the script's own. Moves them there.
  void AppendTo(std::vector<std::string>& script_keys, std::vector<std::string>& args) && {
    args.push_back(std::to_string(keys.size()));
    script_keys.insert(script_keys.end(), std::make_move_iterator(keys.begin()),
                       std::make_move_iterator(keys.end()));
    args.insert(args.end(), std::make_move_iterator(specs.begin()),
                std::make_move_iterator(specs.end()));
    keys.clear();
    specs.clear();
  }
};

// A product's waiting room (see src/queue/README.md).
struct QueueSettings {
  bool enabled = true;
  int admit_per_second = 50;
  int max_active = 500;  // admitted buyers who have not yet finished or timed out
  int admission_ttl_seconds = 120;
  int pow_difficulty = 0;  // leading zero bits a join's proof of work needs; 0: none
};

struct Reservation {
  std::string id;
  std::int64_t product_id = 0;
  int quantity = 0;
  std::string state;  // held|confirming|confirmed|cancelled|expired
  std::int64_t expires_at_ms = 0;
  std::int64_t now_ms = 0;  // Redis time when read, for expiresIn
  bool repeated = false;    // an earlier reserve with the same idempotency key made it
  std::int64_t retry_after_ms = 0;  // kRateLimited: when the buyer may try again
};

struct Order {
  std::int64_t id = 0;
  std::string reservation_id;
  std::int64_t product_id = 0;
  int quantity = 0;
  std::int64_t total_cents = 0;
};

struct Product {
  std::int64_t id = 0;
  std::string name;
  std::int64_t price_cents = 0;
  std::int64_t total_stock = 0;
  std::int64_t available = 0;
  int per_user_limit = 1;
  std::optional<int> hold_seconds;
  std::optional<std::int64_t> sale_starts_at_ms;  // unix ms; none: on sale
  std::optional<QueueSettings> queue;
  bool paused = false;
};

struct NewProduct {
  std::string name;
  std::int64_t price_cents = 0;
  std::int64_t stock = 0;
  int per_user_limit = 1;
  std::optional<int> hold_seconds;
  std::optional<std::int64_t> sale_starts_at_ms;
  std::optional<QueueSettings> queue;
  std::string actor;  // the admin's `sub`, for the audit trail ("": not audited)
  // With an actor: a create retried under the same key (its answer lost) gets the product the
  // first made instead of a second one (the key is kept in the audit row).
  std::string idempotency_key;
};

// PATCH /admin/products/{id}: only the fields that are set change.
struct ProductChanges {
  std::optional<std::optional<std::int64_t>> sale_starts_at_ms;  // inner none: clear
  std::optional<bool> queue_enabled;
  std::optional<int> admit_per_second;
  std::optional<int> max_active;
  std::optional<int> admission_ttl_seconds;
  std::optional<int> pow_difficulty;
  std::string actor;  // the admin's `sub`, for the audit trail ("": not audited)
};

struct StockSync {
  std::int64_t before = 0;
  std::int64_t after = 0;
  std::int64_t database_stock = 0;
  std::int64_t held = 0;
};

// GET /admin/products/{id}: the product with its live figures.
struct ProductFigures {
  Product product;  // available: Redis' (units free to reserve now)
  std::int64_t database_stock = 0;  // units not in orders (free + held + confirming)
  std::int64_t sold = 0;            // units in orders not refunded
  std::int64_t orders = 0;          // orders not refunded
  std::int64_t refunded = 0;        // units in refunded orders
  std::int64_t held = 0;            // units in holds waiting for their confirm
  std::int64_t confirming = 0;      // units in holds whose confirm is under way
  std::int64_t holds_expired = 0;   // since Redis was last rebuilt
  std::int64_t holds_cancelled = 0;
};

// One page of a listing; `next_cursor` is "" on the last page.
template <class T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;
};

// A live hold as an admin sees it.
struct HoldRow {
  std::string id;
  std::string user;
  int quantity = 0;
  std::string state;  // held|confirming
  std::int64_t expires_at_ms = 0;  // held: the hold's end; confirming: the lease's
  std::int64_t created_at_ms = 0;
};

struct OrderRow {
  Order order;
  std::string user;
  std::int64_t created_at_ms = 0;
  std::optional<std::int64_t> refunded_at_ms;
};

// POST /admin/products/{id}/stock.
struct StockChange {
  std::int64_t total = 0;           // total_stock after
  std::int64_t database_stock = 0;  // after
  std::int64_t available = 0;       // Redis' after
  std::int64_t removable = 0;       // kStockInUse: the most a remove could take now
  bool repeated = false;            // an earlier call with the same Idempotency-Key made it
};

struct Refund {
  OrderRow order;
  bool repeated = false;  // an earlier call refunded it
};

struct AuditEntry {
  std::int64_t id = 0;
  std::int64_t at_ms = 0;
  std::string admin;
  std::string action;
  std::int64_t product_id = 0;  // 0: none
  std::int64_t order_id = 0;    // 0: none
  std::string before_json;      // "" : none
  std::string after_json;
};

template <class T>
struct Result {
  Outcome outcome = Outcome::kOk;
  T value{};
};

struct ConfirmResult {
  Outcome outcome = Outcome::kOk;
  Order order;
  bool created = false;  // false when an earlier confirm made the order
  std::int64_t retry_after_ms = 0;  // kRateLimited
};

struct Readiness {
  bool redis = false;
  bool database = false;
};

class Service {
 public:
  virtual ~Service() = default;

  // Takes `quantity` units for `user` if the product exists, has them, and the buyer's live holds
  // plus purchases stay within the product's limit. -> kOk, kProductNotFound, kSoldOut,
  // kLimitReached.
  virtual net::awaitable<Result<Reservation>> Reserve(std::string user, std::int64_t product_id,
                                                      int quantity) = 0;
  // Reserve, presenting the ticket of a verified admission token ("" if none). Also -> kSaleNotOpen
  // (before the sale start), kNotAdmitted (queue-enabled product and no admitted, unused ticket of
  // this buyer). A successful reserve uses the admission up.
  // With `idempotency_key` (may be ""), a repeat of the same buyer's reserve of the product
  // returns the first one's hold (repeated=true, whatever its state now) instead of a new one;
  // -> kIdempotencyConflict when the repeat asks for another quantity.
  virtual net::awaitable<Result<Reservation>> ReserveWithAdmission(
      std::string user, std::int64_t product_id, int quantity, std::string /*ticket*/,
      std::string /*idempotency_key*/) {
    return Reserve(std::move(user), product_id, quantity);
  }
  // True when a reserve of `quantity` units is known to be SOLD_OUT without asking Redis (see
  // SoldOutBoard). Not a coroutine, so the hot route answers a stampede without a frame. The
  // caller skips it for a reserve with an idempotency key (a retry must find its hold), and asks
  // it before a reserve: the reserve itself does not look again.
  virtual bool KnownSoldOut(std::int64_t /*product_id*/, int /*quantity*/) { return false; }
  // ReserveWithAdmission under `limits`, checked in the same script call before anything is
  // taken. Also -> kRateLimited (value.retry_after_ms says when to retry).
  virtual net::awaitable<Result<Reservation>> ReserveLimited(std::string user,
                                                             std::int64_t product_id, int quantity,
                                                             std::string ticket,
                                                             std::string idempotency_key,
                                                             RateChecks /*limits*/) {
    return ReserveWithAdmission(std::move(user), product_id, quantity, std::move(ticket),
                                std::move(idempotency_key));
  }
  // The caller's live (held or confirming) holds of a product, oldest first.
  virtual net::awaitable<Result<std::vector<Reservation>>> ListReservations(
      std::string /*user*/, std::int64_t /*product_id*/) {
    co_return Result<std::vector<Reservation>>{Outcome::kOk, {}};
  }
  // Turns the caller's live hold into an order; repeats return the same order (created=false).
  // -> kOk, kReservationNotFound, kReservationExpired, kReservationCancelled,
  // kConfirmInProgress, kSoldOut (the database had no stock).
  virtual net::awaitable<ConfirmResult> Confirm(std::string user, std::string reservation_id) = 0;
  // Confirm under `limits` (src/abuse), checked only for a genuine id of this buyer (a made-up
  // id still costs nothing). Also -> kRateLimited (retry_after_ms), with nothing done.
  virtual net::awaitable<ConfirmResult> ConfirmLimited(std::string user, std::string reservation_id,
                                                       RateChecks /*limits*/) {
    return Confirm(std::move(user), std::move(reservation_id));
  }
  // Ends the caller's live hold and returns its units at once. -> kOk, kReservationNotFound,
  // kAlreadyConfirmed, kConfirmInProgress, kReservationExpired.
  virtual net::awaitable<Outcome> Cancel(std::string user, std::string reservation_id) = 0;
  // The caller's reservation. -> kOk, kReservationNotFound.
  virtual net::awaitable<Result<Reservation>> GetReservation(std::string user,
                                                             std::string reservation_id) = 0;

  // -> kOk (a new product, or the one an earlier call under the same actor and key made),
  // kIdempotencyConflict (the key was used for another product or another change).
  virtual net::awaitable<Result<Product>> CreateProduct(NewProduct product) = 0;
  // -> kOk, kProductNotFound.
  virtual net::awaitable<Result<Product>> GetProduct(std::int64_t product_id) = 0;
  // Changes the sale start and waiting-room settings (database, then Redis). Enabling a
  // waiting room without settings uses QueueSettings' defaults. -> kOk, kProductNotFound.
  virtual net::awaitable<Result<Product>> UpdateProduct(std::int64_t /*product_id*/,
                                                        ProductChanges /*changes*/) {
    co_return Result<Product>{Outcome::kProductNotFound, {}};
  }
  // Redis available := database stock - live held units, atomically against reserves and
  // confirms. -> kOk, kProductNotFound.
  virtual net::awaitable<Result<StockSync>> SyncStock(std::int64_t product_id) = 0;

  // SyncStock on behalf of admin `actor`, recorded in the audit trail.
  virtual net::awaitable<Result<StockSync>> AdminSyncStock(std::string /*actor*/,
                                                           std::int64_t product_id) {
    return SyncStock(product_id);
  }

  // Never throws.
  virtual net::awaitable<Readiness> CheckReady() = 0;

  // The admin console (src/purchase/README.md, "Admin"). Every change is audited as `actor`.
  // Products in id order from after `after_id`, from the database (available = its stock).
  virtual net::awaitable<Result<Page<Product>>> ListProducts(std::int64_t /*after_id*/,
                                                             int /*limit*/) {
    co_return Result<Page<Product>>{Outcome::kOk, {}};
  }
  // -> kOk, kProductNotFound.
  virtual net::awaitable<Result<ProductFigures>> GetProductFigures(std::int64_t /*product_id*/) {
    co_return Result<ProductFigures>{Outcome::kProductNotFound, {}};
  }
  // Adds (delta > 0) or removes (delta < 0) units of total and stock, atomically against
  // reserves and confirms. A remove takes only free units. With `idempotency_key` (may be ""),
  // a repeat by the same admin changes nothing and answers the first change (repeated).
  // -> kOk, kProductNotFound, kStockInUse (value.removable says how many were free),
  // kIdempotencyConflict (the key was used for another change).
  virtual net::awaitable<Result<StockChange>> ChangeStock(std::string /*actor*/,
                                                          std::int64_t /*product_id*/,
                                                          std::int64_t /*delta*/,
                                                          std::string /*idempotency_key*/) {
    co_return Result<StockChange>{Outcome::kProductNotFound, {}};
  }
  // Pauses or resumes the sale (idempotent). -> kOk, kProductNotFound.
  virtual net::awaitable<Result<Product>> SetPaused(std::string /*actor*/,
                                                    std::int64_t /*product_id*/, bool /*paused*/) {
    co_return Result<Product>{Outcome::kProductNotFound, {}};
  }
  // Live holds, by expiry; `state` "" (both), "held" or "confirming". -> kOk,
  // kProductNotFound, kInvalidCursor.
  virtual net::awaitable<Result<Page<HoldRow>>> ListHolds(std::int64_t /*product_id*/,
                                                          std::string /*state*/,
                                                          std::string /*cursor*/, int /*limit*/) {
    co_return Result<Page<HoldRow>>{Outcome::kProductNotFound, {}};
  }
  // Orders of a product in id order from after `after_id`. -> kOk, kProductNotFound.
  virtual net::awaitable<Result<Page<OrderRow>>> ListOrders(std::int64_t /*product_id*/,
                                                            std::int64_t /*after_id*/,
                                                            int /*limit*/) {
    co_return Result<Page<OrderRow>>{Outcome::kProductNotFound, {}};
  }
  // Refunds an order exactly once (repeats answer repeated=true): its units go back to the
  // stock and stop counting against the buyer's limit. -> kOk, kOrderNotFound.
  virtual net::awaitable<Result<Refund>> RefundOrder(std::string /*actor*/,
                                                     std::int64_t /*order_id*/) {
    co_return Result<Refund>{Outcome::kOrderNotFound, {}};
  }
  // The audit trail, newest first, from before `before_id` (0: from the newest).
  virtual net::awaitable<Result<Page<AuditEntry>>> ListAudit(std::int64_t /*before_id*/,
                                                             int /*limit*/) {
    co_return Result<Page<AuditEntry>>{Outcome::kOk, {}};
  }
};

}  // namespace ticketing::purchase
