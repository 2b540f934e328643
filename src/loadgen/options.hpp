#pragma once
// Command-line options of ticketing-loadgen.
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ticketing::loadgen {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Mode {
  kBuyers,  // each buyer: reserve, then confirm / cancel / abandon
  kGet,     // each "buyer" is one GET of --path (baseline against any HTTP server)
};

// Where to read the stores directly for the verification (all empty: API checks only).
struct StoreAddresses {
  std::string db_host = "127.0.0.1";
  std::uint16_t db_port = 0;  // 0: no database checks
  std::string db_user;
  std::string db_password;
  std::string db_name;
  std::string redis_host = "127.0.0.1";
  std::uint16_t redis_port = 0;  // 0: no Redis checks
  bool Enabled() const { return db_port != 0 && redis_port != 0; }
};

struct Options {
  std::string url = "http://127.0.0.1:3000";
  std::string host = "127.0.0.1";  // from url
  std::uint16_t port = 3000;       // from url
  Mode mode = Mode::kBuyers;
  std::string path = "/";  // --mode get

  std::int64_t buyers = 100000;  // with --duration: a cap (default: no cap)
  // --rate R > 0: open loop. Arrival i (a buyer, or one GET) is due at i / R s after the start,
  // whether or not earlier ones were answered; latency counts from that due time. 0: closed
  // loop (every connection sends its next buyer when the last one is done).
  double rate = 0;
  double duration_seconds = 0;   // > 0: keep starting buyers until this much time has passed
  std::string secret;            // default: AUTH_JWT_SECRET
  double confirm = 0.8;
  double cancel = 0.05;
  int quantity = 1;

  int connections = 2000;
  int threads = 0;    // 0: one per core (per process)
  int processes = 1;  // forked workers, each with a share of connections and buyers
  std::vector<std::string> source_addresses;  // bound round-robin before connect
  bool connect_first = false;  // open every connection before the first request
  double timeout_seconds = 10;  // per request and per connect
  int max_connecting = 256;     // connects in flight per thread

  std::int64_t product_id = 0;  // 0: create one through the admin API
  std::int64_t stock = 100;
  int hold_seconds = 0;  // 0: the server's default
  int per_user_limit = 1;

  std::string json_path;
  std::string plot_path;
  std::string progress = "auto";  // auto|on|off
  bool verify = true;
  double max_wait_seconds = 120;  // bound on waiting for abandoned holds to expire
  StoreAddresses stores;

  // --queue: every buyer goes through the product's waiting room (join, poll, reserve with the
  // admission token, confirm). A created product gets these waiting-room settings.
  bool queue = false;
  int admit_per_second = 500;
  int max_active = 2000;
  int admission_ttl_seconds = 60;
  int pow_difficulty = 0;  // --pow-difficulty: a created product's queue.powDifficulty
  double sale_starts_in_seconds = 0;  // > 0: saleStartsAt that far ahead (exercises the pre-queue)
  std::string user_prefix;  // default: "lg<random>-", so runs never share buyers
  std::uint64_t seed = 1;
};

// Parses argv (without argv[0]); `env` looks up environment variables (AUTH_JWT_SECRET).
// Throws UsageError with a message naming the bad option; `help` is set for --help.
Options Parse(const std::vector<std::string>& args,
              const std::function<std::optional<std::string>(const std::string&)>& env,
              bool* help = nullptr);

// Reads `KEY=VALUE` lines of a scripts/services env file into `stores`. Throws UsageError.
void LoadServicesEnv(const std::string& path, StoreAddresses& stores);

std::string Usage();

}  // namespace ticketing::loadgen
