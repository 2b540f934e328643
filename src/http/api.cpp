#include "http/api.hpp"

#include "common/errors.hpp"
#include "http/api_abuse.hpp"
#include "http/response.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "common/iso_time.hpp"
#include "purchase/keys.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <optional>
#include <string_view>
#include <vector>

namespace ticketing::http {
namespace {

namespace json = boost::json;
using purchase::Outcome;
using metrics::Route;

// A 4xx answer raised while reading the request.
struct ClientError {
  unsigned status;
  std::string code;
  std::string message;
};

[[noreturn]] void Invalid(std::string message) {
  throw ClientError{400, "INVALID_REQUEST", std::move(message)};
}

Response FromOutcome(Outcome o) {
  switch (o) {
    case Outcome::kOk:
      return Json(200, json::object{});
    case Outcome::kProductNotFound:
      return Error(404, "PRODUCT_NOT_FOUND", "no such product");
    case Outcome::kSoldOut:
      return Error(409, "SOLD_OUT", "no units left");
    case Outcome::kLimitReached:
      return Error(409, "LIMIT_REACHED", "this would pass the product's per-buyer limit");
    case Outcome::kReservationNotFound:
      return Error(404, "RESERVATION_NOT_FOUND", "no such reservation");
    case Outcome::kReservationExpired:
      return Error(410, "RESERVATION_EXPIRED", "the hold expired and its units were returned");
    case Outcome::kReservationCancelled:
      return Error(409, "RESERVATION_CANCELLED", "the reservation was cancelled");
    case Outcome::kAlreadyConfirmed:
      return Error(409, "ALREADY_CONFIRMED", "the reservation is already an order");
    case Outcome::kConfirmInProgress:
      return Error(409, "CONFIRM_IN_PROGRESS", "a confirm of this reservation is in progress; retry");
    case Outcome::kSaleNotOpen:
      return Error(403, "SALE_NOT_OPEN", "the sale has not started yet");
    case Outcome::kNotAdmitted:
      return Error(403, "NOT_ADMITTED",
                   "this product sells through its waiting room: join the line and reserve "
                   "with a valid, unused admission token (X-Admission-Token)");
    case Outcome::kQueueNotEnabled:
      return Error(409, "QUEUE_NOT_ENABLED", "this product has no waiting room");
    case Outcome::kTicketNotFound:
      return Error(404, "TICKET_NOT_FOUND", "no such ticket for this buyer and product");
    case Outcome::kIdempotencyConflict:
      return Error(409, "IDEMPOTENCY_CONFLICT",
                   "this Idempotency-Key was used for a reserve of another quantity");
    case Outcome::kRateLimited:
      return RateLimited(1000);
    case Outcome::kPowRequired:
    case Outcome::kPowExpired:
    case Outcome::kPowReplayed:
      return Error(428, "POW_REQUIRED", "solve the proof of work of a fresh join challenge");
    case Outcome::kQueueFull: {
      auto res = Error(503, "QUEUE_FULL", "the line is full; try again later");
      res.set(bhttp::field::retry_after, "5");
      return res;
    }
  }
  return Error(500, "INTERNAL", "unknown outcome");
}

// The non-empty segments of a path (no allocation: routes have at most 4, so only the first
// kMax are kept; size() counts them all).
class Segments {
 public:
  static constexpr std::size_t kMax = 5;
  explicit Segments(std::string_view path) {
    while (!path.empty()) {
      if (path.front() == '/') {
        path.remove_prefix(1);
        continue;
      }
      auto slash = path.find('/');
      if (n_ < kMax) seg_[n_] = path.substr(0, slash);
      ++n_;
      if (slash == std::string_view::npos) break;
      path.remove_prefix(slash);
    }
  }
  std::size_t size() const { return n_; }
  std::string_view operator[](std::size_t i) const { return seg_[i]; }

