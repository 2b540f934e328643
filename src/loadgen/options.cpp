#include "loadgen/options.hpp"

#include <charconv>
#include <fstream>
#include <random>
#include <sstream>

namespace ticketing::loadgen {
namespace {

std::int64_t ToInt(const std::string& name, const std::string& v, std::int64_t min,
                   std::int64_t max) {
  std::int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || p != v.data() + v.size() || out < min || out > max) {
    throw UsageError(name + ": expected an integer from " + std::to_string(min) + " to " +
                     std::to_string(max) + ", got '" + v + "'");
  }
  return out;
}

double ToDouble(const std::string& name, const std::string& v, double min, double max) {
  std::size_t used = 0;
  double out = 0;
  try {
    out = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != v.size() || !(out >= min && out <= max)) {
    std::ostringstream m;
    m << name << ": expected a number from " << min << " to " << max << ", got '" << v << "'";
    throw UsageError(m.str());
  }
  return out;
}

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(s);
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

void ParseUrl(Options& o) {
  std::string rest = o.url;
  const std::string scheme = "http://";
  if (rest.rfind(scheme, 0) != 0) throw UsageError("--url: only http://HOST:PORT is supported");
  rest = rest.substr(scheme.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) {
    o.host = rest;
    o.port = 80;
  } else {
    o.host = rest.substr(0, colon);
    o.port = static_cast<std::uint16_t>(ToInt("--url port", rest.substr(colon + 1), 1, 65535));
  }
  if (o.host.empty()) throw UsageError("--url: missing host");
  if (o.host == "localhost") o.host = "127.0.0.1";
}

}  // namespace

std::string Usage() {
  return R"(usage: ticketing-loadgen [options]
Simulates a flash sale against a running Ticketing server, then verifies the books.

target
  --url http://HOST:PORT      server (default http://127.0.0.1:3000)
  --product ID                use an existing product (at rest: no live holds)
  --stock N                   else create one with N units (default 100) through the admin API
  --hold-seconds S            ... with this hold time (default: the server's)
  --per-user-limit N          ... and this per-buyer limit (default 1)
  --secret S                  JWT secret (default $AUTH_JWT_SECRET)
scenario
  --buyers N                  distinct buyers (default 100000; with --duration: a cap)
  --duration S                keep starting new buyers for S seconds
  --rate R                    open loop: start R buyers (or GETs) per second on schedule,
                              whatever the answers; latency counts from each one's due time
                              (coordinated omission corrected). Opens every connection first;
                              --connections is the pool (arrivals finding none free wait)
  --confirm P                 a winner confirms with probability P (default 0.8)
  --cancel P                  ... cancels with probability P (default 0.05), else abandons
  --quantity Q                units per reserve (default 1)
  --mode buyers|get           get: every buyer is one GET --path (baseline for any server)
  --path P                    target of --mode get (default /)
  --queue                     through the waiting room: join, poll status (backoff + jitter),
                              reserve with the admission token, confirm (one process)
  --admit-per-second R --max-active M --admission-ttl S
                              waiting-room settings of a created product (500, 2000, 60)
  --pow-difficulty D          a created product's join proof of work (leading zero bits; the
                              buyers solve the challenge the join answers)
  --sale-starts-in S          a created product's sale opens S seconds after it is created
connections
  --connections N             keep-alive connections (default 2000)
  --threads N                 I/O threads per process (default: cores)
  --processes K               forked worker processes sharing connections and buyers
  --source-addresses A,B,...  local addresses to bind, round-robin (127.0.0.2, ...)
  --connect-first             open every connection before the first request
  --timeout S                 per connect and per request (default 10)
  --max-connecting N          connects in flight per thread (default 256)
output and checks
  --json FILE                 write the report as JSON
  --plot FILE.png             req/s and p99 over time, drawn by gnuplot
  --progress auto|on|off      live line on stderr (auto: when stderr is a terminal)
  --no-verify                 skip waiting for expiry and the checks
  --max-wait S                bound on waiting for abandoned holds to expire (default 120)
  --services-env FILE         KEY=VALUE file from `scripts/services start` (stores to check)
  --db-host H --db-port P --db-user U --db-password W --db-name D
  --redis-host H --redis-port P
  --user-prefix S             buyer ids are S<number> (default: random per run)
  --seed N                    random seed of the confirm/cancel draws (default 1)
Exit status: 0 when every check passed, 1 when one failed, 2 on a usage error.
)";
}

