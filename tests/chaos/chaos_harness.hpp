#pragma once
// The chaos suite's moving parts: a cluster of real `ticketing` processes (optionally behind
// fault proxies, one under libfaketime) on the shared test Redis and MariaDB, the fault
// schedule generated from a seed, the simulated buyers, and the settle-and-snapshot step.
#include "tests/chaos/checker.hpp"
#include "tests/chaos/fault_proxy.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace ticketing::chaos {

using Clock = std::chrono::steady_clock;
std::int64_t NowMs();  // unix ms
std::string Token(const std::string& user, bool admin = false);

enum class Fault {
  kKillServer,         // SIGKILL one server, restart it a moment later
  kCrashBeforeCommit,  // restart a server with TICKETING_FAULT=crash_before_commit
  kCrashAfterCommit,   // ... crash_after_commit
  kStallBeforeInsert,  // ... stall_before_insert:MS (longer than the confirm lease)
  kRedisRestart,       // SIGKILL (or SHUTDOWN NOSAVE) redis-server, start it from its AOF
  kRedisFlush,         // FLUSHALL
  kRedisPause,         // SIGSTOP redis-server past REDIS_TIMEOUT_MS, then SIGCONT
  kDbRestart,          // stop (TERM or KILL) mariadbd and start it on the same port
  kDbPause,            // SIGSTOP mariadbd (group commits in flight), then SIGCONT
  kProxyLatency,       // latency on one server's Redis or database link
  kProxyDrop,          // drop every connection of one server's link
  kProxyBlackhole,     // a partition of one server's link for a while
};
const char* FaultName(Fault f);

struct ScheduledFault {
  std::int64_t at_ms = 0;  // from the start of the sale
  Fault fault = Fault::kKillServer;
  int slot = 0;            // server slot (server faults, proxy faults)
  int param = 0;           // duration or latency in ms; for restarts 1 = the brutal variant
  bool redis_link = true;  // proxy faults: the Redis link (else the database link)
};

struct ChaosConfig {
  std::string name = "chaos";
  std::uint64_t seed = 0;
  int servers = 3;
  bool proxies = false;      // every server reaches Redis and MariaDB through a FaultProxy
  int faketime_slot = -1;    // this server runs with its clock 5 minutes ahead
  std::vector<Fault> faults;  // the family to draw from (empty: no faults)
  int window_ms = 16000;      // faults and buyer arrivals happen in this window
  int fault_gap_min_ms = 1200, fault_gap_max_ms = 2600;
  int buyers = 200;
  int stock = 80;
  int per_user_limit = 2;
  int hold_seconds = 2;
  int workers = 16;           // buyer threads
  int request_timeout_ms = 3000;
  int op_deadline_ms = 20000;  // one reserve/confirm/cancel, all its retries included
};

// The seed: CHAOS_SEED from the environment, else a fresh random one.
std::uint64_t SeedFromEnv();

std::vector<ScheduledFault> MakeSchedule(const ChaosConfig& c, std::mt19937_64& rng);

struct RunResult {
  History history;
  Snapshot snapshot;
  std::vector<Violation> violations;
  Summary summary;
  std::vector<std::string> fault_log;  // what was injected, when
  double seconds = 0;
  std::string Report() const;
};

// One bounded sale under the configured faults, then the settle and the check.
RunResult RunSale(const ChaosConfig& config);

// The long-run soak: constant load for `minutes`, sampling every `sample_seconds` the servers'
// RSS and descriptors, Redis used_memory and DBSIZE and p99 latency into `csv_path`.
struct SoakConfig {
  int minutes = 3;
  int sample_seconds = 60;
  int rate_per_second = 40;  // buyers started per second
  int servers = 2;
  int users = 400;           // a bounded population of buyer ids (so per-buyer keys are bounded)
  std::string csv_path;
};
// Returns the violations of the soak's sales (it re-checks the books every sample).
std::vector<std::string> RunSoak(const SoakConfig& config);

}  // namespace ticketing::chaos
