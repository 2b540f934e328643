#include "purchase/keys.hpp"

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
  std::string out = std::to_string(product_id);
  out.push_back('-');
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

}  // namespace ticketing::purchase::keys
