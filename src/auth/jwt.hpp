#pragma once
// HS256 JSON Web Tokens (RFC 7519) with OpenSSL's HMAC, for buyer and admin identity.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ticketing::auth {

struct Identity {
  std::string user;  // the `sub` claim
  bool admin = false;  // `"role":"admin"`
};

// base64url without padding (RFC 4648 §5), via OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock.
std::string Base64UrlEncode(std::string_view data);
// The same into `out`, which has room for 4 * ((data.size() + 2) / 3) + 1 characters; returns
// how many it wrote.
std::size_t Base64UrlEncodeTo(std::string_view data, char* out);
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);
// The same in an array (no allocation, for the per-request callers).
using Sha256Mac = std::array<unsigned char, 32>;
Sha256Mac HmacSha256Raw(std::string_view key, std::string_view data);

// `bytes` random bytes from OpenSSL's CSPRNG as lowercase hex (2 x bytes characters).
std::string RandomHex(std::size_t bytes);

// Constant-time equality of two byte strings.
bool SafeEqual(std::string_view a, std::string_view b);

class JwtCodec {
 public:
  explicit JwtCodec(std::string secret) : secret_(std::move(secret)) {}

  // A signed token for `who`, expiring at unix time `exp`.
  std::string Sign(const Identity& who, std::int64_t exp) const;

  // The identity of a well-formed HS256 token with a valid signature, a non-empty string `sub`
  // and an `exp` later than `now` (unix seconds); nullopt for anything else.
  std::optional<Identity> Verify(std::string_view token, std::int64_t now) const;

  struct Verified {
    Identity who;
    double exp = 0;  // the `exp` claim as a number (it may be fractional)
  };
  // Verify, also giving the token's `exp` (for TokenCache).
  std::optional<Verified> VerifyToken(std::string_view token, std::int64_t now) const;

 private:
  std::string secret_;
};

// Tokens this thread verified lately, so that a buyer's next request (on a keep-alive
// connection, or another connection of the same browser) skips the HMAC and the claims parse.
// An entry is keyed by the exact token text (compared in constant time) and answers only while
// the token's `exp` is later than `now`; anything not found is verified afresh by the codec and
// remembered only if valid. Direct-mapped: a new token may evict another. Not thread-safe: one
// per I/O thread.
class TokenCache {
 public:
  explicit TokenCache(const JwtCodec& jwt, std::size_t slots = 4096);

  // The same answer as jwt.Verify(token, now); the pointer stays valid until the next call.
  const Identity* Verify(std::string_view token, std::int64_t now);

 private:
  struct Entry {
    std::string token;  // empty: unused
    Identity who;
    double exp = 0;
  };
  const JwtCodec& jwt_;
  std::vector<Entry> slots_;  // a power of two
};

}  // namespace ticketing::auth
