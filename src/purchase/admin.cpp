// The admin console's domain side (src/purchase/README.md, "Admin"): listings, live figures,
// stock changes, pause and resume, refunds and the audit trail.
//
// Keeping the two stores in step: every change takes the product's row lock (SELECT ... FOR
// UPDATE, as confirms and reconciles do), changes the database and audits in the same
// transaction, and puts Redis right through ReconcileProduct (rebuild.hpp), which sets
// available := database stock - live holds and is idempotent. Where a crash could leave the
// two apart, the order of the steps makes Redis too small rather than too large (never
// oversell): a remove takes the units in Redis before its commit, an add and a refund give
// them to Redis only after theirs.
#include <boost/json.hpp>

#include "metrics/log.hpp"
#include "purchase/keys.hpp"
#include "purchase/purchase_service.hpp"
#include "purchase/rebuild.hpp"
#include "purchase/scripts.hpp"
#include "redis/blocking_client.hpp"

#include <charconv>

namespace ticketing::purchase {
namespace {

namespace json = boost::json;

// A refund's per-buyer marker outlives the buyer's counter (a day past its last use).
constexpr std::int64_t kRefundMarkerMs = 2 * 86'400'000;
// Total stock may not grow past this (the column is an INT).
constexpr std::int64_t kMaxTotal = 1'000'000'000;
// Entries of a line's active set that one call of product_pause.lua moves on at a resume: a
// bounded time in Redis per call, whatever the number of admitted buyers.
constexpr int kPauseMovesPerCall = 1000;

std::int64_t Int(const std::optional<std::string>& s) { return s ? std::stoll(*s) : 0; }

redis::BlockingConnection ConnectRedis(const Options& o) { return OpenBlockingRedis(o); }

// Order columns OrderRowFrom reads; times as unix ms (TIMESTAMP columns: zone-independent).
constexpr const char* kOrderColumns =
    "id, reservation_id, product_id, quantity, total_price_cents, user_id, "
    "CAST(UNIX_TIMESTAMP(created_at) * 1000 AS SIGNED), "
    "CAST(UNIX_TIMESTAMP(refunded_at) * 1000 AS SIGNED)";

OrderRow OrderRowFrom(const db::Row& r) {
  OrderRow o;
  o.order = OrderFromRow(r);
  o.user = r.at(5).value_or("");
  o.created_at_ms = Int(r.at(6));
  if (r.at(7)) o.refunded_at_ms = std::stoll(*r.at(7));
  return o;
}

std::optional<OrderRow> SelectOrderRow(db::Connection& c, std::int64_t order_id, bool lock) {
  auto rows = c.Execute(std::string("SELECT ") + kOrderColumns + " FROM orders WHERE id = ?" +
                            (lock ? " FOR UPDATE" : ""),
                        {order_id});
  if (rows.rows.empty()) return std::nullopt;
  return OrderRowFrom(rows.rows[0]);
}

// `change` (the after side of a stock change) lets a retry with the same key find it.
std::string StockJson(std::int64_t total, std::int64_t stock, std::int64_t change = 0) {
  json::object o{{"totalStock", total}, {"stock", stock}};
  if (change) o["change"] = change;
  return json::serialize(o);
}

// The stock change `actor` made earlier under `key`, if any: kOk + repeated with the figures
// it left (the same product and change), or kIdempotencyConflict. A locking read, so it sees
// a change committed by a concurrent call that held the product's row lock before us.
std::optional<Result<StockChange>> EarlierChange(db::Connection& c, const std::string& actor,
                                                 const std::string& key,
                                                 std::int64_t product_id, std::int64_t delta) {
  if (key.empty()) return std::nullopt;
  auto earlier = FindKeyedAudit(c, actor, key, true);
  if (!earlier) return std::nullopt;
  boost::system::error_code ec;
  auto after = json::parse(earlier->after, ec);
  const json::object* o = ec ? nullptr : after.if_object();
  const json::value* change = o ? o->if_contains("change") : nullptr;
  if (earlier->product_id != product_id || !change || !change->is_int64() ||
      change->as_int64() != delta) {
    return Result<StockChange>{Outcome::kIdempotencyConflict, {}};
  }
  StockChange s;
  s.total = o->at("totalStock").to_number<std::int64_t>();
  s.database_stock = o->at("stock").to_number<std::int64_t>();
  s.repeated = true;
  return Result<StockChange>{Outcome::kOk, s};
}

// Redis := database for the product, in a transaction of its own; false if that failed (it is
// then left to the next stock sync or rebuild). For the step after a commit.
bool ReconcileAfterCommit(db::Connection& c, redis::BlockingConnection& redis,
                          std::int64_t product_id) {
  try {
    db::Transaction(c, [&] { return ReconcileProduct(c, redis, product_id); });
    return true;
  } catch (const std::exception& e) {
    log::Warn("reconcile_after_admin_change_failed",
              {{"product", product_id}, {"error", e.what()}});
    return false;
  }
}

}  // namespace

void WriteAudit(db::Connection& c, const std::string& actor, std::string_view action,
                std::int64_t product_id, std::int64_t order_id, const std::string& before,
                const std::string& after, const std::string& idempotency_key) {
  c.Execute(
      "INSERT INTO audit_log (admin, action, product_id, order_id, before_json, after_json, "
      "idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
      {actor, std::string(action), product_id ? db::Param(product_id) : db::Param(nullptr),
       order_id ? db::Param(order_id) : db::Param(nullptr),
       before.empty() ? db::Param(nullptr) : db::Param(before),
       after.empty() ? db::Param(nullptr) : db::Param(after),
       idempotency_key.empty() ? db::Param(nullptr) : db::Param(idempotency_key)});
}

std::optional<KeyedAudit> FindKeyedAudit(db::Connection& c, const std::string& actor,
                                         const std::string& idempotency_key, bool lock) {
  auto rows = c.Execute(std::string("SELECT product_id, action, after_json FROM audit_log "
                                    "WHERE admin = ? AND idempotency_key = ?") +
                            (lock ? " LOCK IN SHARE MODE" : ""),
                        {actor, idempotency_key});
  if (rows.rows.empty()) return std::nullopt;
  const auto& r = rows.rows[0];
  return KeyedAudit{Int(r.at(0)), r.at(1).value_or(""), r.at(2).value_or("")};
}

std::string ProductAuditJson(const Product& p) {
  json::object o{{"name", p.name},
                 {"priceCents", p.price_cents},
                 {"totalStock", p.total_stock},
                 {"stock", p.available},
                 {"perUserLimit", p.per_user_limit},
                 {"paused", p.paused}};
  if (p.hold_seconds) o["holdSeconds"] = *p.hold_seconds;
  o["saleStartsAtMs"] = p.sale_starts_at_ms ? json::value(*p.sale_starts_at_ms) : nullptr;
  if (p.queue) {
    o["queue"] = {{"enabled", p.queue->enabled},
                  {"admitPerSecond", p.queue->admit_per_second},
                  {"maxActive", p.queue->max_active},
                  {"admissionTtlSeconds", p.queue->admission_ttl_seconds}};
  }
  return json::serialize(o);
}

net::awaitable<Result<StockSync>> PurchaseService::AdminSyncStock(std::string actor,
                                                                  std::int64_t product_id) {
  // RebuildProduct's reconcile, with its audit row in the same transaction.
  auto result = co_await db_.Run([&](db::Connection& c) {
    return db::Transaction(c, [&]() -> std::optional<StockSync> {
      if (c.Execute("SELECT 1 FROM products WHERE id = ?", {product_id}).rows.empty()) return {};
      auto redis = ConnectRedis(options_);
      auto r = ReconcileProduct(c, redis, product_id);
      if (r) {
        WriteAudit(c, actor, "stock_sync", product_id, 0,
                   json::serialize(json::object{{"available", r->before}}),
                   json::serialize(json::object{{"available", r->after},
                                                {"databaseStock", r->database_stock},
                                                {"held", r->held}}));
      }
      return r;
    });
  });
  if (!result) co_return Result<StockSync>{Outcome::kProductNotFound, {}};
  log::Info("stock_synced", {{"product", product_id},
                             {"before", result->before},
                             {"after", result->after},
                             {"held", result->held},
                             {"admin", actor}});
  co_return Result<StockSync>{Outcome::kOk, *result};
}

net::awaitable<Result<Page<Product>>> PurchaseService::ListProducts(std::int64_t after_id,
                                                                    int limit) {
  auto rows = co_await db_.Run([&](db::Connection& c) {
    return c.Execute(std::string("SELECT ") + kProductColumnList +
                         " FROM products WHERE id > ? ORDER BY id LIMIT ?",
                     {after_id, std::int64_t{limit} + 1});
  });
  Page<Product> page;
  for (const auto& r : rows.rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_cursor = std::to_string(page.items.back().id);
      break;
    }
    page.items.push_back(ReadProductRow(r));
  }
  co_return Result<Page<Product>>{Outcome::kOk, std::move(page)};
}