void LoadServicesEnv(const std::string& path, StoreAddresses& s) {
  std::ifstream in(path);
  if (!in) throw UsageError("--services-env: cannot read " + path);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "DB_HOST") s.db_host = v;
    if (k == "DB_PORT") s.db_port = static_cast<std::uint16_t>(ToInt(k, v, 1, 65535));
    if (k == "DB_USERNAME") s.db_user = v;
    if (k == "DB_PASSWORD") s.db_password = v;
    if (k == "DB_DATABASE") s.db_name = v;
    if (k == "REDIS_HOST") s.redis_host = v;
    if (k == "REDIS_PORT") s.redis_port = static_cast<std::uint16_t>(ToInt(k, v, 1, 65535));
  }
}

Options Parse(const std::vector<std::string>& args,
              const std::function<std::optional<std::string>(const std::string&)>& env,
              bool* help) {
  Options o;
  if (help) *help = false;
  bool buyers_given = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto flag = [&] {
      if (inline_value) throw UsageError(name + " takes no value");
    };
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw UsageError(name + ": missing value");
      return args[++i];
    };
    if (name == "--help" || name == "-h") {
      if (help) *help = true;
      return o;
    } else if (name == "--url") {
      o.url = value();
    } else if (name == "--mode") {
      auto v = value();
      if (v == "buyers") o.mode = Mode::kBuyers;
      else if (v == "get") o.mode = Mode::kGet;
      else throw UsageError("--mode: expected buyers or get");
    } else if (name == "--path") {
      o.path = value();
      if (o.path.empty() || o.path[0] != '/') throw UsageError("--path must start with /");
    } else if (name == "--buyers") {
      o.buyers = ToInt(name, value(), 0, INT64_MAX / 1024);
      buyers_given = true;
    } else if (name == "--duration") {
      o.duration_seconds = ToDouble(name, value(), 0.001, 86400);
    } else if (name == "--rate") {
      o.rate = ToDouble(name, value(), 0.001, 10'000'000);
    } else if (name == "--secret") {
      o.secret = value();
    } else if (name == "--confirm") {
      o.confirm = ToDouble(name, value(), 0, 1);
    } else if (name == "--cancel") {
      o.cancel = ToDouble(name, value(), 0, 1);
    } else if (name == "--quantity") {
      o.quantity = static_cast<int>(ToInt(name, value(), 1, 10000));
    } else if (name == "--connections") {
      o.connections = static_cast<int>(ToInt(name, value(), 1, 10'000'000));
    } else if (name == "--threads") {
      o.threads = static_cast<int>(ToInt(name, value(), 0, 1024));
    } else if (name == "--processes") {
      o.processes = static_cast<int>(ToInt(name, value(), 1, 256));
    } else if (name == "--source-addresses") {
      o.source_addresses = SplitList(value());
    } else if (name == "--connect-first") {
      flag();
      o.connect_first = true;
    } else if (name == "--timeout") {
      o.timeout_seconds = ToDouble(name, value(), 0.001, 3600);
    } else if (name == "--max-connecting") {
      o.max_connecting = static_cast<int>(ToInt(name, value(), 1, 1'000'000));
    } else if (name == "--product") {
      o.product_id = ToInt(name, value(), 1, INT64_MAX);
    } else if (name == "--stock") {
      o.stock = ToInt(name, value(), 0, 100'000'000);
    } else if (name == "--hold-seconds") {
      o.hold_seconds = static_cast<int>(ToInt(name, value(), 1, 86400));
    } else if (name == "--queue") {
      o.queue = true;
    } else if (name == "--admit-per-second") {
      o.admit_per_second = static_cast<int>(ToInt(name, value(), 1, 1'000'000));
    } else if (name == "--max-active") {
      o.max_active = static_cast<int>(ToInt(name, value(), 1, 10'000'000));
    } else if (name == "--pow-difficulty") {
      o.pow_difficulty = static_cast<int>(ToInt(name, value(), 0, 32));
    } else if (name == "--admission-ttl") {
      o.admission_ttl_seconds = static_cast<int>(ToInt(name, value(), 1, 86400));
    } else if (name == "--sale-starts-in") {
      o.sale_starts_in_seconds = ToDouble(name, value(), 0, 86400);
    } else if (name == "--per-user-limit") {
      o.per_user_limit = static_cast<int>(ToInt(name, value(), 1, 1'000'000));
    } else if (name == "--json") {
      o.json_path = value();
    } else if (name == "--plot") {
      o.plot_path = value();
    } else if (name == "--progress") {
      o.progress = value();
      if (o.progress != "auto" && o.progress != "on" && o.progress != "off") {
        throw UsageError("--progress: expected auto, on or off");
      }
    } else if (name == "--no-verify") {
      flag();
      o.verify = false;
    } else if (name == "--max-wait") {
      o.max_wait_seconds = ToDouble(name, value(), 0, 86400);
    } else if (name == "--services-env") {
      LoadServicesEnv(value(), o.stores);
    } else if (name == "--db-host") {
      o.stores.db_host = value();
    } else if (name == "--db-port") {
      o.stores.db_port = static_cast<std::uint16_t>(ToInt(name, value(), 1, 65535));
    } else if (name == "--db-user") {
      o.stores.db_user = value();
    } else if (name == "--db-password") {
      o.stores.db_password = value();
    } else if (name == "--db-name") {
      o.stores.db_name = value();
    } else if (name == "--redis-host") {
      o.stores.redis_host = value();
    } else if (name == "--redis-port") {
      o.stores.redis_port = static_cast<std::uint16_t>(ToInt(name, value(), 1, 65535));
    } else if (name == "--user-prefix") {
      o.user_prefix = value();
    } else if (name == "--seed") {
      o.seed = static_cast<std::uint64_t>(ToInt(name, value(), 0, INT64_MAX));
    } else {
      throw UsageError("unknown option '" + args[i] + "' (try --help)");
    }
  }
  ParseUrl(o);
  if (o.confirm + o.cancel > 1.0 + 1e-9) throw UsageError("--confirm + --cancel must be <= 1");
  if (o.queue) {
    if (o.mode != Mode::kBuyers) throw UsageError("--queue goes with --mode buyers");
    if (o.processes != 1) throw UsageError("--queue runs in one process (drop --processes)");
    if (o.duration_seconds > 0) throw UsageError("--queue runs a fixed --buyers, not --duration");
  }
  if (o.rate > 0) {
    if (o.queue) throw UsageError("--rate does not go with --queue");
    // The pool is open before the first arrival is due, so connects do not count as queueing.
    o.connect_first = true;
  }
  if (o.duration_seconds > 0 && !buyers_given) o.buyers = INT64_MAX / 1024;
  if (o.secret.empty()) {
    if (auto s = env("AUTH_JWT_SECRET")) o.secret = *s;
  }
  if (o.mode == Mode::kBuyers && o.secret.size() < 32) {
    throw UsageError("--secret (or AUTH_JWT_SECRET) of at least 32 bytes is required");
  }
  if ((o.stores.db_port != 0) != (o.stores.redis_port != 0)) {
    throw UsageError("give both the database and the Redis address, or neither");
  }
  if (o.stores.db_port != 0 && (o.stores.db_user.empty() || o.stores.db_name.empty())) {
    throw UsageError("--db-user and --db-name are required with --db-port");
  }
  if (o.user_prefix.empty()) {
    std::random_device rd;
    o.user_prefix = "lg" + std::to_string(rd() % 1'000'000'000) + "-";
  }
  return o;
}

}  // namespace ticketing::loadgen
