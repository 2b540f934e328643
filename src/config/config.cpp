#include "config/config.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>

namespace ticketing::config {
namespace {

std::string Trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r");
  return std::string(s.substr(b, e - b + 1));
}

class Reader {
 public:
  explicit Reader(const Lookup& lookup) : lookup_(lookup) {}

  std::optional<std::string> Raw(std::string_view name) const {
    auto v = lookup_(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  }

  std::string String(std::string_view name, std::string def) const {
    auto v = Raw(name);
    return v ? *v : def;
  }

  std::string Required(std::string_view name, std::string_view what) const {
    auto v = Raw(name);
    if (!v) throw ConfigError(std::string(name) + ": required, expected " + std::string(what));
    return *v;
  }

  long long Int(std::string_view name, long long def, long long min, long long max) const {
    auto v = Raw(name);
    if (!v) return def;
    long long out = 0;
    auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
    if (ec != std::errc() || p != v->data() + v->size() || out < min || out > max) {
      throw ConfigError(std::string(name) + ": expected an integer from " + std::to_string(min) +
                        " to " + std::to_string(max) + ", got '" + *v + "'");
    }
    return out;
  }

 private:
  const Lookup& lookup_;
};

// An address or CIDR block ("10.0.0.0/8", "::1").
bool ValidProxy(const std::string& s) {
  boost::system::error_code ec;
  if (s.find('/') == std::string::npos) {
    boost::asio::ip::make_address(s, ec);
    return !ec;
  }
  boost::asio::ip::make_network_v4(s, ec);
  if (!ec) return true;
  ec.clear();
  boost::asio::ip::make_network_v6(s, ec);
  return !ec;
}

}  // namespace

RateLimit ParseRateLimit(std::string_view name, std::string_view text) {
  auto fail = [&]() -> RateLimit {
    throw ConfigError(std::string(name) +
                      ": expected RATE/s[:BURST], RATE/m[:BURST] or off, got '" +
                      std::string(text) + "'");
  };
  if (text == "off" || text == "0") return {};
  auto slash = text.find('/');
  if (slash == std::string_view::npos || slash + 1 >= text.size()) return fail();
  auto number = [](std::string_view s, long long max) -> long long {
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v < 1 || v > max) return -1;
    return v;
  };
  const long long rate = number(text.substr(0, slash), 1'000'000);
  const char unit = text[slash + 1];
  std::string_view rest = text.substr(slash + 2);
  long long burst = 0;
  if (!rest.empty()) {
    if (rest[0] != ':') return fail();
    burst = number(rest.substr(1), 1'000'000);
    if (burst < 0) return fail();
  }
  if (rate < 0 || (unit != 's' && unit != 'm')) return fail();
  RateLimit r;
  r.per_second = unit == 's' ? static_cast<double>(rate) : static_cast<double>(rate) / 60.0;
  r.burst = static_cast<int>(burst > 0 ? burst : rate);
  return r;
}

std::map<std::string, std::string> ParseDotEnv(std::string_view text) {
  std::map<std::string, std::string> out;
  std::istringstream in{std::string(text)};
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.rfind("export ", 0) == 0) t = Trim(t.substr(7));
    auto eq = t.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError(".env line " + std::to_string(n) + ": expected KEY=VALUE");
    }
    std::string key = Trim(t.substr(0, eq));
    std::string value = Trim(t.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    out[key] = value;
  }
  return out;
}

