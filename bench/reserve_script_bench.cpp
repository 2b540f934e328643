// What the per-buyer rate limit costs the reserve on the Redis side: the same reserve.lua run
// N times (each by a new buyer, as in a flash sale) without and with the folded GCRA check
// (default limit: 5/s, burst 10), alternating rounds, against a real redis-server. Reports
// Redis' own time per call (INFO commandstats usec_per_call of EVALSHA: no network, no client)
// and the client's round trip. Usage: reserve_script_bench PORT [REQUESTS_PER_ROUND] [ROUNDS]
// [off|on|both] [plain|queue]; off or on alone runs one mode only, e.g. for a redis-server under
// callgrind (instructions per reserve, stable on a noisy machine: see bench/README.md). queue:
// the product has a waiting room, and each buyer reserves with an admission written for them
// beforehand (outside the measured EVALSHA). A 6th argument K > 1 sends the reserves K at a
// time, as the server's batches (reserve_batch.lua; usec_per_call is then per batch).
// reserve_script_bench --print join prints join.lua
// as the server sends it (its prelude linked in), for bench/join-cost.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "abuse/guard.hpp"
#include "purchase/keys.hpp"
#include "purchase/reserve_batcher.hpp"
#include "purchase/scripts.hpp"
#include "queue/scripts.hpp"
#include "redis/blocking_client.hpp"

namespace {

using namespace ticketing;

double UsecPerCall(redis::BlockingConnection& r) {
  auto info = r.Command({"INFO", "commandstats"});
  const std::string& s = info.str;
  auto at = s.find("cmdstat_evalsha:");
  if (at == std::string::npos) return -1;
  at = s.find("usec_per_call=", at);
  return std::stod(s.substr(at + 14));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: reserve_script_bench PORT [REQUESTS_PER_ROUND] [ROUNDS]\n");
    return 2;
  }
  if (std::string(argv[1]) == "--print") {
    if (argc > 2 && std::string(argv[2]) == "join") {
      std::fputs(queue::Scripts::Get().join.source.c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "reserve_script_bench --print join\n");
    return 2;
  }
  const auto port = static_cast<std::uint16_t>(std::stoi(argv[1]));
  const int n = argc > 2 ? std::stoi(argv[2]) : 20000;
  const int rounds = argc > 3 ? std::stoi(argv[3]) : 5;
  const std::string mode = argc > 4 ? argv[4] : "both";
  const bool queue = argc > 5 && std::string(argv[5]) == "queue";
  const int batch = argc > 6 ? std::max(1, std::stoi(argv[6])) : 1;
  redis::BlockingConnection r("127.0.0.1", port, std::chrono::milliseconds(5000));
  const auto& scripts = purchase::Scripts::Get();
  const std::int64_t product = 990001;
  const std::string prefix = purchase::keys::Prefix(product);
  r.Command({"DEL", purchase::keys::Info(prefix)});
  r.Eval(scripts.init_product, {purchase::keys::Info(prefix), purchase::keys::Available(prefix)},
         {"bench", "1000", "1000000", "300", "1000000000", "1000000000", "", queue ? "1" : "",
          queue ? "100000" : "", queue ? "100000000" : "", queue ? "3600" : "", ""});
  const auto rule = abuse::Rule::From(config::Config{}.reserve_buyer);

  std::vector<double> redis_us[2], client_us[2];
  for (int round = 0; round < rounds; ++round) {
    for (int limited = 0; limited < 2; ++limited) {
      if ((mode == "off" && limited) || (mode == "on" && !limited)) continue;
      r.Command({"CONFIG", "RESETSTAT"});
      const auto start = std::chrono::steady_clock::now();
      std::vector<std::vector<std::string>> batch_keys, batch_args;
      for (int i = 0; i < n; ++i) {
        const std::string user =
            "u" + std::to_string(round) + "-" + std::to_string(limited) + "-" + std::to_string(i);
        const std::string rid = std::to_string(product) + "-" + user;
        std::vector<std::string> keys{purchase::keys::Info(prefix),
                                      purchase::keys::Available(prefix),
                                      purchase::keys::Expiry(prefix),
                                      purchase::keys::User(prefix, user),
                                      purchase::keys::Hold(prefix, rid)};
        std::string ticket;
        if (queue) {
          ticket = "t-" + user;
          r.Command({"HSET", prefix + ":q:t:" + ticket, "user", user, "state", "admitted", "adm",
                     "99999999999999"});
        }
        std::vector<std::string> args{user, "1", rid, "300", prefix, ticket, ""};
        if (limited) {
          keys.push_back(prefix + ":rl:reserve:b:" + user);
          args.insert(args.end(), {"1", rule.emission, rule.tolerance});
        }
        if (batch > 1) {
          batch_keys.push_back(std::move(keys));
          batch_args.push_back(std::move(args));
          if (static_cast<int>(batch_keys.size()) < batch && i + 1 < n) continue;
          std::vector<std::vector<std::string>*> pk, pa;
          for (std::size_t j = 0; j < batch_keys.size(); ++j) {
            pk.push_back(&batch_keys[j]);
            pa.push_back(&batch_args[j]);
          }
          const auto call = purchase::ReserveBatcher::BatchCall(pk, pa);
          auto reply = r.Eval(scripts.reserve_batch, call.keys, call.args);
          for (const auto& one : reply.elements) {
            if (one.elements.empty() || one.elements[0].str != "OK") {
              std::fprintf(stderr, "unexpected reply in a batch: %s\n", reply.str.c_str());
              return 1;
            }
          }
          if (reply.elements.size() != batch_keys.size()) {
            std::fprintf(stderr, "unexpected batch reply: %s\n", reply.str.c_str());
            return 1;
          }
          batch_keys.clear();
          batch_args.clear();
          continue;
        }
        auto reply = r.Eval(scripts.reserve, keys, args);
        if (reply.elements.empty() || reply.elements[0].str != "OK") {
          std::fprintf(stderr, "unexpected reply: %s\n", reply.str.c_str());
          return 1;
        }
      }
      const double wall =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count();
      redis_us[limited].push_back(UsecPerCall(r));
      client_us[limited].push_back(wall / n);
      std::printf("round %d %-9s redis %.2f us/call, round trip %.2f us\n", round,
                  limited ? "limit on" : "limit off", redis_us[limited].back(),
                  client_us[limited].back());
    }
  }
  if (mode != "both") return 0;
  const double off = Median(redis_us[0]), on = Median(redis_us[1]);
  std::printf("median of %d rounds x %d reserves: redis %.2f -> %.2f us/call (+%.2f us, %+.1f%%); "
              "round trip %.2f -> %.2f us\n",
              rounds, n, off, on, on - off, 100.0 * (on - off) / off, Median(client_us[0]),
              Median(client_us[1]));
  return 0;
}
