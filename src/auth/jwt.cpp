#include "auth/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

#include <boost/json.hpp>

#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

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

namespace {

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

// This thread's HMAC-SHA256 context for `key`, keyed once. Re-initialising it with a NULL key
// reuses the key's precomputed inner and outer pads, which the one-shot HMAC() recomputes on
// every call (the larger part of the cost for a token-sized message). Few keys are ever used
// (the JWT secret, the admission key), so a short list is enough.
EVP_MAC_CTX* KeyedContext(std::string_view key) {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  thread_local std::vector<std::pair<std::string, MacCtx>> contexts;
  for (auto& [k, ctx] : contexts) {
    if (k == key) return ctx.get();
  }
  if (contexts.size() >= 8) contexts.clear();
  MacCtx ctx(mac ? EVP_MAC_CTX_new(mac) : nullptr);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (!ctx || EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()),
                           key.size(), params) != 1) {
    throw std::runtime_error("HMAC-SHA256 context setup failed");
  }
  contexts.emplace_back(std::string(key), std::move(ctx));
  return contexts.back().second.get();
}

}  // namespace

std::string HmacSha256(std::string_view key, std::string_view data) {
  EVP_MAC_CTX* ctx = KeyedContext(key);
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out, &len, sizeof out) != 1) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return std::string(reinterpret_cast<char*>(out), len);
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
