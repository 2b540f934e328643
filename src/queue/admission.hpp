#pragma once
// Admission tokens: "<ticket>.<expiresAtMs>.<base64url HMAC-SHA256>", the MAC over product,
// buyer, ticket and expiry under a key derived from the server secret. Bound to one buyer and
// one product; whether one is still unused is Redis' business (the reserve script).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketing::queue {

class AdmissionCodec {
 public:
  explicit AdmissionCodec(std::string_view secret);

  std::string Sign(std::int64_t product_id, std::string_view user, std::string_view ticket,
                   std::int64_t expires_at_ms) const;
  // The ticket if `token` is well formed, its MAC matches this buyer and product, and (when
  // `now_ms` is given) it expires after `now_ms`; nullopt otherwise. The server checks only the
  // MAC: no server's clock decides whether an admission ran out — reserve.lua compares the
  // ticket's admission end with Redis TIME.
  std::optional<std::string> Verify(std::string_view token, std::string_view user,
                                    std::int64_t product_id,
                                    std::optional<std::int64_t> now_ms) const;

 private:
  std::string Mac(std::int64_t product_id, std::string_view user, std::string_view ticket,
                  std::string_view expires) const;
  std::string key_;
};

}  // namespace ticketing::queue
