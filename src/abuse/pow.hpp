#pragma once
// Proof of work on queue join. A challenge is
//   "<productId>.<expiresAtMs>.<difficulty>.<id>.<base64url HMAC-SHA256>"
// with the MAC over product, buyer, expiry, difficulty and the random id under a key derived
// from the server secret, so a challenge is good for one buyer and one product only. The
// client finds a decimal nonce such that SHA-256(challenge || nonce) starts with `difficulty`
// zero bits; checking that takes one hash. Whether the challenge is still fresh and unused is
// decided by Redis (join.lua: its TIME, and SET NX on the id), never by a server's clock.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketing::abuse {

inline constexpr int kMaxPowDifficulty = 32;

// SHA-256(challenge || nonce) has at least `difficulty` leading zero bits.
bool PowSolves(std::string_view challenge, std::string_view nonce, int difficulty);
// The smallest nonce (decimal, from `from`) that solves the challenge (for clients and tests).
std::string SolvePow(std::string_view challenge, int difficulty, std::uint64_t from = 0);

// What a verified solution proves, for join.lua.
struct PowProof {
  std::string id;  // the challenge's random id (marked used in Redis)
  std::int64_t expires_at_ms = 0;
  int difficulty = 0;
};

class PowCodec {
 public:
  explicit PowCodec(std::string_view secret);

  // A fresh challenge with a random id.
  std::string Issue(std::int64_t product_id, std::string_view user, std::int64_t expires_at_ms,
                    int difficulty) const;
  // The proof if `challenge` is well formed, was issued by this server's secret for this buyer
  // and product, and `nonce` (1-20 digits) solves it; nullopt otherwise. Constant-time MAC check.
  std::optional<PowProof> Verify(std::string_view challenge, std::string_view nonce,
                                 std::string_view user, std::int64_t product_id) const;

 private:
  std::string Mac(std::int64_t product_id, std::string_view user, std::string_view expires,
                  std::string_view difficulty, std::string_view id) const;
  std::string key_;
};

}  // namespace ticketing::abuse
