#pragma once
// In-memory stand-ins for the purchase and waiting-room services, for the API unit tests and the
// request-path fuzz target (fuzz/): every call answers `next` (or throws UnavailableError when
// `throw_unavailable`), with fixed plausible values, and remembers what it was asked.
#include "common/errors.hpp"
#include "purchase/service.hpp"
#include "queue/admission.hpp"
#include "queue/service.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ticketing::http {

// Whether a fake "has" the reservation or ticket `id`: the printable-ASCII ones. A real store
// knows only the ids it made, so it never echoes back bytes a request made up.
inline bool FakeKnows(std::string_view id) {
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

class FakePurchase : public purchase::Service {
 public:
  using Outcome = purchase::Outcome;

  Outcome next = Outcome::kOk;
  bool throw_unavailable = false;
  purchase::Readiness ready{true, false};
  // Set when an answer was one the API may map to 503 (a throw, kQueueFull, not ready).
  bool declared_unavailable = false;
  int reserves = 0;
  bool known_sold_out = false;
  std::string last_user;
  std::int64_t last_product = 0;
  int last_quantity = 0;
  std::string last_ticket;
  purchase::ProductChanges last_changes;

  bool KnownSoldOut(std::int64_t, int) override { return known_sold_out; }
  net::awaitable<purchase::Result<purchase::Reservation>> Reserve(std::string user,
                                                                  std::int64_t product_id,
                                                                  int quantity) override {
    return ReserveWithAdmission(std::move(user), product_id, quantity, "", "");
  }
  net::awaitable<purchase::Result<purchase::Reservation>> ReserveWithAdmission(
      std::string user, std::int64_t product_id, int quantity, std::string ticket,
      std::string) override {
    Answer();
    ++reserves;
    last_user = user;
    last_product = product_id;
    last_quantity = quantity;
    last_ticket = ticket;
    co_return purchase::Result<purchase::Reservation>{
        next, {"7-" + std::string(32, 'a'), product_id, quantity, "held", 1000'000, 700'000}};
  }
  net::awaitable<purchase::Result<std::vector<purchase::Reservation>>> ListReservations(
      std::string user, std::int64_t product_id) override {
    Answer();
    last_user = user;
    co_return purchase::Result<std::vector<purchase::Reservation>>{
        next, {{"7-" + std::string(32, 'a'), product_id, 1, "held", 1000'000, 700'000}}};
  }
  net::awaitable<purchase::ConfirmResult> Confirm(std::string user, std::string rid) override {
    Answer();
    last_user = user;
    co_return purchase::ConfirmResult{next, {5, rid, 7, 1, 1999}, true};
  }
  net::awaitable<Outcome> Cancel(std::string user, std::string) override {
    Answer();
    last_user = user;
    co_return next;
  }
  net::awaitable<purchase::Result<purchase::Reservation>> GetReservation(std::string user,
                                                                         std::string rid) override {
    Answer();
    last_user = user;
    if (!FakeKnows(rid))
      co_return purchase::Result<purchase::Reservation>{Outcome::kReservationNotFound, {}};
    co_return purchase::Result<purchase::Reservation>{next, {rid, 7, 1, "held", 1000, 0}};
  }
  net::awaitable<purchase::Result<purchase::Product>> CreateProduct(
      purchase::NewProduct p) override {
    Answer();
    co_return purchase::Result<purchase::Product>{
        next, {9, p.name, p.price_cents, p.stock, p.stock, p.per_user_limit, p.hold_seconds,
               p.sale_starts_at_ms, p.queue}};
  }
  net::awaitable<purchase::Result<purchase::Product>> GetProduct(std::int64_t id) override {
    Answer();
    co_return purchase::Result<purchase::Product>{next, {id, "Gig", 4950, 100, 42, 1, 300}};
  }
  net::awaitable<purchase::Result<purchase::Product>> UpdateProduct(
      std::int64_t id, purchase::ProductChanges c) override {
    Answer();
    last_changes = c;
    purchase::Product p{id, "Gig", 100, 5, 5, 1, 60};
    if (c.sale_starts_at_ms) p.sale_starts_at_ms = *c.sale_starts_at_ms;
    co_return purchase::Result<purchase::Product>{next, p};
  }
  net::awaitable<purchase::Result<purchase::StockSync>> SyncStock(std::int64_t) override {
    Answer();
    co_return purchase::Result<purchase::StockSync>{next, {10, 8, 9, 1}};
  }
  net::awaitable<purchase::Readiness> CheckReady() override {
    if (!ready.redis || !ready.database) declared_unavailable = true;
    co_return ready;
  }

 private:
  void Answer() {
    if (next == Outcome::kQueueFull) declared_unavailable = true;
    if (throw_unavailable) {
      declared_unavailable = true;
      throw UnavailableError("redis: connection refused");
    }
  }
};

class FakeQueue : public queue::Service {
 public:
  using Outcome = purchase::Outcome;

  // Admission tokens are checked with `codec` against `now_ms`.
  FakeQueue(const queue::AdmissionCodec& codec, std::int64_t now_ms)
      : codec_(codec), now_ms_(now_ms) {}

  Outcome next = Outcome::kOk;
  bool throw_unavailable = false;
  bool declared_unavailable = false;  // as FakePurchase's
  std::string last_user;
  std::string last_ticket;

  net::awaitable<purchase::Result<queue::Place>> Join(std::string user, std::int64_t) override {
    Answer();
    last_user = user;
    queue::Place p;
    p.ticket = "7-" + std::string(32, 'b');
    p.state = "waiting";
    p.position = 3;
    p.ahead_of_you = 2;
    p.eta_seconds = 1;
    co_return purchase::Result<queue::Place>{next, p};
  }
  net::awaitable<purchase::Result<queue::Place>> Status(std::string user, std::int64_t,
                                                        std::string ticket) override {
    Answer();
    last_user = user;
    last_ticket = ticket;
    if (!FakeKnows(ticket)) co_return purchase::Result<queue::Place>{Outcome::kTicketNotFound, {}};
    queue::Place p;
    p.ticket = ticket;
    p.state = "admitted";
    p.admission_token = "tok";
    p.admission_expires_at_ms = 1'800'000'060'000;
    co_return purchase::Result<queue::Place>{next, p};
  }
  net::awaitable<purchase::Result<queue::LineInfo>> Info(std::int64_t id) override {
    Answer();
    queue::LineInfo i;
    i.product_id = id;
    i.enabled = true;
    i.length = 42;
    i.sold_out = true;
    co_return purchase::Result<queue::LineInfo>{next, i};
  }
  std::optional<std::string> VerifyAdmission(std::string_view token, std::string_view user,
                                             std::int64_t product) const override {
    return codec_.Verify(token, user, product, now_ms_);
  }

 private:
  void Answer() {
    if (next == Outcome::kQueueFull) declared_unavailable = true;
    if (throw_unavailable) {
      declared_unavailable = true;
      throw UnavailableError("redis: connection refused");
    }
  }
  const queue::AdmissionCodec& codec_;
  std::int64_t now_ms_;
};

}  // namespace ticketing::http
