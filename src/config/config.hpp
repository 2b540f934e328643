#pragma once
// Server configuration from environment variables, optionally from a `.env` file (the real
// environment wins). Load() validates every value and throws ConfigError naming the variable.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ticketing::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A GCRA rate limit: `per_second` on average, `burst` at once. Written "RATE/s:BURST" or
// "RATE/m:BURST" (burst optional: the rate per period, at least 1), or "off".
struct RateLimit {
  double per_second = 0;
  int burst = 0;
  bool on() const { return per_second > 0; }
};

struct Config {
  std::string bind_address = "0.0.0.0";  // BIND_ADDRESS
  std::uint16_t port = 3000;             // PORT
  int io_threads = 0;                    // IO_THREADS (0: one per core)

  std::string db_host = "127.0.0.1";  // DB_HOST
  std::uint16_t db_port = 3306;       // DB_PORT
  std::string db_username;            // DB_USERNAME (required)
  std::string db_password;            // DB_PASSWORD
  std::string db_database;            // DB_DATABASE (required)
  int db_pool_size = 16;              // DB_POOL_SIZE
  int db_max_waiting = 20000;         // DB_MAX_WAITING
  int db_timeout_seconds = 5;         // DB_TIMEOUT_SECONDS (read/write; connect is 2 s)

  std::string redis_host = "127.0.0.1";  // REDIS_HOST
  std::uint16_t redis_port = 6379;       // REDIS_PORT
  int redis_timeout_ms = 5000;           // REDIS_TIMEOUT_MS
  int redis_max_in_flight = 256;         // REDIS_MAX_IN_FLIGHT
  int redis_queue_timeout_ms = 10000;    // REDIS_QUEUE_TIMEOUT_MS (wait to be written)
  int reserve_batch_max = 32;            // RESERVE_BATCH_MAX (reserves per script call; 1 = off)
  // REDIS_CLUSTER_NODES=host:port,...: cluster mode, these seed the slot map (REDIS_HOST and
  // REDIS_PORT are then not used). Empty: one standalone Redis.
  std::string redis_cluster_nodes;
  int redis_wait_replicas = 0;           // REDIS_WAIT_REPLICAS (WAIT after each state change)
  int redis_wait_timeout_ms = 500;       // REDIS_WAIT_TIMEOUT_MS
  int redis_cluster_refresh_ms = 1000;   // REDIS_CLUSTER_REFRESH_MS (slot map re-read)
  int http_max_in_flight = 20000;        // HTTP_MAX_IN_FLIGHT

  std::string jwt_secret;  // AUTH_JWT_SECRET (required, >= 32 bytes)

  int hold_ttl_seconds = 300;       // HOLD_TTL_SECONDS
  int confirm_lease_seconds = 30;   // CONFIRM_LEASE_SECONDS
  int sweep_interval_ms = 200;      // SWEEP_INTERVAL_MS
  int sweep_batch = 500;            // SWEEP_BATCH

  int queue_tick_ms = 100;                // QUEUE_TICK_MS (line advance + sold-out refresh)
  int sold_out_cache_ms = 100;  // SOLD_OUT_CACHE_MS (trust a seen "none available"; 0 = off)
  int queue_poll_timeout_seconds = 30;    // QUEUE_POLL_TIMEOUT_SECONDS (silent waiters drop)
  long long queue_max_waiting = 5000000;  // QUEUE_MAX_WAITING (per product line)

  // The stock reconciler (one server at a time, elected by a Redis lease): compares Redis
  // available + live holds with the database's stock for every product something happened to.
  std::string reconcile = "repair";    // RECONCILE: off | report (log + metric) | repair
  int reconcile_interval_ms = 5000;    // RECONCILE_INTERVAL_MS
  long long reconcile_max_holds = 10000;  // RECONCILE_MAX_HOLDS: skip (and count) larger products

  int idle_timeout_seconds = 30;     // HTTP_IDLE_TIMEOUT_SECONDS (keep-alive idle, header read)
  int request_timeout_seconds = 10;  // HTTP_REQUEST_TIMEOUT_SECONDS (body read, write)
  std::size_t max_body_bytes = 16 * 1024;  // HTTP_MAX_BODY_BYTES
  int max_connections = 100000;            // HTTP_MAX_CONNECTIONS
  // HTTP_SHARE_PORT=1: join other ticketing processes already listening on PORT (SO_REUSEPORT;
  // the kernel spreads connections), e.g. to pass one process's open-file limit. Off: a taken
  // port is an error.
  bool share_port = false;

  // Abuse defences (see README "Security"). Per buyer (per product) on by default, at rates no
  // honest buyer reaches; per client address off by default (carrier NAT puts many buyers
  // behind one address). Admins are exempt.
  RateLimit reserve_buyer{5, 10};    // RATE_LIMIT_RESERVE_BUYER
  RateLimit confirm_buyer{10, 30};   // RATE_LIMIT_CONFIRM_BUYER
  RateLimit join_buyer{5, 20};       // RATE_LIMIT_JOIN_BUYER
  RateLimit reserve_address;         // RATE_LIMIT_RESERVE_ADDRESS (off)
  RateLimit confirm_address;         // RATE_LIMIT_CONFIRM_ADDRESS (off)
  RateLimit join_address;            // RATE_LIMIT_JOIN_ADDRESS (off)
  // TRUSTED_PROXIES: comma-separated addresses or CIDR blocks whose X-Forwarded-For is
  // believed; from any other peer the TCP peer address is the client's.
  std::vector<std::string> trusted_proxies;
  int pow_challenge_seconds = 120;  // POW_CHALLENGE_SECONDS: how long a join challenge is good
  // ADMIN_LISTEN=host:port: /admin/... served there only (the public listener answers 404).
  std::string admin_address;     // empty: admin routes on the public listener
  std::uint16_t admin_port = 0;

  // The pages (web/, src/http/README.md "Pages"). DEMO_LOGIN=1: POST /demo/login issues a buyer
  // token for any nickname (demos only; off by default).
  bool demo_login = false;
  // CORS_ORIGINS: comma-separated origins (https://shop.example) or "*" whose pages may call the
  // buyer API from the browser; empty: none (same origin only).
  std::vector<std::string> cors_origins;
  // FRAME_ANCESTORS: the pages' CSP frame-ancestors (who may embed them in a frame).
  std::string frame_ancestors = "'none'";
  int sse_max_subscribers = 32;  // SSE_MAX_SUBSCRIBERS: /admin/events streams per process
  int sse_interval_ms = 1000;    // SSE_INTERVAL_MS: how often the dashboard's figures are taken

  std::string log_level = "info";  // LOG_LEVEL: trace|debug|info|warn|error|off
  std::string fault;               // TICKETING_FAULT: test-only crash/stall points
  int fault_delay_ms = 0;          // from TICKETING_FAULT=delay_all_requests:MS
};

using Lookup = std::function<std::optional<std::string>(std::string_view name)>;

// Parses `KEY=VALUE` lines (blank lines and `#` comments ignored, optional `export `, optional
// single or double quotes around the value). Throws ConfigError on a malformed line.
std::map<std::string, std::string> ParseDotEnv(std::string_view text);

// Parses a RateLimit ("5/s:10", "300/m", "off"); throws ConfigError naming `name`.
RateLimit ParseRateLimit(std::string_view name, std::string_view text);

// Validates and returns the configuration. Throws ConfigError("NAME: expected ...").
Config Load(const Lookup& lookup);

// Lookup that reads the process environment, then `dotenv_path` if it exists.
Lookup EnvironmentLookup(const std::string& dotenv_path = ".env");

}  // namespace ticketing::config
