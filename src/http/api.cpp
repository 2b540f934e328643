#include "http/api.hpp"

#include "common/errors.hpp"
#include "http/api_abuse.hpp"
#include "http/events.hpp"
#include "http/fields.hpp"
#include "http/static_files.hpp"
#include "http/openapi.hpp"
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
    case Outcome::kSalePaused:
      return Error(409, "SALE_PAUSED", "the sale is paused; holds already made can still be "
                                       "confirmed or cancelled");
    case Outcome::kOrderNotFound:
      return Error(404, "ORDER_NOT_FOUND", "no such order");
    case Outcome::kStockInUse:
      return Error(409, "STOCK_IN_USE", "not that many free units (held and sold ones stay)");
    case Outcome::kInvalidCursor:
      return Error(400, "INVALID_REQUEST", "cursor is not one this server handed out");
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

// The request's Idempotency-Key header ("" when absent); a malformed one is a 400.
std::string IdempotencyKeyHeader(const Request& req) {
  std::string key(FieldOf(req, "Idempotency-Key"));
  if (!ValidIdempotencyKey(key)) {
    Invalid("Idempotency-Key must be 1 to 64 characters of A-Z a-z 0-9 - _ . :");
  }
  return key;
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

// A query value with %XX escapes decoded ('+' is a space); nullopt if an escape is broken.
std::optional<std::string> PercentDecoded(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '+') {
      out.push_back(' ');
    } else if (v[i] != '%') {
      out.push_back(v[i]);
    } else {
      unsigned x = 0;
      if (i + 2 >= v.size()) return std::nullopt;
      auto [p, ec] = std::from_chars(v.data() + i + 1, v.data() + i + 3, x, 16);
      if (ec != std::errc() || p != v.data() + i + 3) return std::nullopt;
      out.push_back(static_cast<char>(x));
      i += 2;
    }
  }
  return out;
}

// The `cursor` query parameter: "" (the first page) or at most 100 printable characters.
std::string CursorParam(std::string_view target) {
  auto v = PercentDecoded(QueryParam(target, "cursor"));
  if (!v || v->size() > 100 ||
      std::any_of(v->begin(), v->end(), [](char c) { return c <= ' ' || c > '~'; })) {
    Invalid("cursor is not one this server handed out");
  }
  return *v;
}

// A cursor that is an id (0 for the first page).
std::int64_t IdCursor(std::string_view target) {
  const auto c = CursorParam(target);
  if (c.empty()) return 0;
  auto id = ParseId(c);
  if (!id) Invalid("cursor is not one this server handed out");
  return *id;
}

// `limit`: 1 to 200, default 50.
int LimitParam(std::string_view target) {
  auto v = QueryParam(target, "limit");
  if (v.empty()) return 50;
  auto n = ParseId(v);
  if (!n || *n > 200) Invalid("limit must be from 1 to 200");
  return static_cast<int>(*n);
}

json::value NextCursor(const std::string& c) {
  return c.empty() ? json::value(nullptr) : json::value(c);
}