net::awaitable<Result<ProductFigures>> PurchaseService::GetProductFigures(
    std::int64_t product_id) {
  struct DbFigures {
    Product product;
    std::int64_t orders = 0, sold = 0, refunded = 0;
  };
  auto db_part = co_await db_.Run([&](db::Connection& c) -> std::optional<DbFigures> {
    auto p = c.Execute(std::string("SELECT ") + kProductColumnList + " FROM products WHERE id = ?",
                       {product_id});
    if (p.rows.empty()) return std::nullopt;
    DbFigures f{ReadProductRow(p.rows[0])};
    auto o = c.Execute(
        "SELECT COALESCE(SUM(refunded_at IS NULL), 0), "
        "COALESCE(SUM(IF(refunded_at IS NULL, quantity, 0)), 0), "
        "COALESCE(SUM(IF(refunded_at IS NULL, 0, quantity)), 0) FROM orders WHERE product_id = ?",
        {product_id});
    f.orders = Int(o.rows.at(0).at(0));
    f.sold = Int(o.rows.at(0).at(1));
    f.refunded = Int(o.rows.at(0).at(2));
    return f;
  });
  if (!db_part) co_return Result<ProductFigures>{Outcome::kProductNotFound, {}};
  const auto prefix = keys::Prefix(product_id);
  redis::Value live;
  for (int attempt = 0; attempt < 2; ++attempt) {
    live = co_await redis_.Eval(
        Scripts::Get().admin_figures,
        redis::List(keys::Info(prefix), keys::Available(prefix)), redis::List(prefix));
    if (live.IsError() || live.elements.size() != 7) {
      throw std::runtime_error("admin_figures: " + live.str);
    }
    if (live.elements[0].integer == 1) break;
    co_await RebuildProductIfInDatabase(db_, options_, product_id);  // Redis lost it
  }
  ProductFigures f;
  f.product = std::move(db_part->product);
  f.database_stock = f.product.available;
  f.product.available = std::max<long long>(0, live.elements[1].integer);
  f.held = live.elements[2].integer;
  f.confirming = live.elements[3].integer;
  f.holds_expired = live.elements[4].integer;
  f.holds_cancelled = live.elements[5].integer;
  f.sold = db_part->sold;
  f.orders = db_part->orders;
  f.refunded = db_part->refunded;
  co_return Result<ProductFigures>{Outcome::kOk, std::move(f)};
}

