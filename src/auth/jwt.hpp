#pragma once
// HS256 JSON Web Tokens (RFC 7519) with OpenSSL's HMAC, for buyer and admin identity.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketing::auth {

struct Identity {
  std::string user;  // the `sub` claim
  bool admin = false;  // `"role":"admin"`
};

// base64url without padding (RFC 4648 §5), via OpenSSL's EVP_EncodeBlock/EVP_DecodeBlock.
std::string Base64UrlEncode(std::string_view data);
std::optional<std::string> Base64UrlDecode(std::string_view text);

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

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

 private:
  std::string secret_;
};

}  // namespace ticketing::auth