// An IMF-fixdate ("Tue, 01 Dec 2026 23:10:00 GMT").
std::string HttpDate(std::chrono::system_clock::time_point at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  const auto n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

// 201 (or 200 for an idempotent repeat) with the hold.
Response ReservationCreated(const purchase::Reservation& v) {
  // The tree lives on the stack: on the default resource, its table and each key and string
  // value are an allocation of their own (14 of an in-stock reserve's ~85).
  unsigned char arena[1024];
  json::monotonic_resource memory(arena, sizeof arena);
  json::object body(
      {{"reservationId", v.id},
       {"productId", v.product_id},
       {"quantity", v.quantity},
       {"expiresAt", FormatIsoUtcMs(v.expires_at_ms)},
       {"expiresIn", std::max<std::int64_t>(0, (v.expires_at_ms - v.now_ms + 999) / 1000)}},
      &memory);
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

json::object LineJson(const queue::LineInfo& i) {
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
  return body;
}

// A product as the admin console lists it: `available` is what the source said (the database
// stock in listings), plus the pause flag.
json::object AdminProductJson(const purchase::Product& p) {
  auto o = ProductJson(p);
  o["paused"] = p.paused;
  return o;
}

json::object AdminOrderJson(const purchase::OrderRow& o) {
  json::object body = OrderJson(o.order);
  body["user"] = o.user;
  body["createdAt"] = FormatIsoUtcMs(o.created_at_ms);
  body["state"] = o.refunded_at_ms ? "refunded" : "paid";
  body["refundedAt"] = o.refunded_at_ms ? json::value(FormatIsoUtcMs(*o.refunded_at_ms)) : nullptr;
  return body;
}

}  // namespace

namespace {
// Names the route table's entries in /metrics (defined below the table).
void NameRoutes();

// Reserve outcomes by error code ("OK" for a hold), the reserve route's answers in /metrics.
enum ReserveCode : std::size_t {
  kRcOk, kRcSoldOut, kRcLimitReached, kRcProductNotFound, kRcSaleNotOpen, kRcSalePaused,
  kRcNotAdmitted, kRcIdempotencyConflict, kRcRateLimited, kRcInvalid, kRcUnauthorized,
  kRcUnavailable, kRcInternal, kRcOther
};
metrics::CounterVec& ReserveOutcomes() {
  static metrics::CounterVec* v = [] {
    static metrics::CounterVec counters(
        "ticketing_reserve_outcomes_total", "Reserve answers, by outcome (error code).", "outcome",
        {"OK", "SOLD_OUT", "LIMIT_REACHED", "PRODUCT_NOT_FOUND", "SALE_NOT_OPEN", "SALE_PAUSED",
         "NOT_ADMITTED", "IDEMPOTENCY_CONFLICT", "RATE_LIMITED", "INVALID_REQUEST",
         "UNAUTHORIZED", "UNAVAILABLE", "INTERNAL", "OTHER"});
    metrics::Registry::Get().Add(&counters);
    return &counters;
  }();
  return *v;
}

ReserveCode ReserveCodeOf(Outcome o) {
  switch (o) {
    case Outcome::kOk: return kRcOk;
    case Outcome::kSoldOut: return kRcSoldOut;
    case Outcome::kLimitReached: return kRcLimitReached;
    case Outcome::kProductNotFound: return kRcProductNotFound;
    case Outcome::kSaleNotOpen: return kRcSaleNotOpen;
    case Outcome::kSalePaused: return kRcSalePaused;
    case Outcome::kNotAdmitted: return kRcNotAdmitted;
    case Outcome::kIdempotencyConflict: return kRcIdempotencyConflict;
    case Outcome::kRateLimited: return kRcRateLimited;
    default: return kRcOther;
  }
}
}  // namespace

Api::Api(purchase::Service& purchase, const auth::JwtCodec& jwt,
         std::function<std::int64_t()> now_seconds, queue::Service* queue, abuse::Guard* guard)
    : purchase_(purchase),
      queue_(queue),
      guard_(guard),
      jwt_(jwt),
      tokens_(jwt_),
      now_seconds_(std::move(now_seconds)) {
  NameRoutes();
  ReserveOutcomes();
}

std::string_view Api::BearerToken(const Request& req) {
  auto h = FieldOf(req, bhttp::field::authorization);
  constexpr std::string_view kBearer = "Bearer ";
  if (h.size() <= kBearer.size() || h.substr(0, kBearer.size()) != kBearer) {
    throw ClientError{401, "UNAUTHORIZED", "missing bearer token"};
  }
  return {h.data() + kBearer.size(), h.size() - kBearer.size()};
}

const auth::Identity& Api::Identify(std::string_view token, bool admin) {
  const auth::Identity* who = tokens_.Verify(token, now_seconds_());
  if (!who) throw ClientError{401, "UNAUTHORIZED", "invalid or expired token"};
  if (admin && !who->admin) throw ClientError{403, "FORBIDDEN", "admin role required"};
  return *who;
}

struct Api::Handlers {
  // A route's handler: a plain function (answers at once, or hands over to a coroutine of its
  // own) or a coroutine.
  struct Fn {
    using Now = Reply (*)(Api&, Request&, Match);
    using Later = net::awaitable<Response> (*)(Api&, Request&, Match);
    constexpr Fn(Now f) : now(f) {}      // NOLINT: the route table names either kind
    constexpr Fn(Later f) : later(f) {}  // NOLINT
    Reply operator()(Api& api, Request& req, Match m) const {
      if (now) return now(api, req, std::move(m));
      return later(api, req, std::move(m));
    }
    Now now = nullptr;
    Later later = nullptr;
  };

  // POST /purchase/reserve: the hot path. Not a coroutine: the body is parsed into a stack
  // arena, a sold-out answer allocates no frame, and a reserve only Api::Reserve's small one.
  //
  // Its route identifies the buyer here (identifies_itself), after the sold-out answer: a
  // product known to be sold out is answered 409 to a request with any bearer token, before
  // the token's signature is checked. That answer is the same for every caller and tells
  // nothing GET /products/{id} does not; checking the token first cost a sold-out answer about
  // a quarter of the server's work (bench/RESULTS.md). A request with no bearer token at all
  // still gets 401 first, and bad input 400.
  static Reply Reserve(Api& api, Request& req, Match m) {
    unsigned char arena[1024];  // the body's tree, freed with this frame
    json::monotonic_resource body_memory(arena, sizeof arena);
    const auto body = ParseBody(req, &body_memory);
    auto product_id = IntField(body, "productId", 1, INT64_MAX);
    auto quantity = static_cast<int>(IntField(body, "quantity", 1, 10000, 1));
    // A retried reserve (its first answer lost to a timeout) carries the same key and gets
    // the same hold back instead of a second one.
    std::string idempotency_key = IdempotencyKeyHeader(req);
    if (idempotency_key.empty() && api.purchase_.KnownSoldOut(product_id, quantity)) {
      return Reply(FromOutcome(Outcome::kSoldOut));
    }
    m.who = api.Identify(m.token, false);
    // A presented admission token must be genuine, this buyer's and this product's; whether
    // it is still unused (and needed at all) the reserve decides atomically.
    std::string ticket;
    if (auto token = FieldOf(req, "X-Admission-Token"); !token.empty()) {
      auto verified = api.queue_ ? api.queue_->VerifyAdmission(token, m.who.user, product_id)
                                 : std::optional<std::string>();
      if (!verified) return Reply(FromOutcome(Outcome::kNotAdmitted));
      ticket = std::move(*verified);
    }
    // Rate limits ride in the reserve script itself: no extra round trip.
    auto limits = api.Limits(abuse::Action::kReserve, m.who, product_id, req, m.peer);
    return api.Reserve(std::move(m.who.user), product_id, quantity, std::move(ticket),
                       std::move(idempotency_key), std::move(limits));
  }

  // GET /health: no I/O.
  static Reply Health(Api&, Request&, Match) {
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = R"({"status":"ok"})";
    return Reply(std::move(res));
  }

  static net::awaitable<Response> ReadyCheck(Api& api, Request&, Match) {
    auto r = co_await api.purchase_.CheckReady();
    json::object body{{"redis", r.redis ? "ok" : "unavailable"},
                      {"database", r.database ? "ok" : "unavailable"}};
    if (r.redis && r.database) co_return Json(200, body);
    std::string failed =
        !r.redis && !r.database ? "redis, database" : !r.redis ? "redis" : "database";
    body["error"] = {{"code", "UNAVAILABLE"}, {"message", "not ready: " + failed}};
    co_return Json(503, body);
  }

  static Reply Metrics(Api&, Request&, Match) {
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4");
    res.body() = metrics::Registry::Get().Render();
    return Reply(std::move(res));
  }

  static Reply OpenApi(Api&, Request&, Match) {
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = OpenApiJson();
    return Reply(std::move(res));
  }

  static Reply Docs(Api&, Request&, Match) {
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/html; charset=utf-8");
    res.body() = DocsHtml();
    return Reply(std::move(res));
  }

  static net::awaitable<Response> Product(Api& api, Request&, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    auto r = co_await api.purchase_.GetProduct(*id);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    auto body = ProductJson(r.value);
    if (r.value.paused) body["paused"] = true;
    auto res = Json(200, body);
    // The sale page counts down to saleStartsAt by this clock, not the phone's.
    res.set(bhttp::field::date, HttpDate(std::chrono::system_clock::now()));
    co_return res;
  }

  static net::awaitable<Response> Confirm(Api& api, Request& req, Match m) {
    auto body = ParseBody(req);
    auto rid = StringField(body, "reservationId", 64);
    purchase::RateChecks limits;
    if (auto product = purchase::keys::ParseReservationId(rid)) {
      limits = api.Limits(abuse::Action::kConfirm, m.who, *product, req, m.peer);
    }
    auto r = co_await api.purchase_.ConfirmLimited(m.who.user, rid, std::move(limits));
    if (r.outcome == Outcome::kRateLimited) co_return RateLimited(r.retry_after_ms);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(r.created ? 201 : 200, OrderJson(r.order));
  }

  static net::awaitable<Response> Cancel(Api& api, Request& req, Match m) {
    auto body = ParseBody(req);
    auto rid = StringField(body, "reservationId", 64);
    auto outcome = co_await api.purchase_.Cancel(m.who.user, rid);
    if (outcome != Outcome::kOk) co_return FromOutcome(outcome);
    co_return Json(200, {{"reservationId", rid}, {"state", "cancelled"}});
  }

  // GET /purchase/reservations?productId=N: the caller's live holds of the product (a buyer
  // whose reserve answer was lost finds the hold here).
  static net::awaitable<Response> MyReservations(Api& api, Request& req, Match m) {
    auto id = ParseId(QueryParam(req.target(), "productId"));
    if (!id) Invalid("productId query parameter is required (a positive integer)");
    auto r = co_await api.purchase_.ListReservations(m.who.user, *id);
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

  static net::awaitable<Response> MyReservation(Api& api, Request&, Match m) {
    auto r = co_await api.purchase_.GetReservation(m.who.user, std::string(m.params[0]));
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    const auto& v = r.value;
    json::object body{{"reservationId", v.id},
                      {"productId", v.product_id},
                      {"quantity", v.quantity},
                      {"state", v.state}};
    body["expiresAt"] =
        v.expires_at_ms > 0 ? json::value(FormatIsoUtcMs(v.expires_at_ms)) : nullptr;
    co_return Json(200, body);
  }

  static net::awaitable<Response> QueueInfo(Api& api, Request&, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    auto r = co_await api.queue_->Info(*id);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(200, LineJson(r.value));
  }

  static net::awaitable<Response> QueueJoin(Api& api, Request& req, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    std::optional<Response> refused;
    auto r = co_await api.Join(std::move(m.who), *id, req, m.peer, refused);
    if (refused) co_return std::move(*refused);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(200, api.Paced(r.value));
  }

  static net::awaitable<Response> QueueStatus(Api& api, Request& req, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    std::string ticket(QueryParam(req.target(), "ticket"));
    if (ticket.empty() || ticket.size() > 64) Invalid("ticket query parameter is required");
    auto r = co_await api.queue_->Status(m.who.user, *id, ticket);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(200, api.Paced(r.value));
  }

  // The pages (web/): the buyer's sale page for any product id (the page reads the id from its
  // address), the operator dashboard, and their assets under /assets/ (served by an
  // ADMIN_LISTEN listener too, so the dashboard loads there).
  static Reply ServePage(Api& api, const Request& req, std::string_view name) {
    const http::Asset* asset = FindAsset(name);
    if (!asset) return Reply(Error(404, "NOT_FOUND", "no such page"));
    return Reply(AssetResponse(req, *asset, api.web_.frame_ancestors));
  }
  static Reply SalePage(Api& api, Request& req, Match m) {
    if (!ParseId(m.params[0])) return Reply(Error(404, "NOT_FOUND", "no such page"));
    return ServePage(api, req, "sale.html");
  }
  static Reply AdminPage(Api& api, Request& req, Match) {
    return ServePage(api, req, "admin.html");
  }
  static Reply AssetFile(Api& api, Request& req, Match m) {
    if (m.params[0].ends_with(".html")) return Reply(Error(404, "NOT_FOUND", "no such asset"));
    return ServePage(api, req, m.params[0]);
  }

  // GET /admin/events: the opening of the dashboard's event stream; the server's stream hook
  // (EventHub::Serve) then keeps the connection and sends each new sample.
  static Reply AdminEvents(Api& api, Request&, Match) {
    Response res{bhttp::status::ok, 11};
    res.set(bhttp::field::content_type, "text/event-stream");
    res.body() = api.web_.events ? api.web_.events->Opening()
                                 : std::string("retry: 3000\n\nevent: history\ndata: []\n\n");
    return Reply(std::move(res));
  }

  // POST /demo/login {nickname}: a buyer token for "demo:<nickname>", valid for an hour. Only
  // with DEMO_LOGIN=1 (anyone can be anyone: for demos and the browser tests).
  static Reply DemoLogin(Api& api, Request& req, Match) {
    if (!api.web_.demo_login) {
      return Reply(Error(404, "NOT_FOUND", "demo sign-in is off (DEMO_LOGIN=1 turns it on)"));
    }
    const auto body = ParseBody(req);
    const json::value* v = body.if_contains("nickname");
    if (!v || !v->is_string() || !ValidNickname(v->as_string())) {
      Invalid("nickname must be 1 to 32 characters (no control characters, quotes or backslashes)");
    }
    const std::string user = "demo:" + std::string(v->as_string());
    const std::int64_t exp = api.now_seconds_() + 3600;
    return Reply(Json(200, {{"token", api.jwt_.Sign({user, false}, exp)},
                            {"user", user},
                            {"expiresAt", FormatIsoUtcMs(exp * 1000)}}));
  }

  static net::awaitable<Response> AdminCreate(Api& api, Request& req, Match m) {
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
    p.actor = m.who.user;
    p.idempotency_key = IdempotencyKeyHeader(req);
    auto created = co_await api.purchase_.CreateProduct(std::move(p));
    if (created.outcome == Outcome::kIdempotencyConflict) {
      co_return Error(409, "IDEMPOTENCY_CONFLICT",
                      "this Idempotency-Key was used for another product or change");
    }
    if (created.outcome != Outcome::kOk) co_return FromOutcome(created.outcome);
    // A repeat answers as the first call did: 201 and the product (as it is now).
    co_return Json(201, ProductJson(created.value));
  }

  static net::awaitable<Response> AdminList(Api& api, Request& req, Match) {
    const auto after = IdCursor(req.target());
    const int limit = LimitParam(req.target());
    auto r = co_await api.purchase_.ListProducts(after, limit);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    json::array items;
    for (const auto& p : r.value.items) items.push_back(AdminProductJson(p));
    co_return Json(200, {{"items", std::move(items)}, {"nextCursor", NextCursor(r.value.next_cursor)}});
  }

  static net::awaitable<Response> AdminGet(Api& api, Request&, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    auto r = co_await api.purchase_.GetProductFigures(*id);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    const auto& f = r.value;
    json::object body = AdminProductJson(f.product);
    body["available"] = f.product.available;
    body["databaseStock"] = f.database_stock;
    body["sold"] = f.sold;
    body["orders"] = f.orders;
    body["refunded"] = f.refunded;
    body["held"] = f.held;
    body["confirming"] = f.confirming;
    body["holdsExpired"] = f.holds_expired;
    body["holdsCancelled"] = f.holds_cancelled;
    body["line"] = nullptr;
    if (api.queue_) {
      auto q = co_await api.queue_->Info(*id);
      if (q.outcome == Outcome::kOk) {
        body["line"] = {{"length", q.value.length},
                        {"admitted", q.value.admitted},
                        {"active", q.value.active},
                        {"dropped", q.value.dropped}};
      }
    }
    co_return Json(200, body);
  }

  static net::awaitable<Response> AdminPatch(Api& api, Request& req, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    auto body = ParseBody(req);
    for (const auto& [key, _] : body) {
      if (key != "saleStartsAt" && key != "queue") {
        Invalid(std::string(key) + " cannot be changed (only saleStartsAt and queue)");
      }
    }
    auto changes = QueueField(body);
    changes.sale_starts_at_ms = SaleStartField(body);
    changes.actor = m.who.user;
    auto r = co_await api.purchase_.UpdateProduct(*id, std::move(changes));
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(200, ProductJson(r.value));
  }

  static net::awaitable<Response> AdminSync(Api& api, Request&, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    auto r = co_await api.purchase_.AdminSyncStock(m.who.user, *id);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(200, {{"productId", *id},
                         {"before", r.value.before},
                         {"after", r.value.after},
                         {"databaseStock", r.value.database_stock},
                         {"held", r.value.held}});
  }

  // POST /admin/products/{id}/stock {"add": n} | {"remove": n}
  static net::awaitable<Response> AdminStock(Api& api, Request& req, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    auto body = ParseBody(req);
    for (const auto& [key, _] : body) {
      if (key != "add" && key != "remove") Invalid(std::string(key) + " is not a stock change");
    }
    const bool add = body.contains("add");
    if (add == body.contains("remove")) Invalid("give exactly one of add and remove");
    const auto n = IntField(body, add ? "add" : "remove", 1, 100'000'000);
    // A retried change (its first answer lost to a timeout) with the same key happens once.
    std::string key = IdempotencyKeyHeader(req);
    auto r = co_await api.purchase_.ChangeStock(m.who.user, *id, add ? n : -n, std::move(key));
    if (r.outcome == Outcome::kStockInUse) {
      co_return Json(409, {{"error",
                            {{"code", "STOCK_IN_USE"},
                             {"message", "only " + std::to_string(r.value.removable) +
                                             " units are free to remove (held and sold units "
                                             "stay)"}}},
                           {"removable", r.value.removable}});
    }
    if (r.outcome == Outcome::kIdempotencyConflict) {
      co_return Error(409, "IDEMPOTENCY_CONFLICT",
                      "this Idempotency-Key was used for another stock change");
    }
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(200, {{"productId", *id},
                         {"totalStock", r.value.total},
                         {"databaseStock", r.value.database_stock},
                         {"available", r.value.available},
                         {"repeated", r.value.repeated}});
  }

  template <bool kPause>
  static net::awaitable<Response> AdminPause(Api& api, Request&, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    auto r = co_await api.purchase_.SetPaused(m.who.user, *id, kPause);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    co_return Json(200, AdminProductJson(r.value));
  }

  static net::awaitable<Response> AdminHolds(Api& api, Request& req, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    std::string state(QueryParam(req.target(), "state"));
    if (!state.empty() && state != "held" && state != "confirming") {
      Invalid("state must be held or confirming (finished holds are orders, or gone)");
    }
    auto cursor = CursorParam(req.target());
    const int limit = LimitParam(req.target());
    auto r = co_await api.purchase_.ListHolds(*id, state, cursor, limit);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    json::array items;
    for (const auto& h : r.value.items) {
      items.push_back(json::object{{"reservationId", h.id},
                                   {"user", h.user},
                                   {"quantity", h.quantity},
                                   {"state", h.state},
                                   {"expiresAt", FormatIsoUtcMs(h.expires_at_ms)},
                                   {"createdAt", FormatIsoUtcMs(h.created_at_ms)}});
    }
    co_return Json(200, {{"items", std::move(items)}, {"nextCursor", NextCursor(r.value.next_cursor)}});
  }

  static net::awaitable<Response> AdminOrders(Api& api, Request& req, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kProductNotFound);
    const auto after = IdCursor(req.target());
    const int limit = LimitParam(req.target());
    auto r = co_await api.purchase_.ListOrders(*id, after, limit);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    json::array items;
    for (const auto& o : r.value.items) items.push_back(AdminOrderJson(o));
    co_return Json(200, {{"items", std::move(items)}, {"nextCursor", NextCursor(r.value.next_cursor)}});
  }

  static net::awaitable<Response> AdminRefund(Api& api, Request&, Match m) {
    auto id = ParseId(m.params[0]);
    if (!id) co_return FromOutcome(Outcome::kOrderNotFound);
    auto r = co_await api.purchase_.RefundOrder(m.who.user, *id);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    auto body = AdminOrderJson(r.value.order);
    body["repeated"] = r.value.repeated;
    co_return Json(200, body);
  }

  static net::awaitable<Response> AdminAudit(Api& api, Request& req, Match) {
    const auto before = IdCursor(req.target());
    const int limit = LimitParam(req.target());
    auto r = co_await api.purchase_.ListAudit(before, limit);
    if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
    json::array items;
    for (const auto& a : r.value.items) {
      auto parsed = [](const std::string& text) -> json::value {
        if (text.empty()) return nullptr;
        boost::system::error_code ec;
        auto v = json::parse(text, ec);
        return ec ? json::value(text) : v;
      };
      items.push_back(json::object{
          {"id", a.id},
          {"at", FormatIsoUtcMs(a.at_ms)},
          {"admin", a.admin},
          {"action", a.action},
          {"productId", a.product_id ? json::value(a.product_id) : nullptr},
          {"orderId", a.order_id ? json::value(a.order_id) : nullptr},
          {"before", parsed(a.before_json)},
          {"after", parsed(a.after_json)}});
    }
    co_return Json(200, {{"items", std::move(items)}, {"nextCursor", NextCursor(r.value.next_cursor)}});
  }
};

namespace {

using H = Api::Handlers;

// The route table: one line per route, matched in order. `{...}` matches one path segment
// (passed to the handler as Match::params). The hot routes come first.
struct RouteEntry {
  bhttp::verb method;
  std::string_view path;
  Route metric;
  Access access;
  bool needs_queue;
  H::Fn handler;
  std::string_view summary;
  // The OpenAPI document's: request schema, success status and schema, query parameters.
  std::string_view request;
  unsigned status;
  std::string_view response;
  std::string_view query;
  // The handler calls Identify with Match::token itself (after answers that need no
  // identity); Select only requires a bearer token to be there.
  bool identifies_itself = false;
};

using V = bhttp::verb;
const RouteEntry kRoutes[] = {
    {V::post, "/purchase/reserve", Route::kReserve, Access::kBuyer, false, &H::Reserve,
     "Hold units of a product for the caller", "ReserveRequest", 201, "Reservation", "", true},
    {V::get, "/health", Route::kHealth, Access::kPublic, false, &H::Health,
     "Liveness: the process answers", "", 200, "Health", ""},
    {V::post, "/purchase/confirm", Route::kConfirm, Access::kBuyer, false, &H::Confirm,
     "Turn the caller's hold into an order", "ReservationRef", 201, "Order", ""},
    {V::post, "/purchase/cancel", Route::kCancel, Access::kBuyer, false, &H::Cancel,
     "Cancel the caller's hold", "ReservationRef", 200, "Cancelled", ""},
    {V::get, "/purchase/reservations", Route::kReservation, Access::kBuyer, false,
     &H::MyReservations, "The caller's live holds of a product", "", 200, "ReservationList",
     "productId"},
    {V::get, "/purchase/reservations/{rid}", Route::kReservation, Access::kBuyer, false,
     &H::MyReservation, "One of the caller's reservations", "", 200, "ReservationState", ""},
    {V::get, "/products/{id}", Route::kProduct, Access::kPublic, false, &H::Product,
     "A product and its available units", "", 200, "Product", ""},
    {V::get, "/queue/{id}", Route::kQueueInfo, Access::kPublic, true, &H::QueueInfo,
     "A product's waiting room", "", 200, "LineInfo", ""},
    {V::post, "/queue/{id}/join", Route::kQueueJoin, Access::kBuyer, true, &H::QueueJoin,
     "Join a product's waiting room", "", 200, "Place", ""},
    {V::get, "/queue/{id}/status", Route::kQueueStatus, Access::kBuyer, true, &H::QueueStatus,
     "The caller's place in the line", "", 200, "Place", "ticket"},
    {V::get, "/ready", Route::kReady, Access::kPublic, false, &H::ReadyCheck,
     "Readiness: Redis and the database answer", "", 200, "Readiness", ""},
    {V::get, "/metrics", Route::kMetrics, Access::kPublic, false, &H::Metrics,
     "Prometheus metrics", "", 200, "text", ""},
    {V::get, "/openapi.json", Route::kDocs, Access::kPublic, false, &H::OpenApi,
     "This document", "", 200, "OpenApi", ""},
    {V::get, "/docs", Route::kDocs, Access::kPublic, false, &H::Docs,
     "This document as a page", "", 200, "html", ""},
    {V::get, "/sale/{id}", Route::kDocs, Access::kPublic, false, &H::SalePage,
     "The buyer's page of a product's sale (web/sale.html)", "", 200, "html", ""},
    {V::get, "/assets/{file}", Route::kDocs, Access::kPublic, false, &H::AssetFile,
     "A script, style sheet or image of the pages (web/)", "", 200, "asset", ""},
    {V::post, "/demo/login", Route::kOther, Access::kPublic, false, &H::DemoLogin,
     "A buyer token for a nickname (only with DEMO_LOGIN=1)", "DemoLogin", 200, "DemoToken", ""},
    {V::get, "/admin", Route::kDocs, Access::kPublic, false, &H::AdminPage,
     "The operator dashboard (web/admin.html; it asks for an admin token)", "", 200, "html", ""},
    {V::get, "/admin/events", Route::kAdminRead, Access::kAdmin, false, &H::AdminEvents,
     "Live figures of every product as server-sent events", "", 200, "events", ""},
    {V::post, "/admin/products", Route::kAdminProducts, Access::kAdmin, false, &H::AdminCreate,
     "Create a product", "NewProduct", 201, "Product", ""},
    {V::get, "/admin/products", Route::kAdminRead, Access::kAdmin, false, &H::AdminList,
     "List products (paged)", "", 200, "ProductPage", "cursor,limit"},
    {V::get, "/admin/products/{id}", Route::kAdminRead, Access::kAdmin, false, &H::AdminGet,
     "A product with its live figures", "", 200, "ProductFigures", ""},
    {V::patch, "/admin/products/{id}", Route::kAdminProduct, Access::kAdmin, false,
     &H::AdminPatch, "Change a product's sale start and waiting room", "ProductPatch", 200,
     "Product", ""},
    {V::post, "/admin/products/{id}/sync-stock", Route::kAdminSync, Access::kAdmin, false,
     &H::AdminSync, "Make Redis' available units agree with the database", "", 200, "StockSync",
     ""},
    {V::post, "/admin/products/{id}/stock", Route::kAdminStock, Access::kAdmin, false,
     &H::AdminStock, "Add or remove units during a sale", "StockRequest", 200, "StockChange", ""},
    {V::post, "/admin/products/{id}/pause", Route::kAdminPause, Access::kAdmin, false,
     &H::AdminPause<true>, "Pause the sale", "", 200, "AdminProduct", ""},
    {V::post, "/admin/products/{id}/resume", Route::kAdminPause, Access::kAdmin, false,
     &H::AdminPause<false>, "Resume the sale", "", 200, "AdminProduct", ""},
    {V::get, "/admin/products/{id}/reservations", Route::kAdminRead, Access::kAdmin, false,
     &H::AdminHolds, "A product's live holds (paged)", "", 200, "HoldPage", "state,cursor,limit"},
    {V::get, "/admin/products/{id}/orders", Route::kAdminRead, Access::kAdmin, false,
     &H::AdminOrders, "A product's orders (paged)", "", 200, "OrderPage", "cursor,limit"},
    {V::post, "/admin/orders/{id}/refund", Route::kAdminRefund, Access::kAdmin, false,
     &H::AdminRefund, "Refund an order (exactly once)", "", 200, "Refund", ""},
    {V::get, "/admin/audit", Route::kAdminRead, Access::kAdmin, false, &H::AdminAudit,
     "The audit trail of admin actions, newest first (paged)", "", 200, "AuditPage",
     "cursor,limit"},
};

static_assert(std::size(kRoutes) <= metrics::Registry::kMaxRoutes,
              "raise Registry::kMaxRoutes: every route needs its own series");

void NameRoutes() {
  std::vector<std::pair<std::string, std::string>> names;
  for (const auto& r : kRoutes) {
    const auto m = bhttp::to_string(r.method);
    names.emplace_back(std::string(m.data(), m.size()), std::string(r.path));
  }
  metrics::Registry::Get().SetRoutes(names);
}

// The table's paths split once.
const std::vector<Segments>& RouteSegments() {
  static const std::vector<Segments> segs = [] {
    std::vector<Segments> out;
    for (const auto& r : kRoutes) out.emplace_back(r.path);
    return out;
  }();
  return segs;
}

bool IsParam(std::string_view s) { return s.size() >= 2 && s.front() == '{' && s.back() == '}'; }

// Whether `path` fits `pattern`; fills the {…} segments into `params`.
bool Matches(const Segments& pattern, const Segments& path,
             std::array<std::string_view, 2>& params) {
  if (pattern.size() != path.size() || path.size() > Segments::kMax) return false;
  std::size_t p = 0;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (IsParam(pattern[i])) {
      if (path[i].empty() || p == params.size()) return false;
      params[p++] = path[i];
    } else if (pattern[i] != path[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::vector<RouteInfo> Routes() {
  std::vector<RouteInfo> out;
  for (const auto& r : kRoutes) {
    out.push_back({r.method, r.path, r.access, r.needs_queue, r.summary, r.request, r.status,
                   r.response, r.query});
  }
  return out;
}

Reply Api::Select(Request& req, int& route, const net::ip::address& peer) {
  std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const Segments seg(path);
  const auto& segs = RouteSegments();
  std::string allow;  // methods of routes whose path matched
  for (std::size_t i = 0; i < std::size(kRoutes); ++i) {
    const RouteEntry& r = kRoutes[i];
    if (r.needs_queue && !queue_) continue;
    Match m;
    if (!Matches(segs[i], seg, m.params)) continue;
    if (r.method != req.method()) {
      if (allow.empty()) route = static_cast<int>(i);
      const auto name = bhttp::to_string(r.method);
      if (allow.find(name) == std::string::npos) {
        if (!allow.empty()) allow += ", ";
        allow.append(name.data(), name.size());
      }
      continue;
    }
    route = static_cast<int>(i);
    if (r.access != Access::kPublic) {
      m.token = BearerToken(req);
      if (!r.identifies_itself) m.who = Identify(m.token, r.access == Access::kAdmin);
    }
    m.peer = peer;
    return r.handler(*this, req, std::move(m));
  }
  if (!allow.empty() && req.method() == bhttp::verb::options) {
    return Reply(Preflight(web_, req, allow));
  }
  if (!allow.empty()) {
    auto res = Error(405, "METHOD_NOT_ALLOWED", "use " + allow);
    res.set(bhttp::field::allow, allow);
    return Reply(std::move(res));
  }
  return Reply(Error(404, "NOT_FOUND", "no route for " + std::string(path)));
}

boost::json::object Api::Paced(const queue::Place& place) {
  auto body = PlaceJson(place);
  body["pollAfterMs"] =
      PollAfterMs(place, web_.poll_timeout_seconds, static_cast<std::uint32_t>(poll_jitter_()));
  return body;
}

net::awaitable<Response> Api::Reserve(std::string user, std::int64_t product_id, int quantity,
                                      std::string ticket, std::string idempotency_key,
                                      purchase::RateChecks limits) {
  auto r = co_await purchase_.ReserveLimited(std::move(user), product_id, quantity,
                                             std::move(ticket), std::move(idempotency_key),
                                             std::move(limits));
  ReserveOutcomes().Inc(ReserveCodeOf(r.outcome));
  if (r.outcome == Outcome::kRateLimited) co_return RateLimited(r.value.retry_after_ms);
  if (r.outcome != Outcome::kOk) co_return FromOutcome(r.outcome);
  co_return ReservationCreated(r.value);
}

namespace {

using Clock = std::chrono::steady_clock;

// The answer to an exception from a route (its synchronous part or its coroutine), and the
// reserve outcome it counts as.
Response Failed(std::exception_ptr e, const Request& req, std::optional<ReserveCode>& failed) {
  try {
    std::rethrow_exception(e);
  } catch (const ClientError& c) {
    failed = c.status == 400 ? kRcInvalid : c.status == 401 || c.status == 403 ? kRcUnauthorized
                                                                               : kRcOther;
    return Error(c.status, c.code, c.message);
  } catch (const UnavailableError& u) {
    metrics::Registry::Get().Count(metrics::Event::kRedisUnavailable);
    log::Warn("unavailable", {{"target", req.target()}, {"error", u.what()}});
    auto res = Error(503, "UNAVAILABLE", std::string("a dependency is unavailable: ") + u.what());
    res.set(bhttp::field::retry_after, "1");
    failed = kRcUnavailable;
    return res;
  } catch (const std::exception& x) {
    metrics::Registry::Get().Count(metrics::Event::kInternalError);
    log::Error("internal_error", {{"target", req.target()}, {"error", x.what()}});
    failed = kRcInternal;
    return Error(500, "INTERNAL", "internal error");
  }
}

// What every answer gets, however it was made: its reserve outcome when it failed before
// Api::Reserve counted one, the CORS headers, the request metrics and the debug log (the
// server adds Server, traceparent and Content-Length on the wire).
void Finish(const WebOptions& web, const Request& req, int route,
            std::optional<ReserveCode> failed, Clock::time_point start, Response& res) {
  if (failed && route >= 0 && kRoutes[route].metric == Route::kReserve &&
      kRoutes[route].method == req.method()) {
    ReserveOutcomes().Inc(*failed);
  }
  AddCorsHeaders(web, req, res);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  metrics::Registry::Get().ObserveRequest(route, res.result_int(), seconds);
  if (spdlog::default_logger_raw()->should_log(spdlog::level::debug)) {
    log::Log(spdlog::level::debug, "request",
             {{"method", req.method_string()},
              {"route", route >= 0 ? kRoutes[route].path : std::string_view("unmatched")},
              {"status", res.result_int()},
              {"ms", seconds * 1e3}});
  }
}

// A route's coroutine, awaited and finished.
net::awaitable<Response> Finishing(net::awaitable<Response> later, const WebOptions& web,
                                   Request& req, int route, Clock::time_point start) {
  Response res;
  std::optional<ReserveCode> failed;
  try {
    res = co_await std::move(later);
  } catch (...) {
    res = Failed(std::current_exception(), req, failed);
  }
  Finish(web, req, route, failed, start, res);
  co_return res;
}

}  // namespace

Reply Api::Serve(Request& req, net::ip::address peer) {
  const auto start = Clock::now();
  int route = -1;  // the table entry that matched (-1: none)
  std::optional<ReserveCode> failed;  // answers that never reach Api::Reserve count too
  std::optional<Reply> reply;
  try {
    reply.emplace(Select(req, route, peer));
  } catch (...) {
    reply.emplace(Failed(std::current_exception(), req, failed));
  }
  if (reply->later) return Finishing(std::move(*reply->later), web_, req, route, start);
  Finish(web_, req, route, failed, start, *reply->now);
  return std::move(*reply);
}

net::awaitable<Response> Api::Handle(Request& req, net::ip::address peer) {
  Reply reply = Serve(req, peer);
  if (reply.now) co_return std::move(*reply.now);
  co_return co_await std::move(*reply.later);
}

}  // namespace ticketing::http