net::awaitable<Result<StockChange>> PurchaseService::ChangeStock(std::string actor,
                                                                 std::int64_t product_id,
                                                                 std::int64_t delta,
                                                                 std::string key) {
  auto change = [&](db::Connection& c) -> Result<StockChange> {
    auto redis = ConnectRedis(options_);
    const auto prefix = keys::Prefix(product_id);
    if (delta > 0) {
      // The database first: until the reconcile below, Redis does not offer the new units.
      auto after = db::Transaction(c, [&]() -> Result<StockChange> {
        auto p = SelectProductForUpdate(c, product_id);
        if (!p) return {Outcome::kProductNotFound, {}};
        if (auto earlier = EarlierChange(c, actor, key, product_id, delta)) return *earlier;
        if (p->total_stock + delta > kMaxTotal) {
          throw std::invalid_argument("total stock would pass " + std::to_string(kMaxTotal));
        }
        c.Execute("UPDATE products SET stock = stock + ?, total_stock = total_stock + ? "
                  "WHERE id = ?",
                  {delta, delta, product_id});
        WriteAudit(c, actor, "stock_add", product_id, 0, StockJson(p->total_stock, p->available),
                   StockJson(p->total_stock + delta, p->available + delta, delta), key);
        return {Outcome::kOk, {p->total_stock + delta, p->available + delta, 0, 0}};
      });
      if (after.outcome != Outcome::kOk) return after;
      // Committed (now, or by the call this one repeats: then this finishes what a crash may
      // have left undone): Redis gets the units. If this fails, Redis is short of them (never
      // over) until the next stock sync or rebuild.
      auto sync = db::Transaction(c, [&] { return ReconcileProduct(c, redis, product_id); });
      if (sync) {
        if (!after.value.repeated) after.value.database_stock = sync->database_stock;
        after.value.available = sync->after;
      }
      return after;
    }

    const std::int64_t units = -delta;
    bool taken = false;
    try {
      return db::Transaction(c, [&]() -> Result<StockChange> {
        if (!SelectProductForUpdate(c, product_id)) return {Outcome::kProductNotFound, {}};
        if (auto earlier = EarlierChange(c, actor, key, product_id, delta)) {
          auto avail = redis.Command({"GET", keys::Available(prefix)});
          if (!avail.IsNil() && !avail.IsError()) earlier->value.available = avail.AsInt();
          return *earlier;
        }
        // Under the row lock (no confirm commits, no other change runs), Redis is made to agree
        // with the database, so that its available is exactly the free units.
        ReconcileProduct(c, redis, product_id);
        auto row = c.Execute("SELECT total_stock, stock FROM products WHERE id = ? FOR UPDATE",
                             {product_id});
        const std::int64_t total = Int(row.rows.at(0).at(0));
        const std::int64_t stock = Int(row.rows.at(0).at(1));
        // Redis first: a crash after this leaves Redis short of the units, never over.
        auto take = redis.Eval(Scripts::Get().stock_take,
                               {keys::Available(prefix), keys::Info(prefix)},
                               {std::to_string(units), std::to_string(total - units)});
        if (take.IsError() || take.elements.size() != 2) {
          throw std::runtime_error("stock_take: " + take.str);
        }
        if (take.elements[0].integer == 0) {
          return {Outcome::kStockInUse, {total, stock, take.elements[1].integer,
                                         take.elements[1].integer}};
        }
        taken = true;
        auto upd = c.Execute(
            "UPDATE products SET stock = stock - ?, total_stock = total_stock - ? "
            "WHERE id = ? AND stock >= ?",
            {units, units, product_id, units});
        if (upd.affected_rows != 1) throw std::runtime_error("stock remove: database stock short");
        WriteAudit(c, actor, "stock_remove", product_id, 0, StockJson(total, stock),
                   StockJson(total - units, stock - units, delta), key);
        return {Outcome::kOk,
                {total - units, stock - units, take.elements[1].integer, 0}};
      });
    } catch (...) {
      // Rolled back (or unknown) after Redis gave up the units: give them back from the
      // database if it can still answer; otherwise Redis stays short until a sync.
      if (taken && !c.Broken()) ReconcileAfterCommit(c, redis, product_id);
      throw;
    }
  };
  Result<StockChange> result;
  try {
    result = co_await db_.Run(change);
  } catch (const db::QueryError& e) {
    // The same key, at the same moment, for another product: that one got it.
    if (e.code != db::kErrDuplicateKey) throw;
    result = {Outcome::kIdempotencyConflict, {}};
  }
  if (result.outcome == Outcome::kOk && !result.value.repeated) {
    log::Info("stock_changed", {{"product", product_id}, {"delta", delta}, {"admin", actor}});
  }
  co_return result;
}

