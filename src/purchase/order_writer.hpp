#pragma once
// Writes confirmed orders to the database with group commit: while one transaction for a
// product is in flight, that product's new confirms queue up and go together in the next one —
// one row lock and one log flush for many orders instead of one each. At low load a confirm is
// written at once, alone. A batch that hits a duplicate reservation or too little stock is
// rolled back and redone one order at a time, so each confirm gets its own exact outcome.
#include "common/errors.hpp"
#include "db/db.hpp"
#include "purchase/service.hpp"

#include <boost/asio/any_completion_handler.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ticketing::purchase {

struct OrderRequest {
  std::string reservation_id;
  std::int64_t product_id = 0;
  std::string user;
  int quantity = 0;
  // The confirm lease this order is written under: if a sweeper revoked it (revoked_leases),
  // the order is not written.
  std::string lease_id;
  // Not started after this: the caller's lease would run out while it waits.
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct OrderResult {
  enum Kind {
    kCommitted,     // this call made the order
    kDuplicate,     // an earlier call made it (order holds that one)
    kNoStock,       // the database has fewer units than asked for; nothing written
    kLimitReached,  // the buyer's orders would pass the product's per-buyer limit; nothing written
    kLeaseRevoked,  // a sweeper took this confirm's lease over; nothing written
  } kind = kCommitted;
  Order order;
};

// COMMIT was sent but not acknowledged: the order may or may not exist.
class CommitUnknown : public UnavailableError {
 public:
  using UnavailableError::UnavailableError;
};

class OrderWriter {
 public:
  // `fault`: test-only "crash_before_commit" / "crash_after_commit" SIGKILLs the process there;
  // "stall_before_insert:MS" sleeps MS inside each order transaction before its INSERT (a
  // confirm that outlives its lease).
  OrderWriter(db::Pool& pool, std::size_t max_batch = 128, std::string fault = "");
  // Waits until no worker is inside this writer (the pool must still be running).
  ~OrderWriter();
  OrderWriter(const OrderWriter&) = delete;
  OrderWriter& operator=(const OrderWriter&) = delete;

  // Inserts the order and takes its units (stock >= quantity) in one transaction. Throws
  // db::Unavailable when nothing was committed, CommitUnknown when the outcome is unknown,
  // db::QueryError for a rejected statement.
  net::awaitable<OrderResult> Write(OrderRequest request);

  std::uint64_t transactions() const { return transactions_.load(); }
  std::uint64_t orders() const { return orders_.load(); }

 private:
  using Handler = net::any_completion_handler<void(std::exception_ptr, OrderResult)>;
  // Move-constructible only. Boost 1.81's any_completion_handler move-assignment constructs
  // from an lvalue, which its template constructor takes as a new handler to wrap: endless
  // recursion. So Pending is never assigned (queues are deques, only pushed and popped).
  struct Pending {
    Pending(OrderRequest r, Handler h, net::any_io_executor ex)
        : request(std::move(r)), handler(std::move(h)), executor(std::move(ex)) {}
    Pending(Pending&&) noexcept = default;
    Pending& operator=(Pending&&) = delete;
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;

    OrderRequest request;
    Handler handler;
    net::any_io_executor executor;  // the waiter's, tracking outstanding work
  };
  struct Outcome {
    std::exception_ptr error;
    OrderResult result;
  };

  void Enqueue(Pending pending);
  // On a worker: writes batches of `product_id` until none is waiting.
  void Drain(db::Connection* c, std::exception_ptr connect_error, std::int64_t product_id);
  // Starts a Drain job for the product's queue (which must be marked writing); if the pool
  // refuses it, fails every waiter of that queue instead. Call without holding mu_.
  void StartDrain(std::int64_t product_id);
  // Outcomes in the batch's order. Requests past their deadline fail with db::Unavailable.
  std::vector<Outcome> WriteBatch(db::Connection& c, const std::vector<Pending>& batch);
  // One transaction for all of `group` (one product); redone one by one if any cannot commit.
  std::vector<Outcome> WriteGroup(db::Connection& c, const std::vector<const OrderRequest*>& group);
  Outcome WriteOne(db::Connection& c, const OrderRequest& r);
  void CrashIf(const char* point) const;
  void StallIfAsked() const;

  db::Pool& pool_;
  std::size_t max_batch_;
  std::string fault_;
  std::mutex mu_;
  struct Queue {
    std::deque<Pending> waiting;
    bool writing = false;  // a worker is draining this product
  };
  std::map<std::int64_t, Queue> queues_;
  int draining_ = 0;              // Drain jobs submitted and not yet returned
  std::condition_variable idle_;  // notified (under mu_) when draining_ drops to 0
  std::atomic<std::uint64_t> transactions_{0};
  std::atomic<std::uint64_t> orders_{0};
};

}  // namespace ticketing::purchase
