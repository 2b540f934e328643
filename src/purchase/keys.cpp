#include "purchase/keys.hpp"

#include "auth/jwt.hpp"

#include <openssl/rand.h>

#include <charconv>
#include <cstring>
#include <stdexcept>

namespace ticketing::purchase::keys {

std::string NewReservationId(std::int64_t product_id) {
  // OpenSSL's CSPRNG in 4 KiB draws, one per 256 ids, instead of a call (and its locking) per
  // id. The buffer is this thread's, and every byte is used once.
  thread_local unsigned char pool[4096];
  thread_local std::size_t used = sizeof pool;
  unsigned char bytes[16];
  if (used + sizeof bytes > sizeof pool) {
    if (RAND_bytes(pool, sizeof pool) != 1) throw std::runtime_error("RAND_bytes failed");
    used = 0;
  }
  std::memcpy(bytes, pool + used, sizeof bytes);
  used += sizeof bytes;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(20 + 1 + 2 * sizeof bytes);
  out.append(std::to_string(product_id)).push_back('-');
  for (unsigned char b : bytes) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::optional<std::int64_t> ParseReservationId(std::string_view rid) {
  auto dash = rid.find('-');
  if (dash == 0 || dash == std::string_view::npos || dash > 19) return std::nullopt;
  std::string_view hex = rid.substr(dash + 1);
  if (hex.size() != 32) return std::nullopt;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(rid.data(), rid.data() + dash, id);
  if (ec != std::errc() || p != rid.data() + dash || id <= 0) return std::nullopt;
  return id;
}

namespace {
constexpr std::size_t kRandomHex = 20;
constexpr std::size_t kMacHex = 12;
}  // namespace

std::string SignedIds::Mac(std::string_view head, std::string_view user) const {
  const auth::Sha256Mac raw = auth::HmacSha256Raw(key_, Concat(head, "|", user));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(kMacHex);
  for (std::size_t i = 0; i < kMacHex / 2; ++i) {
    const auto b = static_cast<unsigned char>(raw[i]);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string SignedIds::New(std::int64_t product_id, std::string_view user) const {
  std::string rid = NewReservationId(product_id);
  rid.resize(rid.size() - kMacHex);  // "<id>-<20 random hex>"
  rid += Mac(rid, user);
  return rid;
}

std::optional<std::int64_t> SignedIds::Verify(std::string_view rid, std::string_view user) const {
  auto product_id = ParseReservationId(rid);
  if (!product_id) return std::nullopt;
  const std::string_view head = rid.substr(0, rid.size() - kMacHex);
  if (!auth::SafeEqual(Mac(head, user), rid.substr(rid.size() - kMacHex))) return std::nullopt;
  static_assert(kRandomHex + kMacHex == 32);
  return product_id;
}

}  // namespace ticketing::purchase::keys