net::awaitable<Result<Product>> PurchaseService::SetPaused(std::string actor,
                                                           std::int64_t product_id, bool paused) {
  auto product = co_await db_.Run([&](db::Connection& c) -> std::optional<Product> {
    auto redis = ConnectRedis(options_);
    const auto prefix = keys::Prefix(product_id);
    const auto info = keys::Info(prefix);
    auto p = db::Transaction(c, [&]() -> std::optional<Product> {
      auto p = SelectProductForUpdate(c, product_id);
      if (!p) return std::nullopt;
      if (p->paused != paused) {
        c.Execute("UPDATE products SET paused = ? WHERE id = ?",
                  {std::int64_t{paused ? 1 : 0}, product_id});
        WriteAudit(c, actor, paused ? "pause" : "resume", product_id, 0,
                   json::serialize(json::object{{"paused", p->paused}}),
                   json::serialize(json::object{{"paused", paused}}));
        p->paused = paused;
      }
      if (paused) {
        // Pause in Redis before the commit: if the commit fails, the sale is paused for a
        // moment too long (a retry or a reconcile puts it right), never running while paused.
        auto r = redis.Eval(Scripts::Get().product_pause, {info}, {"1", prefix, "0"});
        if (r.IsError()) throw std::runtime_error("product_pause: " + r.str);
        if (r.integer == 0) ReconcileProduct(c, redis, product_id);  // sees paused = 1
      }
      return p;
    });
    if (p && !paused) {
      // Resume only once committed (a crash before leaves it paused: the safe side, and a
      // repeated resume carries on where this one stopped). The admissions live at the pause
      // get its length back, kPauseMovesPerCall per call, the sale still paused until the last.
      redis::Value r;
      do {
        r = redis.Eval(Scripts::Get().product_pause, {info},
                       {"0", prefix, std::to_string(kPauseMovesPerCall)});
        if (r.IsError()) throw std::runtime_error("product_pause: " + r.str);
      } while (r.integer == 2);
      if (r.integer == 0) ReconcileAfterCommit(c, redis, product_id);
    }
    if (p) {
      auto avail = redis.Command({"GET", keys::Available(keys::Prefix(product_id))});
      if (!avail.IsNil() && !avail.IsError()) p->available = std::max<long long>(0, avail.AsInt());
    }
    return p;
  });
  if (!product) co_return Result<Product>{Outcome::kProductNotFound, {}};
  log::Info(paused ? "sale_paused" : "sale_resumed", {{"product", product_id}, {"admin", actor}});
  co_return Result<Product>{Outcome::kOk, std::move(*product)};
}

