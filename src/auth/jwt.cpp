#include "auth/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <boost/json.hpp>

#include <array>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

namespace ticketing::auth {

namespace json = boost::json;

std::string RandomHex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes);
  for (unsigned char b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::size_t Base64UrlEncodeTo(std::string_view data, char* out) {
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out),
                          reinterpret_cast<const unsigned char*>(data.data()),
                          static_cast<int>(data.size()));
  auto len = static_cast<std::size_t>(n);
  while (len > 0 && out[len - 1] == '=') --len;
  for (std::size_t i = 0; i < len; ++i) {
    if (out[i] == '+') out[i] = '-';
    else if (out[i] == '/') out[i] = '_';
  }
  return len;
}

std::string Base64UrlEncode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  out.resize(Base64UrlEncodeTo(data, out.data()));
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

Sha256Mac HmacSha256Raw(std::string_view key, std::string_view data) {
  EVP_MAC_CTX* ctx = KeyedContext(key);
  Sha256Mac out;
  size_t len = 0;
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) != 1 ||
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx, out.data(), &len, out.size()) != 1 || len != out.size()) {
    throw std::runtime_error("HMAC-SHA256 failed");
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  const Sha256Mac mac = HmacSha256Raw(key, data);
  return std::string(reinterpret_cast<const char*>(mac.data()), mac.size());
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

namespace {

constexpr std::string_view kHs256Header = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";  // Sign's header

// Strict base64url without padding into `out` (room for in.size() * 3 / 4 + 3 bytes): the
// decoded size, or nullopt for any other character or an impossible length. Decodes the same
// bytes as Base64UrlDecode for every input it accepts; Verify falls back to Base64UrlDecode
// for the rest, so what is accepted does not change.
std::optional<std::size_t> DecodeStrict(std::string_view in, unsigned char* out) {
  static constexpr auto kTable = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    for (int i = 0; i < 26; ++i) {
      t['A' + i] = static_cast<signed char>(i);
      t['a' + i] = static_cast<signed char>(26 + i);
    }
    for (int i = 0; i < 10; ++i) t['0' + i] = static_cast<signed char>(52 + i);
    t['-'] = 62;
    t['_'] = 63;
    return t;
  }();
  if (in.size() % 4 == 1) return std::nullopt;
  std::size_t n = 0;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    const int v = kTable[c];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = static_cast<unsigned char>(acc >> bits);
    }
  }
  return n;
}

// A segment decoded into `buf` by DecodeStrict, or else by Base64UrlDecode into `slow`.
std::optional<std::string_view> Decode(std::string_view in, unsigned char* buf,
                                       std::optional<std::string>& slow) {
  if (auto n = DecodeStrict(in, buf)) {
    return std::string_view(reinterpret_cast<const char*>(buf), *n);
  }
  slow = Base64UrlDecode(in);
  if (!slow) return std::nullopt;
  return std::string_view(*slow);
}

// Equality in time that depends only on the length, a word at a time (CRYPTO_memcmp goes byte
// by byte, which is most of a cache hit's cost for a token-sized string).
bool EqualInConstantTime(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  std::uint64_t diff = 0;
  std::size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    diff |= x ^ y;
  }
  for (; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

std::optional<Identity> JwtCodec::Verify(std::string_view token, std::int64_t now) const {
  auto v = VerifyToken(token, now);
  if (!v) return std::nullopt;
  return std::move(v->who);
}

std::optional<JwtCodec::Verified> JwtCodec::VerifyToken(std::string_view token,
                                                       std::int64_t now) const {
  if (token.size() > 4096) return std::nullopt;
  auto d1 = token.find('.');
  if (d1 == std::string_view::npos) return std::nullopt;
  auto d2 = token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  // The signature as text, not decoded: base64url leaves 2 bits of the last character unused, so
  // a decoded comparison would also accept 3 other spellings of every token.
  const Sha256Mac mac = HmacSha256Raw(secret_, token.substr(0, d2));
  char signature[4 * ((sizeof mac + 2) / 3) + 1];
  const std::size_t signature_size = Base64UrlEncodeTo(
      std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()), signature);
  if (!SafeEqual(token.substr(d2 + 1), std::string_view(signature, signature_size))) {
    return std::nullopt;
  }

  // Decoded segments go to stack buffers (a token has at most 4096 characters).
  unsigned char text_buf[3075];
  std::optional<std::string> slow;
  boost::system::error_code ec;
  // Claims and header are parsed into a stack arena: no heap allocation for a usual token.
  unsigned char arena[2048];
  if (token.substr(0, d1) != kHs256Header) {  // the header every token of ours carries
    auto header_text = Decode(token.substr(0, d1), text_buf, slow);
    if (!header_text) return std::nullopt;
    json::monotonic_resource header_mr(arena, sizeof arena);
    json::value header = json::parse(*header_text, ec, &header_mr);
    if (ec || !header.is_object()) return std::nullopt;
    auto* alg = header.as_object().if_contains("alg");
    if (!alg || !alg->is_string() || alg->as_string() != "HS256") return std::nullopt;
  }
  auto claims_text = Decode(token.substr(d1 + 1, d2 - d1 - 1), text_buf, slow);
  if (!claims_text) return std::nullopt;
  json::monotonic_resource mr(arena, sizeof arena);
  json::value claims = json::parse(*claims_text, ec, &mr);
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
  // Written so that NaN is refused too (Boost.JSON 1.81 reads 0e400 as NaN).
  if (!(exp_value > static_cast<double>(now))) return std::nullopt;
  Verified v;
  v.exp = exp_value;
  v.who.user = std::string(sub->as_string());
  if (auto* role = obj.if_contains("role"); role && role->is_string()) {
    v.who.admin = role->as_string() == "admin";
  }
  return v;
}

TokenCache::TokenCache(const JwtCodec& jwt, std::size_t slots) : jwt_(jwt) {
  std::size_t n = 1;
  while (n < slots) n *= 2;
  slots_.resize(n);
}

const Identity* TokenCache::Verify(std::string_view token, std::int64_t now) {
  if (token.empty()) return nullptr;
  // The signature's last characters are as good a hash as any, and cheaper than the whole.
  const std::string_view tail = token.substr(token.size() > 16 ? token.size() - 16 : 0);
  Entry& e = slots_[std::hash<std::string_view>{}(tail) & (slots_.size() - 1)];
  if (!e.token.empty() && EqualInConstantTime(e.token, token)) {
    if (e.exp > static_cast<double>(now)) return &e.who;
    e.token.clear();  // expired: Verify would refuse it too
    return nullptr;
  }
  auto v = jwt_.VerifyToken(token, now);
  if (!v) return nullptr;
  e.token.assign(token);
  e.who = std::move(v->who);
  e.exp = v->exp;
  return &e.who;
}

}  // namespace ticketing::auth
