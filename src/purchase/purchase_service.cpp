#include "purchase/purchase_service.hpp"

#include <boost/json.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "purchase/keys.hpp"
#include "purchase/rebuild.hpp"
#include "purchase/scripts.hpp"

namespace ticketing::purchase {

namespace {

using metrics::Event;
using metrics::Registry;

std::int64_t ToInt(const std::optional<std::string>& s) { return s ? std::stoll(*s) : 0; }

// A script reply must be an array headed by a status word; anything else is a bug.
const std::string& Tag(const redis::Value& v) {
  if (v.IsError()) throw std::runtime_error("redis script error: " + v.str);
  if (v.type != redis::Value::Type::kArray || v.elements.empty()) {
    throw std::runtime_error("redis script: unexpected reply");
  }
  return v.elements[0].str;
}

const std::string& Status(const redis::Value& v) {
  if (v.IsError()) throw std::runtime_error("redis script error: " + v.str);
  return v.str;
}

// Product columns in the order ProductFromRow reads them. sale_starts_at is a UTC DATETIME(3),
// read and written as unix ms without any session time-zone conversion.
constexpr const char* kProductColumns =
    "id, name, price_cents, total_stock, stock, per_user_limit, hold_seconds, "
    "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', sale_starts_at) DIV 1000, queue_json, "
    "paused";
constexpr const char* kSaleStartsAtFromMs =
    "TIMESTAMPADD(MICROSECOND, ?, '1970-01-01 00:00:00')";  // param: ms * 1000, or NULL

std::string QueueJson(const QueueSettings& q) {
  return boost::json::serialize(boost::json::object{
      {"enabled", q.enabled},
      {"admitPerSecond", q.admit_per_second},
      {"maxActive", q.max_active},
      {"admissionTtlSeconds", q.admission_ttl_seconds},
      {"powDifficulty", q.pow_difficulty}});
}

std::optional<QueueSettings> ParseQueueJson(const std::optional<std::string>& text) {
  if (!text || text->empty()) return std::nullopt;
  boost::system::error_code ec;
  auto v = boost::json::parse(*text, ec);
  if (ec || !v.is_object()) throw std::runtime_error("products.queue_json is not a JSON object");
  const auto& o = v.as_object();
  QueueSettings q;
  auto num = [&](const char* name, int def) {
    auto* f = o.if_contains(name);
    return f && f->is_int64() ? static_cast<int>(f->as_int64()) : def;
  };
  if (auto* f = o.if_contains("enabled"); f && f->is_bool()) q.enabled = f->as_bool();
  q.admit_per_second = num("admitPerSecond", q.admit_per_second);
  q.max_active = num("maxActive", q.max_active);
  q.admission_ttl_seconds = num("admissionTtlSeconds", q.admission_ttl_seconds);
  q.pow_difficulty = num("powDifficulty", q.pow_difficulty);
  return q;
}

db::Param StartParam(const std::optional<std::int64_t>& ms) {
  if (!ms) return nullptr;
  return *ms * 1000;
}

// A product row selected with kProductColumns.
Product ProductFromRow(const db::Row& r) {
  Product p{ToInt(r.at(0)),
            r.at(1).value_or(""),
            ToInt(r.at(2)),
            ToInt(r.at(3)),
            ToInt(r.at(4)),
            static_cast<int>(ToInt(r.at(5))),
            static_cast<int>(ToInt(r.at(6)))};
  if (r.at(7)) p.sale_starts_at_ms = std::stoll(*r.at(7));
  p.queue = ParseQueueJson(r.at(8));
  p.paused = r.at(9).value_or("0") == "1";
  return p;
}

// The sale-start and waiting-room arguments of init_product / product_settings.
std::vector<std::string> SettingsArgs(const std::optional<std::int64_t>& start,
                                      const std::optional<QueueSettings>& q) {
  std::vector<std::string> out{start ? std::to_string(*start) : ""};
  if (q) {
    out.push_back(q->enabled ? "1" : "0");
    out.push_back(std::to_string(q->admit_per_second));
    out.push_back(std::to_string(q->max_active));
    out.push_back(std::to_string(q->admission_ttl_seconds));
    out.push_back(std::to_string(q->pow_difficulty));
  } else {
    out.insert(out.end(), {"", "", "", "", ""});
  }
  return out;
}

}  // namespace

const char* const kProductColumnList = kProductColumns;
Product ReadProductRow(const db::Row& row) { return ProductFromRow(row); }

Order OrderFromRow(const db::Row& row) {
  Order o;
  o.id = ToInt(row.at(0));
  o.reservation_id = row.at(1).value_or("");
  o.product_id = ToInt(row.at(2));
  o.quantity = static_cast<int>(ToInt(row.at(3)));
  o.total_cents = ToInt(row.at(4));
  return o;
}

net::awaitable<Result<Reservation>> PurchaseService::Reserve(std::string user,
                                                             std::int64_t product_id,
                                                             int quantity) {
  return ReserveWithAdmission(std::move(user), product_id, quantity, std::string(), std::string());
}

bool PurchaseService::KnownSoldOut(std::int64_t product_id, int quantity) {
  if (!options_.sold_out || !options_.sold_out->CannotReserve(product_id, quantity)) return false;
  Registry::Get().Count(Event::kSoldOutFlagHit);
  return true;
}

net::awaitable<Result<Reservation>> PurchaseService::ReserveWithAdmission(
    std::string user, std::int64_t product_id, int quantity, std::string admission_ticket,
    std::string idempotency_key) {
  return ReserveLimited(std::move(user), product_id, quantity, std::move(admission_ticket),
                        std::move(idempotency_key), RateChecks{});
}

namespace {

// What reserve.lua's reply says, except NOT_FOUND and DUPLICATE (nullopt: the caller rebuilds
// the product or draws another id). A plain function, so that its Reservations do not make
// ReserveLimited's coroutine frame larger than Asio recycles (~1 KiB): past that, every
// reserve allocates the frame anew.
std::optional<Result<Reservation>> ReserveAnswer(const redis::Value& reply, const std::string& rid,
                                                 std::int64_t product_id, int quantity,
                                                 SoldOutBoard* sold_out) {
  const auto& tag = Tag(reply);
  if (tag == "RATE_LIMITED") {
    Registry::Get().Count(Event::kRateLimited);
    Reservation r;
    r.retry_after_ms = reply.elements.size() > 1 ? reply.elements[1].integer : 1000;
    return Result<Reservation>{Outcome::kRateLimited, std::move(r)};
  }
  if (tag == "OK") {
    if (sold_out) sold_out->SeenAvailable(product_id, reply.elements[2].integer, reply.written_at);
    Registry::Get().Count(Event::kHoldCreated);
    Reservation r{
        rid, product_id, quantity, "held", reply.elements[1].integer, reply.elements[3].integer};
    return Result<Reservation>{Outcome::kOk, std::move(r)};
  }
  if (tag == "REPEATED") {
    const auto& e = reply.elements;
    if (e[2].integer != quantity) return Result<Reservation>{Outcome::kIdempotencyConflict, {}};
    Reservation r{e[1].str, product_id, quantity, e[3].str, e[4].integer, e[5].integer, true};
    if (r.state == "held" && r.expires_at_ms <= r.now_ms) r.state = "expired";
    return Result<Reservation>{Outcome::kOk, std::move(r)};
  }
  if (tag == "SOLD_OUT") {
    if (sold_out) sold_out->SeenAvailable(product_id, reply.elements[1].integer, reply.written_at);
    return Result<Reservation>{Outcome::kSoldOut, {}};
  }
  if (tag == "LIMIT_REACHED") return Result<Reservation>{Outcome::kLimitReached, {}};
  if (tag == "SALE_NOT_OPEN") return Result<Reservation>{Outcome::kSaleNotOpen, {}};
  if (tag == "SALE_PAUSED") return Result<Reservation>{Outcome::kSalePaused, {}};
  if (tag == "NOT_ADMITTED") return Result<Reservation>{Outcome::kNotAdmitted, {}};
  return std::nullopt;
}

}  // namespace

net::awaitable<Result<Reservation>> PurchaseService::ReserveLimited(
    std::string user, std::int64_t product_id, int quantity, std::string admission_ticket,
    std::string idempotency_key, RateChecks limits) {
  // A product known to be sold out was answered by the caller (KnownSoldOut, before this
  // coroutine's frame); what becomes known while the command waits, StillWanted answers.
  const auto prefix = keys::Prefix(product_id);
  // While the command waits to be written (a burst fills the connection), a reply to another
  // reserve may show the product sold out: then it is answered without going to Redis.
  // Answering from a reply to a command written after this request arrived is as true as
  // Redis's own answer would be.
  struct WantContext {
    const SoldOutBoard* board;
    std::int64_t product_id;
    int quantity;
    SoldOutBoard::Clock::time_point arrived;
  } want{options_.sold_out, product_id, quantity, SoldOutBoard::Clock::now()};
  redis::StillWanted still_wanted;
  if (options_.sold_out && idempotency_key.empty()) {
    still_wanted = {[](const void* c) {
                      const auto* w = static_cast<const WantContext*>(c);
                      return !w->board->SeenSoldOutSince(w->product_id, w->quantity, w->arrived);
                    },
                    &want};
  }
  for (int attempt = 0;; ++attempt) {
    auto rid = ids_.New(product_id, user);
    // Named vectors: GCC 12 cannot keep a braced list's array alive across co_await in a loop.
    // Sized for the limits up front, so that appending them does not move every string again.
    const bool limited = attempt == 0 && !limits.empty();
    std::vector<std::string> keys;
    keys.reserve(5 + (limited ? limits.keys.size() : 0));
    keys.push_back(keys::Info(prefix));
    keys.push_back(keys::Available(prefix));
    keys.push_back(keys::Expiry(prefix));
    keys.push_back(keys::User(prefix, user));
    keys.push_back(keys::Hold(prefix, rid));
    std::vector<std::string> args;
    args.reserve(7 + (limited ? 1 + limits.specs.size() : 0));
    args.push_back(user);
    args.push_back(std::to_string(quantity));
    args.push_back(rid);
    args.push_back(std::to_string(options_.default_hold_seconds));
    args.push_back(prefix);
    args.push_back(admission_ticket);
    args.push_back(idempotency_key);
    if (limited) {
      // Counted once per request: a retry after a rebuild or an id collision is not another.
      std::move(limits).AppendTo(keys, args);
    }
    redis::Value reply;
    bool withdrawn = false;
    try {
      reply = co_await batcher_.Reserve(product_id, std::move(keys), std::move(args), still_wanted);
    } catch (const redis::Withdrawn&) {
      withdrawn = true;
    }
    if (withdrawn) {
      Registry::Get().Count(Event::kSoldOutFlagHit);
      co_return Result<Reservation>{Outcome::kSoldOut, {}};
    }
    if (auto done = ReserveAnswer(reply, rid, product_id, quantity, options_.sold_out)) {
      co_return std::move(*done);
    }
    const auto& tag = Tag(reply);
    if (tag == "NOT_FOUND") {
      // Redis lost the product (flushed, or older than it): the database decides, once.
      if (attempt == 0 && co_await RebuildProductIfInDatabase(db_, options_, product_id)) continue;
      co_return Result<Reservation>{Outcome::kProductNotFound, {}};
    }
    // DUPLICATE: the random part of an id collided; draw another.
    if (attempt >= 2)
      throw std::runtime_error(std::string("reserve: reservation id collided again"));
  }
}

net::awaitable<Result<std::vector<Reservation>>> PurchaseService::ListReservations(
    std::string user, std::int64_t product_id) {
  const auto prefix = keys::Prefix(product_id);
  auto reply = co_await redis_.Eval(Scripts::Get().list_holds,
                                    redis::List(prefix + ":uh:" + user), redis::List(prefix));
  if (reply.IsError() || reply.elements.empty()) {
    throw std::runtime_error("list_holds: " + reply.str);
  }
  std::vector<Reservation> out;
  const auto now = reply.elements[0].integer;
  for (std::size_t i = 1; i < reply.elements.size(); ++i) {
    const auto& h = reply.elements[i].elements;
    Reservation r{h[0].str, product_id, static_cast<int>(h[1].integer), h[2].str, h[3].integer,
                  now};
    if (r.state == "held" && r.expires_at_ms <= now) r.state = "expired";
    out.push_back(std::move(r));
  }
  co_return Result<std::vector<Reservation>>{Outcome::kOk, std::move(out)};
}

std::optional<Order> SelectOrder(db::Connection& c, const std::string& reservation_id,
                                 const std::string* user) {
  std::string sql =
      "SELECT id, reservation_id, product_id, quantity, total_price_cents FROM orders "
      "WHERE reservation_id = ?";
  std::vector<db::Param> params{reservation_id};
  if (user) {
    sql += " AND user_id = ?";
    params.emplace_back(*user);
  }
  auto r = c.Execute(sql, params);
  if (r.rows.empty()) return std::nullopt;
  return OrderFromRow(r.rows.front());
}

net::awaitable<std::optional<Order>> PurchaseService::FindOrder(std::string reservation_id,
                                                                std::string user) {
  // By reference: the frame outlives the call, and GCC 12 miscompiles closures that move a
  // coroutine's parameters into init-captures.
  co_return co_await db_.Run(
      [&](db::Connection& c) { return SelectOrder(c, reservation_id, &user); });
}

net::awaitable<ConfirmResult> PurchaseService::ConfirmLimited(std::string user,
                                                              std::string reservation_id,
                                                              RateChecks limits) {
  if (!limits.empty() && ids_.Verify(reservation_id, user)) {
    auto reply = co_await redis_.Eval(Scripts::Get().rate_limit, limits.keys, limits.specs);
    if (reply.IsError()) throw std::runtime_error("rate_limit: " + reply.str);
    if (reply.integer > 0) {
      Registry::Get().Count(Event::kRateLimited);
      ConfirmResult r{Outcome::kRateLimited, {}, false};
      r.retry_after_ms = reply.integer;
      co_return r;
    }
  }
  co_return co_await Confirm(std::move(user), std::move(reservation_id));
}

net::awaitable<ConfirmResult> PurchaseService::Confirm(std::string user,
                                                       std::string reservation_id) {
  // A made-up or another buyer's id costs nothing: no Redis, no database.
  auto product_id = ids_.Verify(reservation_id, user);
  if (!product_id) co_return ConfirmResult{Outcome::kReservationNotFound, {}, false};
  const auto prefix = keys::Prefix(*product_id);
  const auto hold_key = keys::Hold(prefix, reservation_id);
  const auto& scripts = Scripts::Get();

  // A second round only when a sweeper revoked the first round's lease (the hold is then back
  // to held, expired, or still being settled).
  for (int round = 0;; ++round) {
    const std::string lease_id = keys::NewReservationId(*product_id);
    const auto started = std::chrono::steady_clock::now();
    auto begin = co_await redis_.Eval(
        scripts.confirm_begin, redis::List(hold_key),
        redis::List(prefix, reservation_id, user, std::to_string(options_.confirm_lease.count()),
                    lease_id));
    const auto& tag = Tag(begin);
    if (tag == "NOT_FOUND") {
      // Finished holds are kept an hour; after that the order (if any) is only in the database.
      if (auto order = co_await FindOrder(reservation_id, user)) {
        co_return ConfirmResult{Outcome::kOk, *order, false};
      }
      co_return ConfirmResult{Outcome::kReservationNotFound, {}, false};
    }
    if (tag == "EXPIRED" || tag == "CANCELLED") {
      // Redis may have come back from before this hold's confirm: a buyer once told
      // "confirmed" is never told otherwise. (Only the owner of a real id gets here.)
      if (auto order = co_await FindOrder(reservation_id, user)) {
        co_return ConfirmResult{Outcome::kOk, *order, false};
      }
      co_return ConfirmResult{
          tag == "EXPIRED" ? Outcome::kReservationExpired : Outcome::kReservationCancelled, {},
          false};
    }
    if (tag == "CONFIRMING") co_return ConfirmResult{Outcome::kConfirmInProgress, {}, false};
    if (tag == "CONFIRMED") {
      Order o{std::stoll(begin.elements[1].str), reservation_id, *product_id,
              static_cast<int>(begin.elements[3].integer), std::stoll(begin.elements[2].str)};
      co_return ConfirmResult{Outcome::kOk, o, false};
    }
    const int quantity = static_cast<int>(begin.elements[1].integer);

    // The hold is ours under the lease. One transaction (shared with concurrent confirms of the
    // product: group commit): the order, unique per reservation, the stock decrement guarded by
    // stock >= quantity, the buyer's limit, and the check that no sweeper revoked our lease.
    // It must start within half the lease, so that it ends (bounded by the database timeouts,
    // see config) before a sweeper may take the lease over; if it does not, the fence in the
    // database still keeps a late commit out.
    OrderRequest request{reservation_id, *product_id, user, quantity, lease_id,
                         started + options_.confirm_lease / 2};
    OrderResult tx;
    bool outcome_unknown = false;
    std::exception_ptr failure;
    try {
      tx = co_await writer_.Write(std::move(request));
    } catch (const CommitUnknown& e) {
      // COMMIT was sent but not acknowledged: the order may exist. Leave the hold confirming;
      // when the lease runs out a sweeper settles it from the database.
      Registry::Get().Count(Event::kDbUnavailable);
      log::Warn("confirm_commit_unknown", {{"reservation", reservation_id}, {"error", e.what()}});
      outcome_unknown = true;
      failure = std::current_exception();
    } catch (const db::Unavailable&) {
      Registry::Get().Count(Event::kDbUnavailable);
      failure = std::current_exception();
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // Nothing committed: back to held so that a retry can confirm. (co_await is not allowed
      // inside a handler, hence the exception_ptr.) If this fails too, the lease runs out and a
      // sweeper restores the hold.
      if (!outcome_unknown) {
        co_await redis_.Eval(scripts.confirm_abort, redis::List(hold_key),
                             redis::List(prefix, reservation_id, "restore", lease_id));
      }
      std::rethrow_exception(failure);
    }

    if (tx.kind == OrderResult::kLeaseRevoked) {
      // A sweeper decided this hold while we waited for the database; it holds the hold now.
      log::Warn("confirm_lease_revoked", {{"reservation", reservation_id}});
      if (round == 0) continue;
      co_return ConfirmResult{Outcome::kConfirmInProgress, {}, false};
    }
    if (tx.kind == OrderResult::kLimitReached) {
      // The buyer already owns the product's limit (the database says so even if Redis forgot):
      // end the hold and give its units back.
      co_await redis_.Eval(scripts.confirm_abort, redis::List(hold_key),
                           redis::List(prefix, reservation_id, "release", lease_id));
      co_return ConfirmResult{Outcome::kLimitReached, {}, false};
    }
    if (tx.kind == OrderResult::kNoStock) {
      // Redis let the hold through but the database has no stock for it: the two disagree.
      // End the hold without giving back units, then make Redis agree with the database (the
      // database may be short by fewer units than the hold had).
      Registry::Get().Count(Event::kConfirmVoided);
      log::Error("confirm_no_database_stock",
                 {{"reservation", reservation_id}, {"product", *product_id}});
      co_await redis_.Eval(scripts.confirm_abort, redis::List(hold_key),
                           redis::List(prefix, reservation_id, "void", lease_id));
      std::exception_ptr sync_error;
      try {
        co_await SyncStock(*product_id);
      } catch (...) {
        sync_error = std::current_exception();
      }
      if (sync_error) log::Warn("stock_sync_after_void_failed", {{"product", *product_id}});
      co_return ConfirmResult{Outcome::kSoldOut, {}, false};
    }
    if (tx.kind == OrderResult::kCommitted) Registry::Get().Count(Event::kConfirmCommitted);
    co_await FinishConfirm(hold_key, prefix, reservation_id, tx.order);
    co_return ConfirmResult{Outcome::kOk, tx.order, tx.kind == OrderResult::kCommitted};
  }
}

net::awaitable<bool> PurchaseService::FinishConfirm(const std::string& hold_key,
                                                    const std::string& prefix,
                                                    const std::string& reservation_id,
                                                    const Order& order) {
  net::steady_timer pause(co_await net::this_coro::executor);
  std::chrono::milliseconds backoff{20};
  for (int attempt = 1;; ++attempt) {
    std::string error;
    try {
      auto fin = co_await redis_.Eval(
          Scripts::Get().confirm_finish, redis::List(hold_key),
          redis::List(prefix, reservation_id, std::to_string(order.id),
                      std::to_string(order.total_cents)));
      const auto& status = Status(fin);
      if (status == "OK") co_return true;
      // Redis came back from before this confirm (RETAKEN: the hold was not confirming) or lost
      // the hold: only the database can say what is available now.
      if (status == "RETAKEN") {
        Registry::Get().Count(Event::kConfirmRetaken);
        log::Warn("confirm_retaken", {{"reservation", reservation_id}});
      } else {
        log::Warn("confirm_hold_missing", {{"reservation", reservation_id}});
      }
      break;
    } catch (const redis::Unavailable& e) {
      error = e.what();
    }
    if (attempt >= 4) {
      // The order is committed; the hold stays confirming until a sweeper settles it.
      log::Warn("confirm_finish_deferred", {{"reservation", reservation_id}, {"error", error}});
      co_return false;
    }
    pause.expires_after(backoff);
    co_await pause.async_wait(net::use_awaitable);
    backoff *= 4;
  }
  std::string error;
  try {
    co_await RebuildProduct(db_, options_, order.product_id);
  } catch (const std::exception& e) {
    error = e.what();  // the Redis-loss watch or a later sync puts it right
  }
  if (!error.empty()) log::Warn("reconcile_after_finish_failed", {{"error", error}});
  co_return true;
}

net::awaitable<Outcome> PurchaseService::Cancel(std::string user, std::string reservation_id) {
  auto product_id = ids_.Verify(reservation_id, user);
  if (!product_id) co_return Outcome::kReservationNotFound;
  // The database first: a Redis that came back from before this hold's confirm still shows it
  // held, and a buyer who owns an order must not be told "cancelled". A confirm that commits
  // after this read began from 'confirming' in this Redis, which the script below refuses.
  if (co_await FindOrder(reservation_id, user)) co_return Outcome::kAlreadyConfirmed;
  const auto prefix = keys::Prefix(*product_id);
  auto reply =
      co_await redis_.Eval(Scripts::Get().cancel, redis::List(keys::Hold(prefix, reservation_id)),
                           redis::List(prefix, reservation_id, user));
  const auto& tag = Tag(reply);
  if (tag == "OK") {
    if (reply.elements[1].integer > 0) {
      Registry::Get().Count(Event::kHoldCancelled);
      if (options_.sold_out) options_.sold_out->Returned(*product_id);
    }
    co_return Outcome::kOk;
  }
  if (tag == "CONFIRMED") co_return Outcome::kAlreadyConfirmed;
  if (tag == "CONFIRMING") co_return Outcome::kConfirmInProgress;
  if (tag == "EXPIRED") co_return Outcome::kReservationExpired;
  co_return Outcome::kReservationNotFound;
}

net::awaitable<Result<Reservation>> PurchaseService::GetReservation(std::string user,
                                                                    std::string reservation_id) {
  auto product_id = ids_.Verify(reservation_id, user);
  if (!product_id) co_return Result<Reservation>{Outcome::kReservationNotFound, {}};
  auto reply = co_await redis_.Eval(Scripts::Get().hold_status,
                                    redis::List(keys::Hold(keys::Prefix(*product_id), reservation_id)),
                                    redis::List());
  if (reply.IsError() || reply.elements.size() != 5 || reply.elements[0].str != user) {
    if (auto order = co_await FindOrder(reservation_id, user)) {
      co_return Result<Reservation>{
          Outcome::kOk, {reservation_id, *product_id, order->quantity, "confirmed", 0, 0}};
    }
    co_return Result<Reservation>{Outcome::kReservationNotFound, {}};
  }
  const auto& e = reply.elements;
  Reservation r{reservation_id, *product_id, static_cast<int>(e[1].integer), e[2].str,
                e[3].integer,   e[4].integer};
  // A hold past its time is expired for the buyer even before a sweeper returned its units.
  if (r.state == "held" && r.expires_at_ms <= r.now_ms) r.state = "expired";
  // Before saying "expired" or "cancelled", the database: Redis may have come back from before
  // this hold's confirm.
  if (r.state == "expired" || r.state == "cancelled") {
    if (auto order = co_await FindOrder(reservation_id, user)) {
      r.quantity = order->quantity;
      r.state = "confirmed";
    }
  }
  co_return Result<Reservation>{Outcome::kOk, std::move(r)};
}

net::awaitable<Result<Product>> PurchaseService::CreateProduct(NewProduct p) {
  const int hold = p.hold_seconds.value_or(options_.default_hold_seconds);
  // The key lives in the audit row, which only a create with an actor writes.
  const std::string key = p.actor.empty() ? std::string() : p.idempotency_key;
  const std::string audit = ProductAuditJson(Product{0, p.name, p.price_cents, p.stock, p.stock,
                                                     p.per_user_limit, hold, p.sale_starts_at_ms,
                                                     p.queue});
  struct Made {
    std::int64_t id = 0;
    bool repeated = false;  // an earlier create under the key made it
    bool conflict = false;  // the key names something else
  };
  auto made = co_await db_.Run([&](db::Connection& c) {
    for (int attempt = 1;; ++attempt) {
      try {
        return db::Transaction(c, [&]() -> Made {
          // A plain read: a concurrent create under the key shows up as a duplicate key below.
          if (auto earlier = key.empty() ? std::nullopt : FindKeyedAudit(c, p.actor, key, false)) {
            if (earlier->action != "product_create" || earlier->after != audit) {
              return {0, false, true};
            }
            return {earlier->product_id, true, false};
          }
          auto r = c.Execute(
              std::string("INSERT INTO products (name, price_cents, total_stock, stock, "
                          "per_user_limit, hold_seconds, sale_starts_at, queue_json) VALUES "
                          "(?, ?, ?, ?, ?, ?, ") +
                  kSaleStartsAtFromMs + ", ?)",
              {p.name, p.price_cents, p.stock, p.stock, std::int64_t{p.per_user_limit},
               std::int64_t{hold}, StartParam(p.sale_starts_at_ms),
               p.queue ? db::Param(QueueJson(*p.queue)) : db::Param(nullptr)});
          const auto new_id = static_cast<std::int64_t>(r.insert_id);
          if (!p.actor.empty()) {
            WriteAudit(c, p.actor, "product_create", new_id, 0, "", audit, key);
          }
          return {new_id};
        });
      } catch (const db::QueryError& e) {
        // The same key at the same moment: the other call's audit row (unique per admin and
        // key) was committed first and this one rolled back; the next try finds its product.
        if (key.empty() || e.code != db::kErrDuplicateKey || attempt == 3) throw;
      }
    }
  });
  if (made.conflict) co_return Result<Product>{Outcome::kIdempotencyConflict, {}};
  if (made.repeated) {
    // The product as it is now; GetProduct also puts it into Redis if the first call died
    // between its commit and its Redis step.
    co_return co_await GetProduct(made.id);
  }
  const std::int64_t id = made.id;
  const auto prefix = keys::Prefix(id);
  std::exception_ptr failure;
  try {
    auto args =
        redis::List(p.name, std::to_string(p.price_cents), std::to_string(p.per_user_limit),
                    std::to_string(hold), std::to_string(p.stock), std::to_string(p.stock));
    auto settings = SettingsArgs(p.sale_starts_at_ms, p.queue);
    args.insert(args.end(), settings.begin(), settings.end());
    auto reply = co_await redis_.Eval(Scripts::Get().init_product,
                                      redis::List(keys::Info(prefix), keys::Available(prefix)),
                                      args);
    if (reply.IsError()) throw std::runtime_error("init_product: " + reply.str);
    co_await redis_.Command(redis::List("SADD", std::string(keys::kProducts), std::to_string(id)));
    if (redis_.IsCluster()) {
      // Built from the database just now: the per-product loss marker (rebuild.hpp) says so.
      auto marked = co_await redis_.Eval(Scripts::Get().product_epoch_init,
                                         redis::List(keys::Epoch(prefix)), {});
      if (marked.IsError()) throw std::runtime_error("product_epoch_init: " + marked.str);
    }
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure && !key.empty()) {
    // Kept: the database is the truth, and the caller retries under its key (a concurrent
    // retry may already have answered with this product); that retry, like GET /products/{id},
    // puts it into Redis from the database.
    std::rethrow_exception(failure);
  }
  if (failure) {
    // Without a key nobody can ask for it again: keep the two stores together, no product row
    // without its Redis stock.
    try {
      co_await db_.Run([id](db::Connection& c) {
        db::Transaction(c, [&] {
          c.Execute("DELETE FROM audit_log WHERE product_id = ? AND action = 'product_create'",
                    {id});
          c.Execute("DELETE FROM products WHERE id = ?", {id});
        });
      });
    } catch (const std::exception& e) {
      log::Error("create_product_compensation_failed", {{"product", id}, {"error", e.what()}});
    }
    std::rethrow_exception(failure);
  }
  log::Info("product_created", {{"product", id}, {"stock", p.stock}});
  co_return Result<Product>{Outcome::kOk,
                            Product{id, p.name, p.price_cents, p.stock, p.stock,
                                    p.per_user_limit, hold, p.sale_starts_at_ms, p.queue}};
}

net::awaitable<Result<Product>> PurchaseService::GetProduct(std::int64_t product_id) {
  const auto prefix = keys::Prefix(product_id);
  auto info = co_await redis_.Command(redis::List("HMGET", keys::Info(prefix), "name", "price",
                                                 "total", "limit", "hold", "start", "q", "qrate",
                                                 "qmax", "qttl", "qpow", "paused"));
  auto avail = co_await redis_.Command(redis::List("GET", keys::Available(prefix)));
  if (!info.IsError() && info.elements.size() == 12 && !info.elements[0].IsNil()) {
    Product p;
    p.id = product_id;
    p.name = info.elements[0].str;
    p.price_cents = info.elements[1].AsInt();
    p.total_stock = info.elements[2].AsInt();
    p.per_user_limit = static_cast<int>(info.elements[3].AsInt());
    if (!info.elements[4].IsNil()) p.hold_seconds = static_cast<int>(info.elements[4].AsInt());
    p.available = avail.IsNil() ? 0 : std::max<long long>(0, avail.AsInt());
    if (!info.elements[5].IsNil()) p.sale_starts_at_ms = info.elements[5].AsInt();
    if (!info.elements[6].IsNil()) {
      p.queue = QueueSettings{info.elements[6].str == "1",
                              static_cast<int>(info.elements[7].AsInt()),
                              static_cast<int>(info.elements[8].AsInt()),
                              static_cast<int>(info.elements[9].AsInt())};
      if (!info.elements[10].IsNil()) {
        p.queue->pow_difficulty = static_cast<int>(info.elements[10].AsInt());
      }
    }
    p.paused = info.elements[11].str == "1";
    co_return Result<Product>{Outcome::kOk, std::move(p)};
  }
  // Not in Redis: the database decides whether it exists.
  auto row = co_await db_.Run([product_id](db::Connection& c) {
    return c.Execute(std::string("SELECT ") + kProductColumns + " FROM products WHERE id = ?",
                     {product_id});
  });
  if (row.rows.empty()) co_return Result<Product>{Outcome::kProductNotFound, {}};
  auto synced = co_await RebuildProduct(db_, options_, product_id);
  if (!synced) co_return Result<Product>{Outcome::kProductNotFound, {}};
  Product p = ProductFromRow(row.rows[0]);
  p.available = std::max<std::int64_t>(0, synced->after);
  co_return Result<Product>{Outcome::kOk, std::move(p)};
}

net::awaitable<Result<Product>> PurchaseService::UpdateProduct(std::int64_t product_id,
                                                               ProductChanges changes) {
  // Read-modify-write under the row lock, so concurrent partial changes do not lose each other.
  auto updated = co_await db_.Run([&, product_id](db::Connection& c) -> std::optional<Product> {
    return db::Transaction(c, [&]() -> std::optional<Product> {
      const std::string select =
          std::string("SELECT ") + kProductColumns + " FROM products WHERE id = ?";
      auto rows = c.Execute(select + " FOR UPDATE", {product_id});
      if (rows.rows.empty()) return std::nullopt;
      Product p = ProductFromRow(rows.rows[0]);
      const Product before = p;
      if (changes.sale_starts_at_ms) p.sale_starts_at_ms = *changes.sale_starts_at_ms;
      if (changes.queue_enabled || changes.admit_per_second || changes.max_active ||
          changes.admission_ttl_seconds || changes.pow_difficulty) {
        QueueSettings q = p.queue.value_or(QueueSettings{});
        if (!p.queue) q.enabled = false;  // a new waiting room is off unless asked for
        if (changes.queue_enabled) q.enabled = *changes.queue_enabled;
        if (changes.admit_per_second) q.admit_per_second = *changes.admit_per_second;
        if (changes.max_active) q.max_active = *changes.max_active;
        if (changes.admission_ttl_seconds) q.admission_ttl_seconds = *changes.admission_ttl_seconds;
        if (changes.pow_difficulty) q.pow_difficulty = *changes.pow_difficulty;
        p.queue = q;
      }
      c.Execute(std::string("UPDATE products SET sale_starts_at = ") + kSaleStartsAtFromMs +
                    ", queue_json = ? WHERE id = ?",
                {StartParam(p.sale_starts_at_ms),
                 p.queue ? db::Param(QueueJson(*p.queue)) : db::Param(nullptr), product_id});
      if (!changes.actor.empty()) {
        WriteAudit(c, changes.actor, "product_update", product_id, 0, ProductAuditJson(before),
                   ProductAuditJson(p));
      }
      return p;
    });
  });
  if (!updated) co_return Result<Product>{Outcome::kProductNotFound, {}};
  const auto prefix = keys::Prefix(product_id);
  auto args = SettingsArgs(updated->sale_starts_at_ms, updated->queue);
  auto reply =
      co_await redis_.Eval(Scripts::Get().product_settings, redis::List(keys::Info(prefix)), args);
  if (reply.IsError()) throw std::runtime_error("product_settings: " + reply.str);
  if (reply.integer == 0) co_await RebuildProductIfInDatabase(db_, options_, product_id);
  auto avail = co_await redis_.Command(redis::List("GET", keys::Available(prefix)));
  if (!avail.IsNil() && !avail.IsError()) updated->available = std::max<long long>(0, avail.AsInt());
  log::Info("product_updated", {{"product", product_id}});
  co_return Result<Product>{Outcome::kOk, std::move(*updated)};
}

net::awaitable<Result<StockSync>> PurchaseService::SyncStock(std::int64_t product_id) {
  // The same reconcile as the rebuild after Redis lost data (rebuild.hpp).
  auto result = co_await RebuildProduct(db_, options_, product_id);
  if (!result) co_return Result<StockSync>{Outcome::kProductNotFound, {}};
  log::Info("stock_synced", {{"product", product_id},
                             {"before", result->before},
                             {"after", result->after},
                             {"held", result->held}});
  co_return Result<StockSync>{Outcome::kOk, *result};
}

net::awaitable<Readiness> PurchaseService::CheckReady() {
  Readiness r;
  try {
    auto pong = co_await redis_.Command(redis::List("PING"));
    r.redis = !pong.IsError();
  } catch (const std::exception&) {
  }
  try {
    co_await db_.Run([](db::Connection& c) { c.Execute("SELECT 1"); });
    r.database = true;
  } catch (const std::exception&) {
  }
  co_return r;
}

std::optional<Product> SelectProductForUpdate(db::Connection& c, std::int64_t product_id) {
  auto rows = c.Execute(
      std::string("SELECT ") + kProductColumns + " FROM products WHERE id = ? FOR UPDATE",
      {product_id});
  if (rows.rows.empty()) return std::nullopt;
  return ProductFromRow(rows.rows[0]);
}

std::vector<std::string> ProductInfoArgs(const Product& p) {
  std::vector<std::string> out{p.name, std::to_string(p.price_cents),
                               std::to_string(p.per_user_limit),
                               p.hold_seconds ? std::to_string(*p.hold_seconds) : "",
                               std::to_string(p.total_stock)};
  auto settings = SettingsArgs(p.sale_starts_at_ms, p.queue);
  out.insert(out.end(), settings.begin(), settings.end());
  out.push_back(p.paused ? "1" : "0");
  return out;
}

}  // namespace ticketing::purchase
