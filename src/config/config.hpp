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

namespace ticketing::config {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
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
  int redis_timeout_ms = 2000;           // REDIS_TIMEOUT_MS
  int redis_max_in_flight = 1024;        // REDIS_MAX_IN_FLIGHT
  int redis_queue_timeout_ms = 10000;    // REDIS_QUEUE_TIMEOUT_MS (wait to be written)
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

  int idle_timeout_seconds = 30;     // HTTP_IDLE_TIMEOUT_SECONDS (keep-alive idle, header read)
  int request_timeout_seconds = 10;  // HTTP_REQUEST_TIMEOUT_SECONDS (body read, write)
  std::size_t max_body_bytes = 16 * 1024;  // HTTP_MAX_BODY_BYTES
  int max_connections = 100000;            // HTTP_MAX_CONNECTIONS
  // HTTP_SHARE_PORT=1: join other ticketing processes already listening on PORT (SO_REUSEPORT;
  // the kernel spreads connections), e.g. to pass one process's open-file limit. Off: a taken
  // port is an error.
  bool share_port = false;

  std::string log_level = "info";  // LOG_LEVEL: trace|debug|info|warn|error|off
  std::string fault;               // TICKETING_FAULT: test-only crash/stall points
  int fault_delay_ms = 0;          // from TICKETING_FAULT=delay_all_requests:MS
};

using Lookup = std::function<std::optional<std::string>(std::string_view name)>;

// Parses `KEY=VALUE` lines (blank lines and `#` comments ignored, optional `export `, optional
// single or double quotes around the value). Throws ConfigError on a malformed line.
std::map<std::string, std::string> ParseDotEnv(std::string_view text);

// Validates and returns the configuration. Throws ConfigError("NAME: expected ...").
Config Load(const Lookup& lookup);

// Lookup that reads the process environment, then `dotenv_path` if it exists.
Lookup EnvironmentLookup(const std::string& dotenv_path = ".env");

}  // namespace ticketing::config