Config Load(const Lookup& lookup) {
  Reader r(lookup);
  Config c;
  c.bind_address = r.String("BIND_ADDRESS", c.bind_address);
  c.port = static_cast<std::uint16_t>(r.Int("PORT", c.port, 1, 65535));
  c.io_threads = static_cast<int>(r.Int("IO_THREADS", 0, 0, 256));

  c.db_host = r.String("DB_HOST", c.db_host);
  c.db_port = static_cast<std::uint16_t>(r.Int("DB_PORT", c.db_port, 1, 65535));
  c.db_username = r.Required("DB_USERNAME", "the database user name");
  c.db_password = r.String("DB_PASSWORD", "");
  c.db_database = r.Required("DB_DATABASE", "the database name");
  c.db_pool_size = static_cast<int>(r.Int("DB_POOL_SIZE", c.db_pool_size, 1, 512));
  c.db_max_waiting = static_cast<int>(r.Int("DB_MAX_WAITING", c.db_max_waiting, 1, 10000000));
  c.db_timeout_seconds = static_cast<int>(r.Int("DB_TIMEOUT_SECONDS", c.db_timeout_seconds, 1, 600));

  c.redis_host = r.String("REDIS_HOST", c.redis_host);
  c.redis_port = static_cast<std::uint16_t>(r.Int("REDIS_PORT", c.redis_port, 1, 65535));
  c.redis_timeout_ms = static_cast<int>(r.Int("REDIS_TIMEOUT_MS", c.redis_timeout_ms, 10, 600000));
  c.redis_max_in_flight =
      static_cast<int>(r.Int("REDIS_MAX_IN_FLIGHT", c.redis_max_in_flight, 1, 1000000));
  c.redis_queue_timeout_ms = static_cast<int>(
      r.Int("REDIS_QUEUE_TIMEOUT_MS", c.redis_queue_timeout_ms, 10, 600000));
  c.redis_cluster_nodes = r.String("REDIS_CLUSTER_NODES", "");
  if (!c.redis_cluster_nodes.empty()) {
    std::stringstream items(c.redis_cluster_nodes);
    for (std::string item; std::getline(items, item, ',');) {
      const auto colon = item.rfind(':');
      int port = 0;
      const char* end = item.data() + item.size();
      auto parsed = colon == std::string::npos
                        ? std::from_chars_result{item.data(), std::errc::invalid_argument}
                        : std::from_chars(item.data() + colon + 1, end, port);
      if (colon == std::string::npos || colon == 0 || parsed.ec != std::errc() ||
          parsed.ptr != end || port < 1 || port > 65535) {
        throw ConfigError("REDIS_CLUSTER_NODES: expected host:port,host:port..., got '" + item +
                          "'");
      }
    }
  }
  c.redis_cluster_refresh_ms = static_cast<int>(
      r.Int("REDIS_CLUSTER_REFRESH_MS", c.redis_cluster_refresh_ms, 10, 3600000));
  c.redis_wait_replicas =
      static_cast<int>(r.Int("REDIS_WAIT_REPLICAS", c.redis_wait_replicas, 0, 16));
  c.redis_wait_timeout_ms =
      static_cast<int>(r.Int("REDIS_WAIT_TIMEOUT_MS", c.redis_wait_timeout_ms, 1, 600000));
  if (c.redis_wait_replicas > 0 && c.redis_wait_timeout_ms >= c.redis_timeout_ms) {
    throw ConfigError("REDIS_WAIT_TIMEOUT_MS: must be below REDIS_TIMEOUT_MS (" +
                      std::to_string(c.redis_timeout_ms) + "), which bounds the WAIT itself");
  }

  c.jwt_secret = r.Required("AUTH_JWT_SECRET", "a secret of at least 32 bytes");
  if (c.jwt_secret.size() < 32) {
    throw ConfigError("AUTH_JWT_SECRET: expected at least 32 bytes, got " +
                      std::to_string(c.jwt_secret.size()));
  }

  c.hold_ttl_seconds = static_cast<int>(r.Int("HOLD_TTL_SECONDS", c.hold_ttl_seconds, 1, 86400));
  c.confirm_lease_seconds =
      static_cast<int>(r.Int("CONFIRM_LEASE_SECONDS", c.confirm_lease_seconds, 1, 3600));
  c.sweep_interval_ms = static_cast<int>(r.Int("SWEEP_INTERVAL_MS", c.sweep_interval_ms, 10, 10000));
  c.sweep_batch = static_cast<int>(r.Int("SWEEP_BATCH", c.sweep_batch, 1, 100000));
  c.queue_tick_ms = static_cast<int>(r.Int("QUEUE_TICK_MS", c.queue_tick_ms, 10, 10000));
  c.reserve_batch_max =
      static_cast<int>(r.Int("RESERVE_BATCH_MAX", c.reserve_batch_max, 1, 1000));
  c.sold_out_cache_ms =
      static_cast<int>(r.Int("SOLD_OUT_CACHE_MS", c.sold_out_cache_ms, 0, 1000));
  c.queue_poll_timeout_seconds = static_cast<int>(
      r.Int("QUEUE_POLL_TIMEOUT_SECONDS", c.queue_poll_timeout_seconds, 1, 86400));
  c.queue_max_waiting = r.Int("QUEUE_MAX_WAITING", c.queue_max_waiting, 1, 1'000'000'000);
  c.reconcile = r.String("RECONCILE", c.reconcile);
  if (c.reconcile != "off" && c.reconcile != "report" && c.reconcile != "repair") {
    throw ConfigError("RECONCILE: expected off|report|repair");
  }
  c.reconcile_interval_ms =
      static_cast<int>(r.Int("RECONCILE_INTERVAL_MS", c.reconcile_interval_ms, 50, 3'600'000));
  c.reconcile_max_holds =
      r.Int("RECONCILE_MAX_HOLDS", c.reconcile_max_holds, 1, 100'000'000);
  // A confirm must be able to finish its database work (a few statements, each bounded by
  // DB_TIMEOUT_SECONDS) well inside its lease, or sweepers would take over confirms that are
  // merely slow. Enforced always: unset, the lease grows with the database timeout.
  if (!r.Raw("CONFIRM_LEASE_SECONDS")) {
    c.confirm_lease_seconds = std::max(c.confirm_lease_seconds, 3 * c.db_timeout_seconds + 1);
  } else if (c.confirm_lease_seconds <= 3 * c.db_timeout_seconds) {
    throw ConfigError("CONFIRM_LEASE_SECONDS: expected more than 3 x DB_TIMEOUT_SECONDS (" +
                      std::to_string(3 * c.db_timeout_seconds) + ")");
  }

  c.idle_timeout_seconds =
      static_cast<int>(r.Int("HTTP_IDLE_TIMEOUT_SECONDS", c.idle_timeout_seconds, 1, 3600));
  c.request_timeout_seconds =
      static_cast<int>(r.Int("HTTP_REQUEST_TIMEOUT_SECONDS", c.request_timeout_seconds, 1, 600));
  c.max_body_bytes = static_cast<std::size_t>(
      r.Int("HTTP_MAX_BODY_BYTES", static_cast<long long>(c.max_body_bytes), 256, 1 << 20));
  c.max_connections =
      static_cast<int>(r.Int("HTTP_MAX_CONNECTIONS", c.max_connections, 1, 10000000));

  c.share_port = r.Int("HTTP_SHARE_PORT", 0, 0, 1) == 1;
  c.http_max_in_flight =
      static_cast<int>(r.Int("HTTP_MAX_IN_FLIGHT", c.http_max_in_flight, 0, 10000000));

  auto limit = [&](const char* name, RateLimit def) {
    auto v = r.Raw(name);
    return v ? ParseRateLimit(name, *v) : def;
  };
  c.reserve_buyer = limit("RATE_LIMIT_RESERVE_BUYER", c.reserve_buyer);
  c.confirm_buyer = limit("RATE_LIMIT_CONFIRM_BUYER", c.confirm_buyer);
  c.join_buyer = limit("RATE_LIMIT_JOIN_BUYER", c.join_buyer);
  c.reserve_address = limit("RATE_LIMIT_RESERVE_ADDRESS", c.reserve_address);
  c.confirm_address = limit("RATE_LIMIT_CONFIRM_ADDRESS", c.confirm_address);
  c.join_address = limit("RATE_LIMIT_JOIN_ADDRESS", c.join_address);
  if (auto v = r.Raw("TRUSTED_PROXIES")) {
    std::string_view rest = *v;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string item = Trim(rest.substr(0, comma));
      if (!item.empty()) {
        if (!ValidProxy(item)) {
          throw ConfigError("TRUSTED_PROXIES: expected comma-separated addresses or CIDR blocks, "
                            "got '" + item + "'");
        }
        c.trusted_proxies.push_back(item);
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  c.pow_challenge_seconds =
      static_cast<int>(r.Int("POW_CHALLENGE_SECONDS", c.pow_challenge_seconds, 1, 3600));
  if (auto v = r.Raw("ADMIN_LISTEN")) {
    // host:port, or [v6]:port
    const auto colon = v->rfind(':');
    std::string host = colon == std::string::npos ? "" : v->substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    long long port = 0;
    const std::string port_text = colon == std::string::npos ? "" : v->substr(colon + 1);
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    boost::system::error_code bad;
    boost::asio::ip::make_address(host, bad);
    if (host.empty() || bad || port_text.empty() || ec != std::errc() ||
        p != port_text.data() + port_text.size() || port < 1 || port > 65535) {
      throw ConfigError("ADMIN_LISTEN: expected ADDRESS:PORT (e.g. 127.0.0.1:9000), got '" + *v +
                        "'");
    }
    c.admin_address = host;
    c.admin_port = static_cast<std::uint16_t>(port);
  }

  c.demo_login = r.Int("DEMO_LOGIN", 0, 0, 1) == 1;
  if (auto v = r.Raw("CORS_ORIGINS")) {
    std::string_view rest = *v;
    while (!rest.empty()) {
      auto comma = rest.find(',');
      std::string item = Trim(rest.substr(0, comma));
      while (item.size() > 1 && item.back() == '/') item.pop_back();
      if (!item.empty()) {
        const bool ok = item == "*" || ((item.starts_with("http://") || item.starts_with("https://")) &&
                                        item.find_first_of(" /", item.find("//") + 2) == std::string::npos);
        if (!ok) {
          throw ConfigError("CORS_ORIGINS: expected '*' or comma-separated origins like "
                            "https://shop.example, got '" + item + "'");
        }
        c.cors_origins.push_back(item);
      }
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  c.frame_ancestors = r.String("FRAME_ANCESTORS", c.frame_ancestors);
  if (c.frame_ancestors.empty() ||
      c.frame_ancestors.find_first_of(";,\r\n") != std::string::npos) {
    throw ConfigError("FRAME_ANCESTORS: expected CSP sources like 'self' https://shop.example");
  }
  c.sse_max_subscribers =
      static_cast<int>(r.Int("SSE_MAX_SUBSCRIBERS", c.sse_max_subscribers, 0, 10000));
  c.sse_interval_ms = static_cast<int>(r.Int("SSE_INTERVAL_MS", c.sse_interval_ms, 100, 60000));

  c.log_level = r.String("LOG_LEVEL", c.log_level);
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "off"};
  bool ok = false;
  for (auto* l : kLevels) ok = ok || c.log_level == l;
  if (!ok) throw ConfigError("LOG_LEVEL: expected trace|debug|info|warn|error|off");
  c.fault = r.String("TICKETING_FAULT", "");
  const bool stall = c.fault.starts_with("stall_before_insert:") &&
                     c.fault.size() > 20 &&
                     c.fault.find_first_not_of("0123456789", 20) == std::string::npos &&
                     c.fault.size() <= 26;
  // delay_all_requests:MS (test-only): every HTTP request waits MS ms on a timer before it is
  // handled, a server slowed on purpose for the load generator's open-loop test.
  constexpr std::string_view kDelay = "delay_all_requests:";
  const bool delay = c.fault.starts_with(kDelay) && c.fault.size() > kDelay.size() &&
                     c.fault.size() <= kDelay.size() + 6 &&
                     c.fault.find_first_not_of("0123456789", kDelay.size()) == std::string::npos;
  if (delay) c.fault_delay_ms = std::stoi(c.fault.substr(kDelay.size()));
  if (!c.fault.empty() && c.fault != "crash_before_commit" && c.fault != "crash_after_commit" &&
      !stall && !delay) {
    throw ConfigError(
        "TICKETING_FAULT: expected crash_before_commit|crash_after_commit|stall_before_insert:MS|"
        "delay_all_requests:MS");
  }
  return c;
}

Lookup EnvironmentLookup(const std::string& dotenv_path) {
  auto file = std::make_shared<std::map<std::string, std::string>>();
  std::ifstream in(dotenv_path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    *file = ParseDotEnv(ss.str());
  }
  return [file](std::string_view name) -> std::optional<std::string> {
    std::string key(name);
    if (const char* v = std::getenv(key.c_str())) return std::string(v);
    auto it = file->find(key);
    if (it != file->end()) return it->second;
    return std::nullopt;
  };
}

}  // namespace ticketing::config
