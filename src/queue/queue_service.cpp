#include "queue/queue_service.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "purchase/keys.hpp"
#include "queue/scripts.hpp"

namespace ticketing::queue {
namespace {

using purchase::Outcome;
using purchase::Result;

// A uniformly random pre-queue order in [0, 2^52): exact as a Redis sorted-set score.
std::int64_t RandomOrder() {
  std::uint64_t v = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&v), sizeof v) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return static_cast<std::int64_t>(v >> 12);
}

const std::string& Tag(const redis::Value& v) {
  if (v.IsError()) throw std::runtime_error("redis script error: " + v.str);
  if (v.type != redis::Value::Type::kArray || v.elements.empty()) {
    throw std::runtime_error("redis script: unexpected reply");
  }
  return v.elements[0].str;
}

}  // namespace

Place QueueService::ToPlace(const redis::Value& reply, std::int64_t product_id,
                            std::string_view user) const {
  // {'OK', ticket, state, rank, lineLength, admissionExpiryMs, soldOut, nowMs, enabled, rate,
  //  saleStartsAtMs}
  const auto& e = reply.elements;
  if (e.size() != 11) throw std::runtime_error("queue script: unexpected reply");
  Place p;
  p.ticket = e[1].str;
  const std::string& state = e[2].str;
  const std::int64_t rank = e[3].integer;
  p.line_length = e[4].integer;
  const std::int64_t adm = e[5].integer;
  const bool sold_out = e[6].integer == 1;
  const std::int64_t now = e[7].integer;
  p.queue_enabled = e[8].integer == 1;
  const std::int64_t rate = std::max<long long>(1, e[9].integer);
  const std::int64_t start = e[10].integer;
  if (!p.queue_enabled) {
    // The waiting room was switched off: reserve needs no admission any more.
    p.state = state == "expired" ? "expired" : "admitted";
    return p;
  }
  if (state == "waiting") {
    p.state = sold_out ? "soldout" : "waiting";
    p.position = rank + 1;
    p.ahead_of_you = rank;
    p.pre_queue = now < start;
    p.eta_seconds = (rank + rate) / rate + (p.pre_queue ? (start - now + 999) / 1000 : 0);
  } else if (state == "admitted") {
    if (sold_out) {
      p.state = "soldout";
    } else {
      p.state = "admitted";
      p.admission_token = codec_.Sign(product_id, user, p.ticket, adm);
      p.admission_expires_at_ms = adm;
    }
  } else if (state == "used") {
    p.state = "admitted";
    p.used = true;
  } else {
    p.state = "expired";
  }
  return p;
}

net::awaitable<Result<Place>> QueueService::Join(std::string user, std::int64_t product_id) {
  return JoinWithProof(std::move(user), product_id, JoinProof{}, purchase::RateChecks{});
}

net::awaitable<Result<Place>> QueueService::JoinWithProof(std::string user,
                                                          std::int64_t product_id,
                                                          JoinProof proof,
                                                          purchase::RateChecks limits) {
  const auto prefix = purchase::keys::Prefix(product_id);
  auto ticket = purchase::keys::NewReservationId(product_id);
  auto keys = redis::List(purchase::keys::Info(prefix));
  auto args = redis::List(prefix, user, ticket, std::to_string(RandomOrder()),
                          std::to_string(options_.max_waiting),
                          std::to_string(options_.retain.count()), proof.id,
                          std::to_string(proof.expires_at_ms), std::to_string(proof.difficulty));
  if (!limits.empty()) {
    // In the join's own call: no round trip or script call of their own (KEYS[2..], ARGV[10..]).
    std::move(limits).AppendTo(keys, args);
  }
  auto reply = co_await redis_.Eval(Scripts::Get().join, keys, args);
  const auto& tag = Tag(reply);
  if (tag == "RATE_LIMITED") {
    Place p;
    p.retry_after_ms = reply.elements.size() > 1 ? reply.elements[1].integer : 1000;
    co_return Result<Place>{Outcome::kRateLimited, std::move(p)};
  }
  if (tag == "NOT_FOUND") co_return Result<Place>{Outcome::kProductNotFound, {}};
  if (tag == "QUEUE_OFF") co_return Result<Place>{Outcome::kQueueNotEnabled, {}};
  if (tag == "FULL") co_return Result<Place>{Outcome::kQueueFull, {}};
  if (tag == "POW_REQUIRED" || tag == "POW_STALE" || tag == "POW_REPLAYED") {
    Place p;
    p.pow_difficulty = static_cast<int>(reply.elements.at(1).integer);
    p.now_ms = reply.elements.at(2).integer;
    const Outcome o = tag == "POW_REQUIRED" ? Outcome::kPowRequired
                      : tag == "POW_STALE"  ? Outcome::kPowExpired
                                            : Outcome::kPowReplayed;
    co_return Result<Place>{o, std::move(p)};
  }
  if (tag == "PAUSED") co_return Result<Place>{Outcome::kSalePaused, {}};
  co_return Result<Place>{Outcome::kOk, ToPlace(reply, product_id, user)};
}

net::awaitable<Result<Place>> QueueService::Status(std::string user, std::int64_t product_id,
                                                   std::string ticket) {
  // Tickets look like reservation ids: "<productId>-<32 hex>"; anything else is not ours.
  if (purchase::keys::ParseReservationId(ticket) != product_id) {
    co_return Result<Place>{Outcome::kTicketNotFound, {}};
  }
  const auto prefix = purchase::keys::Prefix(product_id);
  auto keys = redis::List(purchase::keys::Info(prefix));
  auto args = redis::List(prefix, user, ticket);
  auto reply = co_await redis_.Eval(Scripts::Get().status, keys, args);
  const auto& tag = Tag(reply);
  if (tag == "NOT_FOUND") co_return Result<Place>{Outcome::kProductNotFound, {}};
  if (tag == "TICKET_NOT_FOUND") co_return Result<Place>{Outcome::kTicketNotFound, {}};
  co_return Result<Place>{Outcome::kOk, ToPlace(reply, product_id, user)};
}

net::awaitable<Result<LineInfo>> QueueService::Info(std::int64_t product_id) {
  const auto prefix = purchase::keys::Prefix(product_id);
  auto keys = redis::List(purchase::keys::Info(prefix));
  auto args = redis::List(prefix);
  auto reply = co_await redis_.Eval(Scripts::Get().info, keys, args);
  const auto& tag = Tag(reply);
  if (tag == "NOT_FOUND") co_return Result<LineInfo>{Outcome::kProductNotFound, {}};
  const auto& e = reply.elements;
  if (e.size() != 12) throw std::runtime_error("queue info: unexpected reply");
  LineInfo i;
  i.product_id = product_id;
  i.enabled = e[1].integer == 1;
  i.length = e[2].integer;
  i.admitted = e[3].integer;
  i.active = e[4].integer;
  i.admit_per_second = static_cast<int>(e[5].integer);
  i.max_active = static_cast<int>(e[6].integer);
  i.admission_ttl_seconds = static_cast<int>(e[7].integer);
  i.sold_out = e[8].integer == 1;
  if (e[9].integer > 0) i.sale_starts_at_ms = e[9].integer;
  i.dropped = e[10].integer;
  co_return Result<LineInfo>{Outcome::kOk, i};
}

std::optional<std::string> QueueService::VerifyAdmission(std::string_view token,
                                                         std::string_view user,
                                                         std::int64_t product_id) const {
  // Signature only: Redis time decides expiry (reserve.lua), never this server's clock.
  return codec_.Verify(token, user, product_id, std::nullopt);
}

}  // namespace ticketing::queue
