#pragma once
// The waiting room as seen by the HTTP layer (see README.md). Expected outcomes are
// purchase::Outcome values; infrastructure failures throw ticketing::UnavailableError.
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "purchase/service.hpp"

namespace ticketing::queue {

namespace net = boost::asio;

// A buyer's place in a product's line.
struct Place {
  std::string ticket;
  std::string state;          // waiting|admitted|expired|soldout
  std::int64_t position = 0;  // 1-based while waiting, else 0
  std::int64_t ahead_of_you = 0;
  std::int64_t eta_seconds = 0;
  std::int64_t line_length = 0;
  bool pre_queue = false;  // joined before the sale start: the order is shuffled at the start
  bool used = false;       // admitted, and the admission was used by a reserve
  bool queue_enabled = true;
  std::optional<std::string> admission_token;  // admitted and unused only
  std::int64_t admission_expires_at_ms = 0;
  // kPowRequired / kPowExpired / kPowReplayed: the difficulty the product asks for and Redis'
  // time (a fresh challenge's lifetime counts from it).
  int pow_difficulty = 0;
  std::int64_t now_ms = 0;
  std::int64_t retry_after_ms = 0;  // kRateLimited: when the buyer may try again
};

// A join's solved proof of work (src/abuse/pow.hpp), its MAC and hash already checked; the
// join script checks that it is hard enough, fresh, and unused. Empty id: none presented.
struct JoinProof {
  std::string id;
  std::int64_t expires_at_ms = 0;
  int difficulty = 0;
};

// The public view of a product's line.
struct LineInfo {
  std::int64_t product_id = 0;
  bool enabled = false;
  std::int64_t length = 0;    // waiting
  std::int64_t admitted = 0;  // admitted since the line opened
  std::int64_t active = 0;    // admitted and not yet finished or timed out
  std::int64_t dropped = 0;   // waiters who stopped polling
  int admit_per_second = 0;
  int max_active = 0;
  int admission_ttl_seconds = 0;
  bool sold_out = false;
  std::optional<std::int64_t> sale_starts_at_ms;
};

class Service {
 public:
  virtual ~Service() = default;

  // Puts `user` in the product's line or returns the place they hold. -> kOk,
  // kProductNotFound, kQueueNotEnabled, kQueueFull.
  virtual net::awaitable<purchase::Result<Place>> Join(std::string user,
                                                       std::int64_t product_id) = 0;
  // Join with a proof of work and the buyer's rate limits (src/abuse), checked first in the
  // same Redis call. Also -> kRateLimited (place.retry_after_ms; nothing counted or used),
  // kPowRequired (the product asks for a proof and `proof` is absent or too easy),
  // kPowExpired, kPowReplayed; place.pow_difficulty and place.now_ms are set with those. A
  // proof is used up by the join it lets in.
  virtual net::awaitable<purchase::Result<Place>> JoinWithProof(std::string user,
                                                                std::int64_t product_id,
                                                                JoinProof /*proof*/,
                                                                purchase::RateChecks /*limits*/) {
    return Join(std::move(user), product_id);
  }
  // The caller's place; also marks them as still there (waiters who stop polling are dropped).
  // -> kOk, kProductNotFound, kTicketNotFound (unknown ticket, or another buyer's).
  virtual net::awaitable<purchase::Result<Place>> Status(std::string user, std::int64_t product_id,
                                                         std::string ticket) = 0;
  // -> kOk, kProductNotFound.
  virtual net::awaitable<purchase::Result<LineInfo>> Info(std::int64_t product_id) = 0;
  // The ticket of an admission token genuinely issued for this buyer and product and not yet
  // expired by this server's clock; nullopt for anything else. Whether it is still unused is
  // decided atomically by the reserve.
  virtual std::optional<std::string> VerifyAdmission(std::string_view token, std::string_view user,
                                                     std::int64_t product_id) const = 0;
};

}  // namespace ticketing::queue
