#include "auth/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>

namespace ticketing::auth {

namespace json = boost::json;

std::string Base64UrlEncode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    else if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::string in(text);
  for (char& c : in) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/' || c == '=') return std::nullopt;
  }
  std::size_t pad = (4 - in.size() % 4) % 4;
  in.append(pad, '=');
  std::string out(in.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

bool SafeEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string JwtCodec::Sign(const Identity& who, std::int64_t exp) const {
  static const std::string kHeader = Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})");
  json::object claims{{"sub", who.user}, {"exp", exp}};
  if (who.admin) claims["role"] = "admin";
  std::string signing = kHeader + "." + Base64UrlEncode(json::serialize(claims));
  return signing + "." + Base64UrlEncode(HmacSha256(secret_, signing));
}

std::optional<Identity> JwtCodec::Verify(std::string_view token, std::int64_t now) const {
  if (token.size() > 4096) return std::nullopt;
  auto d1 = token.find('.');
  if (d1 == std::string_view::npos) return std::nullopt;
  auto d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  auto sig = Base64UrlDecode(token.substr(d2 + 1));
  if (!sig || !SafeEqual(*sig, HmacSha256(secret_, token.substr(0, d2)))) return std::nullopt;

  auto header_text = Base64UrlDecode(token.substr(0, d1));
  auto claims_text = Base64UrlDecode(token.substr(d1 + 1, d2 - d1 - 1));
  if (!header_text || !claims_text) return std::nullopt;
  boost::system::error_code ec;
  json::value header = json::parse(*header_text, ec);
  if (ec || !header.is_object()) return std::nullopt;
  auto* alg = header.as_object().if_contains("alg");
  if (!alg || !alg->is_string() || alg->as_string() != "HS256") return std::nullopt;
  json::value claims = json::parse(*claims_text, ec);
  if (ec || !claims.is_object()) return std::nullopt;
  const auto& obj = claims.as_object();
  auto* sub = obj.if_contains("sub");
  auto* exp = obj.if_contains("exp");
  if (!sub || !sub->is_string() || sub->as_string().empty() || sub->as_string().size() > 128) {
    return std::nullopt;
  }
  if (!exp) return std::nullopt;
  double exp_value = 0;
  if (exp->is_int64()) exp_value = static_cast<double>(exp->as_int64());
  else if (exp->is_uint64()) exp_value = static_cast<double>(exp->as_uint64());
  else if (exp->is_double()) exp_value = exp->as_double();
  else return std::nullopt;
  if (exp_value <= static_cast<double>(now)) return std::nullopt;
  Identity who;
  who.user = std::string(sub->as_string());
  if (auto* role = obj.if_contains("role"); role && role->is_string()) {
    who.admin = role->as_string() == "admin";
  }
  return who;
}

}  // namespace ticketing::auth