net::awaitable<Result<Page<HoldRow>>> PurchaseService::ListHolds(std::int64_t product_id,
                                                                 std::string state,
                                                                 std::string cursor, int limit) {
  // Cursor "<score>:<rid>" as admin_holds.lua hands it out.
  std::string score, rid;
  if (!cursor.empty()) {
    const auto colon = cursor.find(':');
    if (colon == std::string::npos || colon == 0) {
      co_return Result<Page<HoldRow>>{Outcome::kInvalidCursor, {}};
    }
    score = cursor.substr(0, colon);
    rid = cursor.substr(colon + 1);
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(score.data(), score.data() + score.size(), v);
    if (ec != std::errc() || p != score.data() + score.size() ||
        keys::ParseReservationId(rid) != product_id) {
      co_return Result<Page<HoldRow>>{Outcome::kInvalidCursor, {}};
    }
  }
  const auto prefix = keys::Prefix(product_id);
  auto exists = co_await redis_.Command(redis::List("EXISTS", keys::Info(prefix)));
  if (exists.integer == 0 && !co_await RebuildProductIfInDatabase(db_, options_, product_id)) {
    co_return Result<Page<HoldRow>>{Outcome::kProductNotFound, {}};
  }
  auto reply = co_await redis_.Eval(
      Scripts::Get().admin_holds, redis::List(keys::Expiry(prefix)),
      redis::List(prefix, score, rid, std::to_string(limit), state));
  if (reply.IsError() || reply.elements.size() < 2) {
    throw std::runtime_error("admin_holds: " + reply.str);
  }
  Page<HoldRow> page;
  if (!reply.elements[0].str.empty()) {
    page.next_cursor = reply.elements[0].str + ":" + reply.elements[1].str;
  }
  for (std::size_t i = 2; i < reply.elements.size(); ++i) {
    const auto& h = reply.elements[i].elements;
    if (h.size() != 6) throw std::runtime_error("admin_holds: unexpected row");
    page.items.push_back(HoldRow{h[0].str, h[1].str, static_cast<int>(h[2].integer), h[3].str,
                                 h[4].integer, h[5].integer});
  }
  co_return Result<Page<HoldRow>>{Outcome::kOk, std::move(page)};
}

net::awaitable<Result<Page<OrderRow>>> PurchaseService::ListOrders(std::int64_t product_id,
                                                                   std::int64_t after_id,
                                                                   int limit) {
  auto rows = co_await db_.Run([&](db::Connection& c) -> std::optional<db::Result> {
    if (c.Execute("SELECT 1 FROM products WHERE id = ?", {product_id}).rows.empty()) return {};
    return c.Execute(std::string("SELECT ") + kOrderColumns +
                         " FROM orders WHERE product_id = ? AND id > ? ORDER BY id LIMIT ?",
                     {product_id, after_id, std::int64_t{limit} + 1});
  });
  if (!rows) co_return Result<Page<OrderRow>>{Outcome::kProductNotFound, {}};
  Page<OrderRow> page;
  for (const auto& r : rows->rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_cursor = std::to_string(page.items.back().order.id);
      break;
    }
    page.items.push_back(OrderRowFrom(r));
  }
  co_return Result<Page<OrderRow>>{Outcome::kOk, std::move(page)};
}

