#include "abuse/pow.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <array>
#include <charconv>
#include <memory>
#include <stdexcept>

#include "auth/jwt.hpp"

namespace ticketing::abuse {
namespace {

int LeadingZeroBits(const unsigned char* d, std::size_t n) {
  int bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (d[i] == 0) {
      bits += 8;
      continue;
    }
    for (unsigned char m = 0x80; m && !(d[i] & m); m >>= 1) ++bits;
    break;
  }
  return bits;
}

bool Digits(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

bool PowSolves(std::string_view challenge, std::string_view nonce, int difficulty) {
  if (difficulty <= 0) return true;
  std::string data;
  data.reserve(challenge.size() + nonce.size());
  data.append(challenge).append(nonce);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return LeadingZeroBits(digest, sizeof digest) >= difficulty;
}

std::string SolvePow(std::string_view challenge, int difficulty, std::uint64_t from) {
  // The challenge is hashed once; each try copies that state and adds only the nonce.
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> base(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!base || !ctx || EVP_DigestInit_ex(base.get(), EVP_sha256(), nullptr) != 1 ||
      EVP_DigestUpdate(base.get(), challenge.data(), challenge.size()) != 1) {
    throw std::runtime_error("SHA-256 init failed");
  }
  std::array<char, 24> buf{};
  for (std::uint64_t n = from;; ++n) {
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), n);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX_copy_ex(ctx.get(), base.get());
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(end - buf.data()));
    EVP_DigestFinal_ex(ctx.get(), digest, &len);
    if (LeadingZeroBits(digest, len) >= difficulty) return std::string(buf.data(), end);
  }
}

PowCodec::PowCodec(std::string_view secret)
    // A key of its own, so a challenge MAC never passes for a JWT or an admission token.
    : key_(auth::HmacSha256(secret, "ticketing/pow/v1")) {}

std::string PowCodec::Mac(std::int64_t product_id, std::string_view user, std::string_view expires,
                          std::string_view difficulty, std::string_view id) const {
  std::string data = std::to_string(product_id);
  data.push_back('\n');
  data.append(user).push_back('\n');
  data.append(expires).push_back('\n');
  data.append(difficulty).push_back('\n');
  data.append(id);
  return auth::HmacSha256(key_, data);
}

std::string PowCodec::Issue(std::int64_t product_id, std::string_view user,
                            std::int64_t expires_at_ms, int difficulty) const {
  const std::string id = auth::RandomHex(8);
  const std::string exp = std::to_string(expires_at_ms);
  const std::string diff = std::to_string(difficulty);
  std::string out = std::to_string(product_id);
  out.append(".").append(exp).append(".").append(diff).append(".").append(id).append(".");
  out += auth::Base64UrlEncode(Mac(product_id, user, exp, diff, id));
  return out;
}

std::optional<PowProof> PowCodec::Verify(std::string_view challenge, std::string_view nonce,
                                         std::string_view user, std::int64_t product_id) const {
  if (challenge.size() > 200 || !Digits(nonce, 20)) return std::nullopt;
  std::array<std::string_view, 5> part;
  std::string_view rest = challenge;
  for (std::size_t i = 0; i < part.size(); ++i) {
    const auto dot = rest.find('.');
    if ((dot == std::string_view::npos) != (i == part.size() - 1)) return std::nullopt;
    part[i] = rest.substr(0, dot);
    if (part[i].empty()) return std::nullopt;
    if (dot != std::string_view::npos) rest.remove_prefix(dot + 1);
  }
  if (part[0] != std::to_string(product_id) || !Digits(part[1], 16) || !Digits(part[2], 2) ||
      part[3].size() != 16) {
    return std::nullopt;
  }
  auto mac = auth::Base64UrlDecode(part[4]);
  if (!mac || !auth::SafeEqual(*mac, Mac(product_id, user, part[1], part[2], part[3]))) {
    return std::nullopt;
  }
  PowProof p;
  p.id = std::string(part[3]);
  std::from_chars(part[1].data(), part[1].data() + part[1].size(), p.expires_at_ms);
  std::from_chars(part[2].data(), part[2].data() + part[2].size(), p.difficulty);
  if (p.difficulty > kMaxPowDifficulty) return std::nullopt;
  // The MAC first: only a genuine challenge costs a hash.
  if (!PowSolves(challenge, nonce, p.difficulty)) return std::nullopt;
  return p;
}

}  // namespace ticketing::abuse
