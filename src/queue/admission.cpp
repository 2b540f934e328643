#include "queue/admission.hpp"

#include <charconv>

#include "auth/jwt.hpp"

namespace ticketing::queue {

AdmissionCodec::AdmissionCodec(std::string_view secret)
    // A key of its own, so an admission MAC can never pass for a JWT signature or back.
    : key_(auth::HmacSha256(secret, "ticketing/admission/v1")) {}

std::string AdmissionCodec::Mac(std::int64_t product_id, std::string_view user,
                                std::string_view ticket, std::string_view expires) const {
  std::string data = std::to_string(product_id);
  data.push_back('\n');
  data.append(user).push_back('\n');
  data.append(ticket).push_back('\n');
  data.append(expires);
  return auth::HmacSha256(key_, data);
}

std::string AdmissionCodec::Sign(std::int64_t product_id, std::string_view user,
                                 std::string_view ticket, std::int64_t expires_at_ms) const {
  const std::string exp = std::to_string(expires_at_ms);
  std::string out(ticket);
  out.push_back('.');
  out += exp;
  out.push_back('.');
  out += auth::Base64UrlEncode(Mac(product_id, user, ticket, exp));
  return out;
}

std::optional<std::string> AdmissionCodec::Verify(std::string_view token, std::string_view user,
                                                  std::int64_t product_id,
                                                  std::optional<std::int64_t> now_ms) const {
  if (token.size() > 256) return std::nullopt;
  const auto d1 = token.find('.');
  if (d1 == 0 || d1 == std::string_view::npos) return std::nullopt;
  const auto d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  const auto ticket = token.substr(0, d1);
  const auto exp_text = token.substr(d1 + 1, d2 - d1 - 1);
  std::int64_t exp = 0;
  auto [p, ec] = std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp);
  if (ec != std::errc() || p != exp_text.data() + exp_text.size()) return std::nullopt;
  // The MAC as text, as Sign writes it (decoding would accept other spellings of the last
  // character, whose low 2 bits base64url leaves unused).
  if (!auth::SafeEqual(token.substr(d2 + 1),
                       auth::Base64UrlEncode(Mac(product_id, user, ticket, exp_text)))) {
    return std::nullopt;
  }
  if (now_ms && exp <= *now_ms) return std::nullopt;
  return std::string(ticket);
}

}  // namespace ticketing::queue