net::awaitable<Result<Refund>> PurchaseService::RefundOrder(std::string actor,
                                                            std::int64_t order_id) {
  auto refund = co_await db_.Run([&](db::Connection& c) -> std::optional<Refund> {
    auto done = db::Transaction(c, [&]() -> std::optional<Refund> {
      auto peek = c.Execute("SELECT product_id FROM orders WHERE id = ?", {order_id});
      if (peek.rows.empty()) return std::nullopt;
      // The product row first, as the order writer locks it: no deadlock with confirms, and
      // the stock below changes under the same lock as theirs.
      SelectProductForUpdate(c, Int(peek.rows[0].at(0)));
      auto order = SelectOrderRow(c, order_id, true);
      if (!order) return std::nullopt;
      // The state check under the lock makes the refund happen once, whoever calls.
      if (order->refunded_at_ms) return Refund{*order, true};
      c.Execute("UPDATE orders SET refunded_at = CURRENT_TIMESTAMP(3) WHERE id = ?", {order_id});
      c.Execute("UPDATE products SET stock = stock + ? WHERE id = ?",
                {std::int64_t{order->order.quantity}, order->order.product_id});
      json::object before{{"state", "paid"},
                          {"user", order->user},
                          {"quantity", order->order.quantity},
                          {"reservationId", order->order.reservation_id}};
      json::object after = before;
      after["state"] = "refunded";
      WriteAudit(c, actor, "refund", order->order.product_id, order_id, json::serialize(before),
                 json::serialize(after));
      return Refund{*SelectOrderRow(c, order_id, false), false};
    });
    if (!done) return std::nullopt;
    // Committed (now or by an earlier call). Redis follows, each half idempotent, so a repeat
    // from any server finishes what a crash here left undone: the units through a reconcile
    // (available := database stock - live holds), the buyer's count once per order id.
    auto redis = ConnectRedis(options_);
    const auto prefix = keys::Prefix(done->order.order.product_id);
    ReconcileAfterCommit(c, redis, done->order.order.product_id);
    auto r = redis.Eval(Scripts::Get().refund_user,
                        {keys::User(prefix, done->order.user),
                         prefix + ":rf:" + std::to_string(order_id)},
                        {std::to_string(done->order.order.quantity),
                         std::to_string(kRefundMarkerMs)});
    if (r.IsError()) throw std::runtime_error("refund_user: " + r.str);
    return done;
  });
  if (!refund) co_return Result<Refund>{Outcome::kOrderNotFound, {}};
  if (!refund->repeated) {
    log::Info("order_refunded", {{"order", order_id}, {"admin", actor}});
  }
  co_return Result<Refund>{Outcome::kOk, std::move(*refund)};
}

net::awaitable<Result<Page<AuditEntry>>> PurchaseService::ListAudit(std::int64_t before_id,
                                                                    int limit) {
  const std::int64_t below = before_id > 0 ? before_id : INT64_MAX;
  auto rows = co_await db_.Run([&](db::Connection& c) {
    return c.Execute(
        "SELECT id, CAST(UNIX_TIMESTAMP(at) * 1000 AS SIGNED), admin, action, product_id, "
        "order_id, before_json, after_json FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?",
        {below, std::int64_t{limit} + 1});
  });
  Page<AuditEntry> page;
  for (const auto& r : rows.rows) {
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_cursor = std::to_string(page.items.back().id);
      break;
    }
    page.items.push_back(AuditEntry{Int(r.at(0)), Int(r.at(1)), r.at(2).value_or(""),
                                    r.at(3).value_or(""), Int(r.at(4)), Int(r.at(5)),
                                    r.at(6).value_or(""), r.at(7).value_or("")});
  }
  co_return Result<Page<AuditEntry>>{Outcome::kOk, std::move(page)};
}

}  // namespace ticketing::purchase