 private:
  std::array<std::string_view, kMax> seg_{};
  std::size_t n_ = 0;
};

void Only(bhttp::verb method, bhttp::verb allowed, const char* allow) {
  if (method != allowed) throw ClientError{405, "METHOD_NOT_ALLOWED", std::string("use ") + allow};
}

std::optional<std::int64_t> ParseId(std::string_view s) {
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

// `sp`: where the tree lives (a stack arena on the hot route; default: the heap).
json::object ParseBody(const Request& req, json::storage_ptr sp = {}) {
  json::parse_options opts;
  opts.max_depth = 16;
  boost::system::error_code ec;
  json::value v = json::parse(req.body(), ec, std::move(sp), opts);
  if (ec) Invalid("body is not valid JSON");
  if (!v.is_object()) Invalid("body must be a JSON object");
  return std::move(v.as_object());
}

// An integer field within [min, max]; `def` when absent (required if no default).
std::int64_t IntField(const json::object& o, std::string_view name, std::int64_t min,
                      std::int64_t max, std::optional<std::int64_t> def = std::nullopt) {
  const json::value* v = o.if_contains(name);
  if (!v || v->is_null()) {
    if (def) return *def;
    Invalid(std::string(name) + " is required");
  }
  std::int64_t out = 0;
  if (v->is_int64()) {
    out = v->as_int64();
  } else if (v->is_uint64()) {
    if (v->as_uint64() > static_cast<std::uint64_t>(max)) {
      Invalid(std::string(name) + " must be at most " + std::to_string(max));
    }
    out = static_cast<std::int64_t>(v->as_uint64());
  } else if (v->is_double() && std::nearbyint(v->as_double()) == v->as_double() &&
             std::fabs(v->as_double()) < 9e15) {
    out = static_cast<std::int64_t>(v->as_double());
  } else {
    Invalid(std::string(name) + " must be an integer");
  }
  if (out < min || out > max) {
    Invalid(std::string(name) + " must be from " + std::to_string(min) + " to " +
            std::to_string(max));
  }
  return out;
}

std::string StringField(const json::object& o, std::string_view name, std::size_t max_len) {
  const json::value* v = o.if_contains(name);
  if (!v) Invalid(std::string(name) + " is required");
  if (!v->is_string()) Invalid(std::string(name) + " must be a string");
  const auto& s = v->as_string();
  if (s.empty() || s.size() > max_len) {
    Invalid(std::string(name) + " must be 1 to " + std::to_string(max_len) + " characters");
  }
  return std::string(s);
}

// Money in, as a JSON number of currency units with at most two decimals; returns cents.
std::int64_t PriceField(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (!v) Invalid(std::string(name) + " is required");
  double d = 0;
  if (v->is_int64()) d = static_cast<double>(v->as_int64());
  else if (v->is_uint64()) d = static_cast<double>(v->as_uint64());
  else if (v->is_double()) d = v->as_double();
  else Invalid(std::string(name) + " must be a number");
  if (!(d >= 0 && d <= 1e9)) Invalid(std::string(name) + " must be from 0 to 1000000000");
  double cents = std::round(d * 100);
  if (std::fabs(cents - d * 100) > 1e-6 * std::max(1.0, d)) {
    Invalid(std::string(name) + " must have at most two decimals");
  }
  return static_cast<std::int64_t>(cents);
}

json::value Money(std::int64_t cents) {
  if (cents % 100 == 0) return json::value(cents / 100);
  return json::value(static_cast<double>(cents) / 100.0);
}

json::object ProductJson(const purchase::Product& p) {
  json::object o{{"id", p.id},
                 {"name", p.name},
                 {"price", Money(p.price_cents)},
                 {"totalStock", p.total_stock},
                 {"available", p.available},
                 {"perUserLimit", p.per_user_limit}};
  if (p.hold_seconds) o["holdSeconds"] = *p.hold_seconds;
  if (p.sale_starts_at_ms) o["saleStartsAt"] = FormatIsoUtcMs(*p.sale_starts_at_ms);
  if (p.queue) {
    o["queue"] = {{"enabled", p.queue->enabled},
                  {"admitPerSecond", p.queue->admit_per_second},
                  {"maxActive", p.queue->max_active},
                  {"admissionTtlSeconds", p.queue->admission_ttl_seconds},
                  {"powDifficulty", p.queue->pow_difficulty}};
  }
  return o;
}

// saleStartsAt: an ISO-8601 time with a zone, or null (on sale now). Absent: nullopt.
std::optional<std::optional<std::int64_t>> SaleStartField(const json::object& o) {
  const json::value* v = o.if_contains("saleStartsAt");
  if (!v) return std::nullopt;
  if (v->is_null()) return std::optional<std::int64_t>{};
  if (!v->is_string()) Invalid("saleStartsAt must be an ISO-8601 UTC time string or null");
  auto ms = ParseIsoUtcMs(v->as_string());
  if (!ms) Invalid("saleStartsAt must look like 2026-11-24T18:00:00Z");
  return std::optional<std::int64_t>{*ms};
}

// The `queue` object of a product; fields absent stay unset.
purchase::ProductChanges QueueField(const json::object& o) {
  purchase::ProductChanges c;
  const json::value* v = o.if_contains("queue");
  if (!v || v->is_null()) return c;
  if (!v->is_object()) Invalid("queue must be an object");
  const auto& q = v->as_object();
  for (const auto& [key, _] : q) {
    if (key != "enabled" && key != "admitPerSecond" && key != "maxActive" &&
        key != "admissionTtlSeconds" && key != "powDifficulty") {
      Invalid("queue." + std::string(key) + " is not a setting");
    }
  }
  if (const json::value* e = q.if_contains("enabled")) {
    if (!e->is_bool()) Invalid("queue.enabled must be true or false");
    c.queue_enabled = e->as_bool();
  }
  auto opt_int = [&](std::string_view name, std::int64_t max) -> std::optional<int> {
    if (!q.contains(name)) return std::nullopt;
    return static_cast<int>(IntField(q, name, 1, max));
  };
  c.admit_per_second = opt_int("admitPerSecond", 100'000);
  c.max_active = opt_int("maxActive", 10'000'000);
  c.admission_ttl_seconds = opt_int("admissionTtlSeconds", 3600);
  if (q.contains("powDifficulty")) {
    c.pow_difficulty = static_cast<int>(IntField(q, "powDifficulty", 0, abuse::kMaxPowDifficulty));
  }
  return c;
}

bool HasQueueChange(const purchase::ProductChanges& c) {
  return c.queue_enabled || c.admit_per_second || c.max_active || c.admission_ttl_seconds ||
         c.pow_difficulty;
}

// The value of `name` in the target's query string ("" if absent). No percent-decoding: the
// values we read (tickets) never need it.
std::string_view QueryParam(std::string_view target, std::string_view name) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return {};
}

// Empty (no key) or 1-64 characters from a safe set (it becomes part of a Redis key).
bool ValidIdempotencyKey(std::string_view key) {
  if (key.size() > 64) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

json::object PlaceJson(const queue::Place& p) {
  json::object o{{"ticket", p.ticket},
                 {"state", p.state},
                 {"position", p.position},
                 {"aheadOfYou", p.ahead_of_you},
                 {"etaSeconds", p.eta_seconds},
                 {"lineLength", p.line_length}};
  if (p.pre_queue) o["preQueue"] = true;
  if (p.used) o["used"] = true;
  if (!p.queue_enabled) o["queueEnabled"] = false;
  if (p.admission_token) {
    o["admissionToken"] = *p.admission_token;
    o["admissionExpiresAt"] = FormatIsoUtcMs(p.admission_expires_at_ms);
  }
  return o;
}

// An awaitable that is already answered (for routes that need no I/O).
net::awaitable<Response> Ready(Response res) { co_return res; }

// 201 (or 200 for an idempotent repeat) with the hold.
Response ReservationCreated(const purchase::Reservation& v) {
  json::object body{{"reservationId", v.id},
                    {"productId", v.product_id},
                    {"quantity", v.quantity},
                    {"expiresAt", FormatIsoUtcMs(v.expires_at_ms)},
                    {"expiresIn", std::max<std::int64_t>(0, (v.expires_at_ms - v.now_ms + 999) / 1000)}};
  if (v.repeated) body["state"] = v.state;
  return Json(v.repeated ? 200 : 201, body);
}

json::object OrderJson(const purchase::Order& o) {
  return {{"orderId", o.id},
          {"reservationId", o.reservation_id},
          {"productId", o.product_id},
          {"quantity", o.quantity},
          {"totalPrice", Money(o.total_cents)}};
}

}  // namespace

Api::Api(purchase::Service& purchase, const auth::JwtCodec& jwt,
         std::function<std::int64_t()> now_seconds, queue::Service* queue, abuse::Guard* guard)
    : purchase_(purchase),
      queue_(queue),
      guard_(guard),
      jwt_(jwt),
      tokens_(jwt_),
      now_seconds_(std::move(now_seconds)) {}

const auth::Identity& Api::Identify(const Request& req, bool admin) {
  auto h = req[bhttp::field::authorization];
  constexpr std::string_view kBearer = "Bearer ";
  if (h.size() <= kBearer.size() || h.substr(0, kBearer.size()) != kBearer) {
    throw ClientError{401, "UNAUTHORIZED", "missing bearer token"};
  }
  const auth::Identity* who = tokens_.Verify(h.substr(kBearer.size()), now_seconds_());
  if (!who) throw ClientError{401, "UNAUTHORIZED", "invalid or expired token"};
  if (admin && !who->admin) throw ClientError{403, "FORBIDDEN", "admin role required"};
  return *who;
}

net::awaitable<Response> Api::Select(Request& req, int& route, const net::ip::address& peer) {
  std::string_view target = req.target();
  const Segments seg(target.substr(0, target.find('?')));
  if (seg.size() == 2 && seg[0] == "purchase" && seg[1] == "reserve") {
    route = static_cast<int>(Route::kReserve);
    Only(req.method(), bhttp::verb::post, "POST");
    const auth::Identity& who = Identify(req, false);
    std::string user = who.user;
    unsigned char arena[1024];  // the body's tree, freed with this frame (Select is no coroutine)
    json::monotonic_resource body_memory(arena, sizeof arena);
    const auto body = ParseBody(req, &body_memory);
    auto product_id = IntField(body, "productId", 1, INT64_MAX);
    auto quantity = static_cast<int>(IntField(body, "quantity", 1, 10000, 1));
    // A presented admission token must be genuine, this buyer's and this product's; whether
    // it is still unused (and needed at all) the reserve decides atomically.
    std::string ticket;
    if (auto token = req["X-Admission-Token"]; !token.empty()) {
      auto verified = queue_ ? queue_->VerifyAdmission(token, user, product_id)
                             : std::optional<std::string>();
      if (!verified) return Ready(FromOutcome(Outcome::kNotAdmitted));
      ticket = std::move(*verified);
    }
    // A retried reserve (its first answer lost to a timeout) carries the same key and gets
    // the same hold back instead of a second one.
    std::string idempotency_key(req["Idempotency-Key"]);
    if (!ValidIdempotencyKey(idempotency_key)) {
      Invalid("Idempotency-Key must be 1 to 64 characters of A-Z a-z 0-9 - _ . :");
    }
    if (idempotency_key.empty() && purchase_.KnownSoldOut(product_id, quantity)) {
      return Ready(FromOutcome(Outcome::kSoldOut));
    }
    // Rate limits ride in the reserve script itself: no extra round trip.
    auto limits = Limits(abuse::Action::kReserve, who, product_id, req, peer);
    return Reserve(std::move(user), product_id, quantity, std::move(ticket),
                   std::move(idempotency_key), std::move(limits));
  }
  if (seg.size() == 1 && seg[0] == "health") {
    route = static_cast<int>(Route::kHealth);
    Only(req.method(), bhttp::verb::get, "GET");
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = R"({"status":"ok"})";
    return Ready(std::move(res));
  }
  return Dispatch(req, route, peer);
}

net::awaitable<Response> Api::Reserve(std::string user, std::int64_t product_id, int quantity,
                                      std::string ticket, std::string idempotency_key,
                                      purchase::RateChecks limits) {
  auto r = co_await purchase_.ReserveLimited(std::move(user), product_id, quantity,
                                             std::move(ticket), std::move(idempotency_key),
                                             std::move(limits));
  if (r.outcome == Outcome::kRateLimited) co_return RateLimited(r.value.retry_after_ms);
  if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
  co_return ReservationCreated(r.value);
}

net::awaitable<Response> Api::Handle(Request& req, net::ip::address peer) {
  const auto start = std::chrono::steady_clock::now();
  int route = static_cast<int>(Route::kOther);
  Response res;
  std::exception_ptr failure;
  try {
    res = co_await Select(req, route, peer);
  } catch (const ClientError& e) {
    res = Error(e.status, e.code, e.message);
  } catch (const UnavailableError& e) {
    metrics::Registry::Get().Count(metrics::Event::kRedisUnavailable);
    log::Warn("unavailable", {{"target", req.target()}, {"error", e.what()}});
    res = Error(503, "UNAVAILABLE", std::string("a dependency is unavailable: ") + e.what());
    res.set(bhttp::field::retry_after, "1");
  } catch (const std::exception& e) {
    metrics::Registry::Get().Count(metrics::Event::kInternalError);
    log::Error("internal_error", {{"target", req.target()}, {"error", e.what()}});
    res = Error(500, "INTERNAL", "internal error");
  }
  res.set(bhttp::field::server, "ticketing");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  metrics::Registry::Get().ObserveRequest(static_cast<Route>(route), res.result_int(), seconds);
  co_return res;
}

net::awaitable<Response> Api::Dispatch(Request& req, int& route, const net::ip::address& peer) {
  std::string_view target = req.target();
  std::string_view path = target.substr(0, target.find('?'));
  const Segments seg(path);
  const auto method = req.method();

  // Identity from the bearer token; checked only by routes that need one. A copy: the cache's
  // entry may change while this coroutine waits.
  auto identity = [&](bool admin) -> auth::Identity { return Identify(req, admin); };
  auto only = [&](bhttp::verb allowed, const char* allow) { Only(method, allowed, allow); };

  if (seg.size() == 1 && seg[0] == "ready") {
    route = static_cast<int>(Route::kReady);
    only(bhttp::verb::get, "GET");
    auto r = co_await purchase_.CheckReady();
    json::object body{{"redis", r.redis ? "ok" : "unavailable"},
                      {"database", r.database ? "ok" : "unavailable"}};
    if (r.redis && r.database) co_return Json(200, body);
    std::string failed = !r.redis && !r.database ? "redis, database" : !r.redis ? "redis" : "database";
    body["error"] = {{"code", "UNAVAILABLE"}, {"message", "not ready: " + failed}};
    co_return Json(503, body);
  }
  if (seg.size() == 1 && seg[0] == "metrics") {
    route = static_cast<int>(Route::kMetrics);
    only(bhttp::verb::get, "GET");
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
    res.body() = metrics::Registry::Get().Render();
    co_return res;
  }
  if (seg.size() == 2 && seg[0] == "products") {
    route = static_cast<int>(Route::kProduct);
    only(bhttp::verb::get, "GET");
    auto id = ParseId(seg[1]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    auto r = co_await purchase_.GetProduct(*id);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(200, ProductJson(r.value));
  }
  if (seg.size() == 2 && seg[0] == "admin" && seg[1] == "products") {
    route = static_cast<int>(Route::kAdminProducts);
    only(bhttp::verb::post, "POST");
    identity(true);
    auto body = ParseBody(req);
    purchase::NewProduct p;
    p.name = StringField(body, "name", 200);
    p.price_cents = PriceField(body, "price");
    p.stock = IntField(body, "stock", 0, 100'000'000);
    p.per_user_limit = static_cast<int>(IntField(body, "perUserLimit", 1, 1'000'000, 1));
    if (auto* h = body.if_contains("holdSeconds"); h && !h->is_null()) {
      p.hold_seconds = static_cast<int>(IntField(body, "holdSeconds", 1, 86400));
    }
    if (auto start = SaleStartField(body)) p.sale_starts_at_ms = *start;
    if (auto q = QueueField(body); HasQueueChange(q)) {
      purchase::QueueSettings s;  // given a queue object, the waiting room is on unless disabled
      s.enabled = q.queue_enabled.value_or(true);
      s.admit_per_second = q.admit_per_second.value_or(s.admit_per_second);
      s.max_active = q.max_active.value_or(s.max_active);
      s.admission_ttl_seconds = q.admission_ttl_seconds.value_or(s.admission_ttl_seconds);
      s.pow_difficulty = q.pow_difficulty.value_or(s.pow_difficulty);
      p.queue = s;
    }
    auto created = co_await purchase_.CreateProduct(std::move(p));
    co_return Json(201, ProductJson(created));
  }
  if (seg.size() == 3 && seg[0] == "admin" && seg[1] == "products") {
    route = static_cast<int>(Route::kAdminProduct);
    only(bhttp::verb::patch, "PATCH");
    identity(true);
    auto id = ParseId(seg[2]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    auto body = ParseBody(req);
    for (const auto& [key, _] : body) {
      if (key != "saleStartsAt" && key != "queue") {
        Invalid(std::string(key) + " cannot be changed (only saleStartsAt and queue)");
      }
    }
    auto changes = QueueField(body);
    changes.sale_starts_at_ms = SaleStartField(body);
    auto r = co_await purchase_.UpdateProduct(*id, std::move(changes));
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(200, ProductJson(r.value));
  }
  if (seg.size() == 4 && seg[0] == "admin" && seg[1] == "products" && seg[3] == "sync-stock") {
    route = static_cast<int>(Route::kAdminSync);
    only(bhttp::verb::post, "POST");
    identity(true);
    auto id = ParseId(seg[2]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    auto r = co_await purchase_.SyncStock(*id);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(200, {{"productId", *id},
                         {"before", r.value.before},
                         {"after", r.value.after},
                         {"databaseStock", r.value.database_stock},
                         {"held", r.value.held}});
  }
  if (seg.size() == 2 && seg[0] == "purchase" && (seg[1] == "confirm" || seg[1] == "cancel")) {
    // (POST /purchase/reserve is Route's.)
    route = static_cast<int>(seg[1] == "confirm" ? Route::kConfirm : Route::kCancel);
    only(bhttp::verb::post, "POST");
    auto who = identity(false);
    auto body = ParseBody(req);
    auto rid = StringField(body, "reservationId", 64);
    if (seg[1] == "confirm") {
      purchase::RateChecks limits;
      if (auto product = purchase::keys::ParseReservationId(rid)) {
        limits = Limits(abuse::Action::kConfirm, who, *product, req, peer);
      }
      auto r = co_await purchase_.ConfirmLimited(who.user, rid, std::move(limits));
      if (r.outcome == Outcome::kRateLimited) co_return RateLimited(r.retry_after_ms);
      if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
      co_return Json(r.created ? 201 : 200, OrderJson(r.order));
    }
    auto outcome = co_await purchase_.Cancel(who.user, rid);
    if (outcome != Outcome::kOk) co_return FromOutcome(outcome);
    co_return Json(200, {{"reservationId", rid}, {"state", "cancelled"}});
  }
  if (seg.size() == 2 && seg[0] == "purchase" && seg[1] == "reservations") {
    // GET /purchase/reservations?productId=N: the caller's live holds of the product (a buyer
    // whose reserve answer was lost finds the hold here).
    route = static_cast<int>(Route::kReservation);
    only(bhttp::verb::get, "GET");
    auto who = identity(false);
    auto id = ParseId(QueryParam(target, "productId"));
    if (!id) Invalid("productId query parameter is required (a positive integer)");
    auto r = co_await purchase_.ListReservations(who.user, *id);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    json::array list;
    for (const auto& v : r.value) {
      list.push_back(json::object{{"reservationId", v.id},
                                  {"productId", v.product_id},
                                  {"quantity", v.quantity},
                                  {"state", v.state},
                                  {"expiresAt", FormatIsoUtcMs(v.expires_at_ms)}});
    }
    co_return Json(200, {{"reservations", std::move(list)}});
  }
  if (seg.size() == 3 && seg[0] == "purchase" && seg[1] == "reservations") {
    route = static_cast<int>(Route::kReservation);
    only(bhttp::verb::get, "GET");
    auto who = identity(false);
    auto r = co_await purchase_.GetReservation(who.user, std::string(seg[2]));
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    const auto& v = r.value;
    json::object body{{"reservationId", v.id},
                      {"productId", v.product_id},
                      {"quantity", v.quantity},
                      {"state", v.state}};
    body["expiresAt"] = v.expires_at_ms > 0 ? json::value(FormatIsoUtcMs(v.expires_at_ms)) : nullptr;
    co_return Json(200, body);
  }
  if (queue_ && (seg.size() == 2 || seg.size() == 3) && seg[0] == "queue") {
    // GET /queue/{id}, POST /queue/{id}/join, GET /queue/{id}/status?ticket=...
    if (seg.size() == 2) {
      route = static_cast<int>(Route::kQueueInfo);
      only(bhttp::verb::get, "GET");
      auto id = ParseId(seg[1]);
      if (!id) co_return FromOutcome(Outcome::kProductNotFound);
      auto r = co_await queue_->Info(*id);
      if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
      const auto& i = r.value;
      json::object body{{"productId", i.product_id},
                        {"enabled", i.enabled},
                        {"length", i.length},
                        {"admitted", i.admitted},
                        {"active", i.active},
                        {"dropped", i.dropped},
                        {"admitPerSecond", i.admit_per_second},
                        {"maxActive", i.max_active},
                        {"admissionTtlSeconds", i.admission_ttl_seconds},
                        {"soldOut", i.sold_out}};
      body["saleStartsAt"] =
          i.sale_starts_at_ms ? json::value(FormatIsoUtcMs(*i.sale_starts_at_ms)) : nullptr;
      co_return Json(200, body);
    }
    if (seg[2] == "join") {
      route = static_cast<int>(Route::kQueueJoin);
      only(bhttp::verb::post, "POST");
      auto who = identity(false);
      auto id = ParseId(seg[1]);
      if (!id) co_return FromOutcome(Outcome::kProductNotFound);
      std::optional<Response> refused;
      auto r = co_await Join(std::move(who), *id, req, peer, refused);
      if (refused) co_return std::move(*refused);
      if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
      co_return Json(200, PlaceJson(r.value));
    }
    if (seg[2] == "status") {
      route = static_cast<int>(Route::kQueueStatus);
      only(bhttp::verb::get, "GET");
      auto who = identity(false);
      auto id = ParseId(seg[1]);
      if (!id) co_return FromOutcome(Outcome::kProductNotFound);
      std::string ticket(QueryParam(target, "ticket"));
      if (ticket.empty() || ticket.size() > 64) Invalid("ticket query parameter is required");
      auto r = co_await queue_->Status(who.user, *id, ticket);
      if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
      co_return Json(200, PlaceJson(r.value));
    }
  }
  co_return Error(404, "NOT_FOUND", "no route for " + std::string(path));
}

}  // namespace ticketing::http
