#pragma once
// Rate limits shared by every server (GCRA in Redis, see README.md) and the client address
// they are counted by. One Guard per I/O thread (it uses that thread's Redis connection).
#include <array>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "abuse/pow.hpp"
#include "config/config.hpp"
#include "purchase/service.hpp"

namespace ticketing::abuse {

namespace net = boost::asio;

enum class Action { kReserve, kConfirm, kJoin };
inline constexpr std::size_t kActions = 3;

// One limit as the scripts take it: the emission interval (µs between requests on average)
// and the tolerance (how far ahead of that schedule a burst may run: interval x (burst-1)).
struct Rule {
  std::int64_t emission_us = 0;  // 0: off
  std::int64_t tolerance_us = 0;
  std::string emission, tolerance;  // the same as script arguments
  bool on() const { return emission_us > 0; }
  static Rule From(const config::RateLimit& limit);
};

// Which peers' X-Forwarded-For is believed.
class TrustedProxies {
 public:
  // Addresses or CIDR blocks (validated by config::Load); throws std::invalid_argument.
  explicit TrustedProxies(const std::vector<std::string>& specs = {});
  bool Contains(const net::ip::address& a) const;
  // The client's address: the TCP peer's, or, when the peer is a trusted proxy, the right-most
  // address in X-Forwarded-For that is not itself a trusted proxy (entries left of it could be
  // made up by the client). A malformed entry ends the walk at the hop before it.
  std::string ClientAddress(const net::ip::address& peer, std::string_view forwarded_for) const;

 private:
  std::vector<net::ip::network_v4> v4_;
  std::vector<net::ip::network_v6> v6_;
};

struct Options {
  std::array<Rule, kActions> buyer, address;  // by Action
  TrustedProxies trusted;
  std::chrono::seconds pow_lifetime{120};
  static Options From(const config::Config& c);
};

class Guard {
 public:
  Guard(const Options& options, const PowCodec& pow) : options_(options), pow_(pow) {}

  // Whether `a` is limited per client address (only then is the address worth working out).
  bool NeedsAddress(Action a) const { return options_.address[static_cast<int>(a)].on(); }
  std::string ClientAddress(const net::ip::address& peer, std::string_view forwarded_for) const {
    return options_.trusted.ClientAddress(peer, forwarded_for);
  }
  // The limits on `a` for `user` on the product, and per `address` when that limit is on
  // ("" skips it). Keys "{p:ID}:rl:<action>:b:<user>" / ":a:<address>": in the product's slot,
  // so they fold into the product's own scripts.
  purchase::RateChecks Checks(Action a, std::int64_t product_id, std::string_view user,
                              std::string_view address) const;

  const PowCodec& pow() const { return pow_; }
  std::chrono::seconds pow_lifetime() const { return options_.pow_lifetime; }

 private:
  const Options& options_;
  const PowCodec& pow_;
};

}  // namespace ticketing::abuse
