#include "abuse/guard.hpp"

#include <cmath>
#include <stdexcept>

#include "purchase/keys.hpp"

namespace ticketing::abuse {
namespace {

constexpr std::array<std::string_view, kActions> kActionKeys = {
    ":rl:reserve:", ":rl:confirm:", ":rl:join:"};

net::ip::address Normal(const net::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Rule Rule::From(const config::RateLimit& limit) {
  Rule r;
  if (!limit.on()) return r;
  r.emission_us = std::max<std::int64_t>(1, std::llround(1e6 / limit.per_second));
  r.tolerance_us = r.emission_us * (std::max(1, limit.burst) - 1);
  r.emission = std::to_string(r.emission_us);
  r.tolerance = std::to_string(r.tolerance_us);
  return r;
}

TrustedProxies::TrustedProxies(const std::vector<std::string>& specs) {
  for (const auto& s : specs) {
    boost::system::error_code ec;
    if (s.find('/') == std::string::npos) {
      auto a = Normal(net::ip::make_address(s, ec));
      if (ec) throw std::invalid_argument("trusted proxy: " + s);
      if (a.is_v4())
        v4_.emplace_back(a.to_v4(), 32);
      else
        v6_.emplace_back(a.to_v6(), 128);
      continue;
    }
    auto n4 = net::ip::make_network_v4(s, ec);
    if (!ec) {
      v4_.push_back(n4.canonical());
      continue;
    }
    ec.clear();
    auto n6 = net::ip::make_network_v6(s, ec);
    if (ec) throw std::invalid_argument("trusted proxy: " + s);
    v6_.push_back(n6.canonical());
  }
}

bool TrustedProxies::Contains(const net::ip::address& address) const {
  const auto a = Normal(address);
  if (a.is_v4()) {
    for (const auto& n : v4_) {
      if (net::ip::network_v4(a.to_v4(), n.prefix_length()).canonical() == n) return true;
    }
    return false;
  }
  for (const auto& n : v6_) {
    if (net::ip::network_v6(a.to_v6(), n.prefix_length()).canonical() == n) return true;
  }
  return false;
}

std::string TrustedProxies::ClientAddress(const net::ip::address& peer,
                                          std::string_view forwarded_for) const {
  net::ip::address client = Normal(peer);
  if ((v4_.empty() && v6_.empty()) || forwarded_for.empty() || !Contains(client)) {
    return client.to_string();
  }
  // Right to left: each hop we trust vouches for the one before it.
  while (!forwarded_for.empty()) {
    const auto comma = forwarded_for.rfind(',');
    const std::string_view item =
        Trim(comma == std::string_view::npos ? forwarded_for : forwarded_for.substr(comma + 1));
    boost::system::error_code ec;
    auto a = net::ip::make_address(std::string(item), ec);
    if (ec) break;
    client = Normal(a);
    if (!Contains(client)) break;
    if (comma == std::string_view::npos) break;
    forwarded_for = forwarded_for.substr(0, comma);
  }
  return client.to_string();
}

Options Options::From(const config::Config& c) {
  Options o;
  o.buyer = {Rule::From(c.reserve_buyer), Rule::From(c.confirm_buyer), Rule::From(c.join_buyer)};
  o.address = {Rule::From(c.reserve_address), Rule::From(c.confirm_address),
               Rule::From(c.join_address)};
  o.trusted = TrustedProxies(c.trusted_proxies);
  o.pow_lifetime = std::chrono::seconds(c.pow_challenge_seconds);
  return o;
}

purchase::RateChecks Guard::Checks(Action a, std::int64_t product_id, std::string_view user,
                                   std::string_view address) const {
  purchase::RateChecks out;
  const int i = static_cast<int>(a);
  const Rule& by_buyer = options_.buyer[i];
  const Rule& by_address = options_.address[i];
  const bool use_address = by_address.on() && !address.empty();
  if (!by_buyer.on() && !use_address) return out;
  const std::string prefix = purchase::keys::Prefix(product_id);
  out.keys.reserve(2);
  out.specs.reserve(4);
  if (by_buyer.on()) {
    std::string key = prefix;
    key.append(kActionKeys[i]).append("b:").append(user);
    out.keys.push_back(std::move(key));
    out.specs.push_back(by_buyer.emission);
    out.specs.push_back(by_buyer.tolerance);
  }
  if (use_address) {
    std::string key = prefix;
    key.append(kActionKeys[i]).append("a:").append(address);
    out.keys.push_back(std::move(key));
    out.specs.push_back(by_address.emission);
    out.specs.push_back(by_address.tolerance);
  }
  return out;
}

}  // namespace ticketing::abuse
