#pragma once
// The purchase flow on Redis (the fast gate: scripts in lua/) and the database (the truth).
#include "db/db.hpp"
#include "purchase/keys.hpp"
#include "purchase/order_writer.hpp"
#include "purchase/reserve_batcher.hpp"
#include "purchase/service.hpp"
#include "purchase/sold_out.hpp"
#include "redis/client.hpp"

#include <chrono>
#include <string>

namespace ticketing::purchase {

struct Options {
  int default_hold_seconds = 300;
  std::chrono::milliseconds confirm_lease{30000};
  // Redis address for the blocking connection that stock sync opens on a database worker.
  std::string redis_host = "127.0.0.1";
  std::uint16_t redis_port = 6379;
  std::chrono::milliseconds redis_timeout{2000};
  // Non-empty: Redis is a cluster; the blocking connection opens to the first of these that
  // answers and follows MOVED/ASK from there (redis_host/redis_port are then not used).
  std::vector<redis::Endpoint> redis_cluster;
  // Process-wide sold-out flags (kept fresh by the waiting-room ticker); none: always ask Redis.
  SoldOutBoard* sold_out = nullptr;
  // Signs reservation ids (keys::SignedIds); derived from the server secret.
  std::string id_key = "reservation-ids-unconfigured-key";
  // Reserves of one product arriving in the same turn of an I/O thread's loop go to Redis as
  // one script call, at most this many (ReserveBatcher); 1: one call each.
  std::size_t reserve_batch_max = 1;
};

// One per I/O thread: `redis` must belong to the calling thread's io_context; `db` and
// `writer` (which batches confirms across threads) are shared.
class PurchaseService final : public Service {
 public:
  PurchaseService(redis::Client& redis, db::Pool& db, OrderWriter& writer, Options options)
      : redis_(redis), db_(db), writer_(writer), options_(std::move(options)),
        ids_(options_.id_key), batcher_(redis, options_.reserve_batch_max) {}

  net::awaitable<Result<Reservation>> Reserve(std::string user, std::int64_t product_id,
                                              int quantity) override;
  net::awaitable<Result<Reservation>> ReserveWithAdmission(std::string user,
                                                           std::int64_t product_id, int quantity,
                                                           std::string admission_ticket,
                                                           std::string idempotency_key) override;
  bool KnownSoldOut(std::int64_t product_id, int quantity) override;
  net::awaitable<Result<Reservation>> ReserveLimited(std::string user, std::int64_t product_id,
                                                     int quantity, std::string admission_ticket,
                                                     std::string idempotency_key,
                                                     RateChecks limits) override;
  net::awaitable<Result<std::vector<Reservation>>> ListReservations(
      std::string user, std::int64_t product_id) override;
  net::awaitable<ConfirmResult> Confirm(std::string user, std::string reservation_id) override;
  net::awaitable<ConfirmResult> ConfirmLimited(std::string user, std::string reservation_id,
                                               RateChecks limits) override;
  net::awaitable<Outcome> Cancel(std::string user, std::string reservation_id) override;
  net::awaitable<Result<Reservation>> GetReservation(std::string user,
                                                     std::string reservation_id) override;
  net::awaitable<Result<Product>> CreateProduct(NewProduct product) override;
  net::awaitable<Result<Product>> GetProduct(std::int64_t product_id) override;
  net::awaitable<Result<Product>> UpdateProduct(std::int64_t product_id,
                                                ProductChanges changes) override;
  net::awaitable<Result<StockSync>> SyncStock(std::int64_t product_id) override;
  net::awaitable<Readiness> CheckReady() override;
  net::awaitable<Result<StockSync>> AdminSyncStock(std::string actor,
                                                   std::int64_t product_id) override;

  // The admin console: admin.cpp.
  net::awaitable<Result<Page<Product>>> ListProducts(std::int64_t after_id, int limit) override;
  net::awaitable<Result<ProductFigures>> GetProductFigures(std::int64_t product_id) override;
  net::awaitable<Result<StockChange>> ChangeStock(std::string actor, std::int64_t product_id,
                                                  std::int64_t delta,
                                                  std::string idempotency_key) override;
  net::awaitable<Result<Product>> SetPaused(std::string actor, std::int64_t product_id,
                                            bool paused) override;
  net::awaitable<Result<Page<HoldRow>>> ListHolds(std::int64_t product_id, std::string state,
                                                  std::string cursor, int limit) override;
  net::awaitable<Result<Page<OrderRow>>> ListOrders(std::int64_t product_id,
                                                    std::int64_t after_id, int limit) override;
  net::awaitable<Result<Refund>> RefundOrder(std::string actor, std::int64_t order_id) override;
  net::awaitable<Result<Page<AuditEntry>>> ListAudit(std::int64_t before_id, int limit) override;

 private:
  net::awaitable<std::optional<Order>> FindOrder(std::string reservation_id, std::string user);

  // Marks confirmed a hold whose order committed; retried at once (a lost reply must not leave
  // the hold confirming until its lease runs out). Returns false if Redis never answered.
  net::awaitable<bool> FinishConfirm(const std::string& hold_key, const std::string& prefix,
                                     const std::string& reservation_id, const Order& order);

  redis::Client& redis_;
  db::Pool& db_;
  OrderWriter& writer_;
  Options options_;
  keys::SignedIds ids_;
  ReserveBatcher batcher_;
};

// The products columns ReadProductRow reads, for a SELECT list.
extern const char* const kProductColumnList;
Product ReadProductRow(const db::Row& row);
// Reads an order row (id, reservation_id, product_id, quantity, total_price_cents).
Order OrderFromRow(const db::Row& row);
// The order made from `reservation_id` (and by `user`, if given), if any.
std::optional<Order> SelectOrder(db::Connection& c, const std::string& reservation_id,
                                 const std::string* user = nullptr);
// The product row, locked (SELECT ... FOR UPDATE) until the caller's transaction ends.
std::optional<Product> SelectProductForUpdate(db::Connection& c, std::int64_t product_id);
// Appends an audit_log row in the caller's transaction. `before`/`after`: JSON text ("" none).
// A non-empty `idempotency_key` must be new for this admin (else QueryError, duplicate key).
void WriteAudit(db::Connection& c, const std::string& actor, std::string_view action,
                std::int64_t product_id, std::int64_t order_id, const std::string& before,
                const std::string& after, const std::string& idempotency_key = "");
// The audit row an admin's earlier call wrote under `idempotency_key`, if any. `lock`: a
// locking read (LOCK IN SHARE MODE), which sees a row committed while the caller waited on a
// row lock; else a plain read of the transaction's snapshot.
struct KeyedAudit {
  std::int64_t product_id = 0;
  std::string action;
  std::string after;  // JSON text
};
std::optional<KeyedAudit> FindKeyedAudit(db::Connection& c, const std::string& actor,
                                         const std::string& idempotency_key, bool lock);
// A product's settings and stock as the audit trail records them (JSON text).
std::string ProductAuditJson(const Product& p);
// The product's Redis info fields as sync_stock.lua takes them: name, priceCents, limit,
// holdSeconds, total, saleStartsAtMs, then the waiting room, then paused.
std::vector<std::string> ProductInfoArgs(const Product& p);

}  // namespace ticketing::purchase
