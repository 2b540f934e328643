#pragma once
// Redis key layout. Every key of product P carries the hash tag {p:P}, so one script touches
// one cluster slot.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ticketing::purchase::keys {

inline std::string Prefix(std::int64_t product_id) {
  return "{p:" + std::to_string(product_id) + "}";
}
// a + b + c in one allocation (at most).
inline std::string Concat(std::string_view a, std::string_view b, std::string_view c = {}) {
  std::string out;
  out.reserve(a.size() + b.size() + c.size());
  out.append(a).append(b).append(c);
  return out;
}
inline std::string Info(const std::string& prefix) { return prefix + ":info"; }
inline std::string Available(const std::string& prefix) { return prefix + ":avail"; }
inline std::string Expiry(const std::string& prefix) { return prefix + ":exp"; }
inline std::string Hold(const std::string& prefix, std::string_view rid) {
  return Concat(prefix, ":h:", rid);
}
// Redis Cluster: the run id of the node this product was last rebuilt on (rebuild.hpp).
inline std::string Epoch(const std::string& prefix) { return prefix + ":epoch"; }
inline std::string User(const std::string& prefix, std::string_view user) {
  return Concat(prefix, ":u:", user);
}
// Set of product ids the sweepers visit (not tagged: used on its own).
inline constexpr std::string_view kProducts = "ticketing:products";

// Reservation ids are "<productId>-<32 hex digits of randomness>": the product travels with the
// id, so confirm and cancel find the right keys (and cluster slot) from the id alone.
std::string NewReservationId(std::int64_t product_id);
// The product id of a well-formed reservation id.
std::optional<std::int64_t> ParseReservationId(std::string_view rid);

// Reservation ids that only their buyer can use: of the 32 hex digits, 20 are random and 12 an
// HMAC-SHA256 over the product, the random part and the buyer under a server key. A made-up or
// another buyer's id is refused without asking Redis or the database (a random id must not
// cost a database query).
class SignedIds {
 public:
  explicit SignedIds(std::string key) : key_(std::move(key)) {}
  std::string New(std::int64_t product_id, std::string_view user) const;
  // The product id if `rid` is well formed and was made for `user` under this key.
  std::optional<std::int64_t> Verify(std::string_view rid, std::string_view user) const;

 private:
  std::string Mac(std::string_view head, std::string_view user) const;
  std::string key_;
};

}  // namespace ticketing::purchase::keys
