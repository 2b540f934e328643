// Api's abuse-defence steps (rate limits, proof of work on queue join) and the listener split:
// kept apart from api.cpp's routing so that each reads on its own.
#include "http/api_abuse.hpp"

#include "http/fields.hpp"

#include <boost/json.hpp>

#include "common/iso_time.hpp"
#include "http/api.hpp"
#include "http/response.hpp"
#include "metrics/metrics.hpp"

namespace ticketing::http {

namespace json = boost::json;
using purchase::Outcome;

Response RateLimited(std::int64_t retry_after_ms) {
  const std::int64_t seconds = std::max<std::int64_t>(1, (retry_after_ms + 999) / 1000);
  auto res =
      Error(429, "RATE_LIMITED", "too many requests; retry in " + std::to_string(seconds) + " s");
  res.set(bhttp::field::retry_after, std::to_string(seconds));
  return res;
}

bool Serves(Listener listener, std::string_view target) {
  if (listener == Listener::kAll) return true;
  // The first path segment as the router sees it (Api splits on '/' and skips empty segments,
  // so "//admin/x" and "admin/x" are admin routes too).
  std::string_view path = target.substr(0, target.find('?'));
  const auto from = path.find_first_not_of('/');
  const std::string_view first = from == std::string_view::npos
                                     ? std::string_view()
                                     : path.substr(from, path.find('/', from) - from);
  const bool admin = first == "admin";
  if (listener == Listener::kPublic) return !admin;
  if (admin) return true;
  const bool one_segment =
      from != std::string_view::npos &&
      path.find_first_not_of('/', from + first.size()) == std::string_view::npos;
  // The pages' assets too, so the dashboard loads from the admin listener (they are public).
  if (first == "assets") return true;
  return one_segment && (first == "health" || first == "ready" || first == "metrics");
}

Response NotServed(std::string_view path) {
  return Error(404, "NOT_FOUND", "no route for " + std::string(path));
}

purchase::RateChecks Api::Limits(abuse::Action action, const auth::Identity& who,
                                 std::int64_t product_id, const Request& req,
                                 const net::ip::address& peer) const {
  if (!guard_ || who.admin) return {};
  std::string address;
  if (guard_->NeedsAddress(action)) {
    address = guard_->ClientAddress(peer, FieldOf(req, "X-Forwarded-For"));
  }
  return guard_->Checks(action, product_id, who.user, address);
}

net::awaitable<purchase::Result<queue::Place>> Api::Join(auth::Identity who,
                                                         std::int64_t product_id,
                                                         const Request& req,
                                                         const net::ip::address& peer,
                                                         std::optional<Response>& refused) {
  using Result = purchase::Result<queue::Place>;
  auto limits = Limits(abuse::Action::kJoin, who, product_id, req, peer);
  // The proof's MAC and hash are checked here (microseconds, no I/O); whether it is hard
  // enough, fresh by Redis time and unused, join.lua decides together with the join.
  queue::JoinProof proof;
  bool invalid = false;
  const auto challenge = FieldOf(req, "X-Pow-Challenge");
  const auto nonce = FieldOf(req, "X-Pow-Nonce");
  if (guard_ && (!challenge.empty() || !nonce.empty())) {
    if (auto p = guard_->pow().Verify(challenge, nonce, who.user, product_id)) {
      proof = {std::move(p->id), p->expires_at_ms, p->difficulty};
    } else {
      invalid = true;
    }
  }
  auto r = co_await queue_->JoinWithProof(who.user, product_id, std::move(proof),
                                          std::move(limits));
  if (r.outcome == Outcome::kRateLimited) {
    metrics::Registry::Get().Count(metrics::Event::kRateLimited);
    refused = RateLimited(r.value.retry_after_ms);
    co_return Result{};
  }
  if (r.outcome != Outcome::kPowRequired && r.outcome != Outcome::kPowExpired &&
      r.outcome != Outcome::kPowReplayed) {
    co_return r;
  }
  metrics::Registry::Get().Count(metrics::Event::kPowRefused);
  if (!guard_) {
    refused = Error(503, "UNAVAILABLE", "proof of work is not set up on this server");
    co_return Result{};
  }
  std::string_view code = "POW_REQUIRED";
  std::string_view message =
      "this line asks for a proof of work: find a decimal nonce such that SHA-256(challenge + "
      "nonce) starts with `difficulty` zero bits, and join again with headers X-Pow-Challenge "
      "and X-Pow-Nonce";
  if (invalid) {
    code = "POW_INVALID";
    message = "the proof of work is not a solution of a challenge issued to you for this product";
  } else if (r.outcome == Outcome::kPowExpired) {
    code = "POW_EXPIRED";
    message = "the challenge expired; solve the fresh one";
  } else if (r.outcome == Outcome::kPowReplayed) {
    code = "POW_REPLAYED";
    message = "this challenge was used already; solve the fresh one";
  }
  const std::int64_t expires = r.value.now_ms + guard_->pow_lifetime().count() * 1000;
  json::object body{
      {"error", {{"code", code}, {"message", message}}},
      {"challenge", guard_->pow().Issue(product_id, who.user, expires, r.value.pow_difficulty)},
      {"difficulty", r.value.pow_difficulty},
      {"expiresAt", FormatIsoUtcMs(expires)}};
  refused = Json(428, body);
  co_return Result{};
}

}  // namespace ticketing::http
