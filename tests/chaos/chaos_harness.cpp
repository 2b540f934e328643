#include "tests/chaos/chaos_harness.hpp"

#include "auth/jwt.hpp"
#include "common/iso_time.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/tokens.hpp"

#include <boost/json.hpp>

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

namespace ticketing::chaos {

namespace json = boost::json;
using std::chrono::milliseconds;
using testing::HttpClient;
using testing::Reply;
using testing::ServerProcess;
using testing::Services;
using testing::Stores;

std::int64_t NowMs() { return testing::NowMs(); }

std::string Token(const std::string& user, bool admin) {
  return testing::Token(user, admin, 6 * 3600);
}

std::uint64_t SeedFromEnv() {
  if (const char* s = std::getenv("CHAOS_SEED"); s && *s) return std::strtoull(s, nullptr, 10);
  return std::random_device{}() * 1000003ULL + static_cast<std::uint64_t>(NowMs());
}

const char* FaultName(Fault f) {
  switch (f) {
    case Fault::kKillServer: return "kill_server";
    case Fault::kCrashBeforeCommit: return "crash_before_commit";
    case Fault::kCrashAfterCommit: return "crash_after_commit";
    case Fault::kStallBeforeInsert: return "stall_before_insert";
    case Fault::kRedisRestart: return "redis_restart";
    case Fault::kRedisFlush: return "redis_flushall";
    case Fault::kRedisPause: return "redis_pause";
    case Fault::kDbRestart: return "db_restart";
    case Fault::kDbPause: return "db_pause";
    case Fault::kProxyLatency: return "proxy_latency";
    case Fault::kProxyDrop: return "proxy_drop";
    case Fault::kProxyBlackhole: return "proxy_blackhole";
  }
  return "?";
}

namespace {

// Server settings that make leases, holds and sweeps fit a bounded test (see README).
constexpr int kLeaseSeconds = 4;
constexpr int kRedisTimeoutMs = 500;
const char* kFaketimeLib = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

int Uniform(std::mt19937_64& rng, int lo, int hi) {  // [lo, hi]
  return lo + static_cast<int>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
}

void SleepMs(std::int64_t ms) {
  if (ms > 0) std::this_thread::sleep_for(milliseconds(ms));
}

template <class Pred>
bool Eventually(Pred pred, int limit_ms, int step_ms = 50) {
  const auto deadline = Clock::now() + milliseconds(limit_ms);
  while (Clock::now() < deadline) {
    if (pred()) return true;
    SleepMs(step_ms);
  }
  return pred();
}

pid_t ReadPid(const std::string& path) {
  std::ifstream in(path);
  long pid = -1;
  in >> pid;
  return in ? static_cast<pid_t>(pid) : -1;
}

// Alive and not a zombie (daemons are not our children; init reaps them when it gets to it).
bool Alive(pid_t pid) {
  if (pid <= 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (stat.empty()) return false;
  const auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z' &&
         stat[close + 2] != 'X';
}

std::string FileTail(const std::string& path, std::size_t bytes) {
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > bytes ? all.substr(all.size() - bytes) : all;
}

// The test Redis and MariaDB, as processes: pause, kill, start again on the same port.
class ServiceControl {
 public:
  explicit ServiceControl(const Services& s) : s_(s) {}

  pid_t RedisPid() const { return ReadPid(s_.dir + "/redis/redis.pid"); }
  pid_t DbPid() const { return ReadPid(s_.dir + "/mariadb.pid"); }

  bool RedisPing() {
    try {
      Stores st(s_);
      return st.Redis({"PING"}) == "PONG";
    } catch (const std::exception&) {
      return false;
    }
  }
  bool DbPing() {
    try {
      Stores st(s_);
      return st.Sql("SELECT 1") == "1";
    } catch (const std::exception&) {
      return false;
    }
  }

  // Stops redis-server (SIGKILL: the AOF loses up to its last second; else SHUTDOWN NOSAVE,
  // which still flushes the AOF) and starts it again from the AOF, as scripts/services does.
  bool RestartRedis(bool brutal) {
    const pid_t pid = RedisPid();
    const std::string port = s_.Get("REDIS_PORT");
    if (brutal) {
      if (pid > 0) kill(pid, SIGKILL);
    } else {
      Run("redis-cli -h 127.0.0.1 -p " + port + " SHUTDOWN NOSAVE >/dev/null 2>&1");
    }
    if (!Eventually([&] { return !Alive(pid); }, 15000)) return false;
    const std::string dir = s_.dir + "/redis";
    const std::string cmd = "redis-server --port " + port + " --bind 127.0.0.1 --dir " + dir +
                            " --logfile " + dir + "/redis.log --pidfile " + dir +
                            "/redis.pid --daemonize yes --appendonly yes --appendfsync everysec "
                            "--maxmemory-policy noeviction --save '' </dev/null >/dev/null 2>&1";
    for (int attempt = 0; attempt < 5; ++attempt) {
      Run(cmd);
      if (Eventually([&] { return RedisPing(); }, 10000)) return true;
    }
    return false;
  }

  void PauseRedis(bool on) { Signal(RedisPid(), on ? SIGSTOP : SIGCONT); }
  void PauseDb(bool on) { Signal(DbPid(), on ? SIGSTOP : SIGCONT); }

  bool RestartDb(bool brutal) {
    if (brutal) {
      const pid_t pid = DbPid();
      if (pid > 0) kill(pid, SIGKILL);
      Eventually([&] { return !Alive(pid); }, 15000);
    } else {
      testing::StopDatabase(s_);
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      testing::StartDatabase(s_);
      if (Eventually([&] { return DbPing(); }, 10000)) return true;
    }
    return false;
  }

  // Whatever a failed step left behind: both running, neither stopped.
  void Heal() {
    PauseRedis(false);
    PauseDb(false);
    if (!RedisPing()) RestartRedis(true);
    if (!DbPing()) RestartDb(false);
  }

 private:
  static void Signal(pid_t pid, int sig) {
    if (pid > 0) kill(pid, sig);
  }
  static void Run(const std::string& cmd) {
    if (std::system(cmd.c_str()) != 0) {
      // Failures show up in the checks that follow (ping, restart loops).
    }
  }
  const Services& s_;
};

// One server slot: a fixed port, its process (restarted as faults demand), its proxies.
struct Slot {
  int index = 0;
  std::unique_ptr<ServerProcess> process;
  std::unique_ptr<FaultProxy> redis_proxy, db_proxy;
  std::string fault;          // TICKETING_FAULT it runs with ("" none)
  Clock::time_point fault_until{};  // then it is restarted without the fault
  bool want_up = true;
  Clock::time_point restart_at{};
  bool killed_by_us = false;
  int starts = 0, exits = 0;
};

class Cluster {
 public:
  Cluster(const ChaosConfig& c, const Services& s, std::vector<std::string>& log,
          std::vector<Violation>& problems)
      : log_(log), problems_(problems) {
    for (int i = 0; i < c.servers; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->index = i;
      std::map<std::string, std::string> env = {
          {"DB_TIMEOUT_SECONDS", "1"},
          {"CONFIRM_LEASE_SECONDS", std::to_string(kLeaseSeconds)},
          {"SWEEP_INTERVAL_MS", "100"},
          {"REDIS_TIMEOUT_MS", std::to_string(kRedisTimeoutMs)},
          {"IO_THREADS", "1"},
          {"DB_POOL_SIZE", "4"},
          {"LOG_LEVEL", "warn"},
          {"HOLD_TTL_SECONDS", std::to_string(c.hold_seconds)},
          {"PORT", std::to_string(testing::FreePort())},
      };
      for (const char* v : {"ASAN_OPTIONS", "UBSAN_OPTIONS"}) {
        if (const char* val = std::getenv(v)) env[v] = val;
      }
      if (c.proxies) {
        slot->redis_proxy = std::make_unique<FaultProxy>(
            static_cast<std::uint16_t>(s.Port("REDIS_PORT")), "redis#" + std::to_string(i));
        slot->db_proxy = std::make_unique<FaultProxy>(static_cast<std::uint16_t>(s.Port("DB_PORT")),
                                                      "db#" + std::to_string(i));
        env["REDIS_PORT"] = std::to_string(slot->redis_proxy->port());
        env["DB_PORT"] = std::to_string(slot->db_proxy->port());
      }
      if (i == c.faketime_slot) {
        // Through the environment rather than the faketime wrapper: the wrapper forks, so a
        // SIGKILL of "the server" would leave the real server running.
        env["LD_PRELOAD"] = kFaketimeLib;
        env["FAKETIME"] = "+5m";
        env["FAKETIME_NO_CACHE"] = "1";
        std::string asan = env.count("ASAN_OPTIONS") ? env["ASAN_OPTIONS"] + ":" : "";
        env["ASAN_OPTIONS"] = asan + "verify_asan_link_order=0";
      }
      slot->process = std::make_unique<ServerProcess>(s, env);
      slots_.push_back(std::move(slot));
    }
  }

  ~Cluster() {
    for (auto& s : slots_) {
      if (s->process->Running()) s->process->Kill();
    }
  }

  std::vector<std::uint16_t> Ports() const {
    std::vector<std::uint16_t> p;
    for (auto& s : slots_) p.push_back(s->process->port());
    return p;
  }
  std::vector<std::unique_ptr<Slot>>& slots() { return slots_; }
  FaultProxy* Proxy(int slot, bool redis) {
    auto& s = *slots_.at(slot);
    return redis ? s.redis_proxy.get() : s.db_proxy.get();
  }

  void Log(const std::string& line) {
    std::lock_guard lock(mu_);
    log_.push_back(std::to_string(NowMs()) + " " + line);
  }
  void Problem(const std::string& what) {
    std::lock_guard lock(mu_);
    problems_.push_back({what, -1, ""});
  }

  // Starts (or restarts) a slot with `fault`; false if it would not come up.
  bool StartSlot(Slot& s, const std::string& fault) {
    if (s.process->Running()) {
      s.killed_by_us = true;
      s.process->Kill();
    }
    s.fault = fault;
    if (fault.empty()) s.process->env().erase("TICKETING_FAULT");
    else s.process->env()["TICKETING_FAULT"] = fault;
    s.killed_by_us = false;
    s.fault_until = Clock::now() + milliseconds(fault.starts_with("stall") ? 8000 : 6000);
    try {
      s.process->Start();
      ++s.starts;
      return true;
    } catch (const std::exception& e) {
      Log("server#" + std::to_string(s.index) + " did not start: " + e.what());
      if (s.process->Running()) s.process->Kill();
      return false;
    }
  }

  void KillSlot(Slot& s, int down_ms) {
    s.killed_by_us = true;
    if (s.process->Running()) s.process->Kill();
    s.restart_at = Clock::now() + milliseconds(down_ms);
  }

  // Notices exits nobody asked for and restarts slots whose time has come.
  void Monitor() {
    for (auto& sp : slots_) {
      Slot& s = *sp;
      if (!s.want_up) continue;
      if (s.process->pid() > 0 && !s.process->Running()) {
        ++s.exits;
        const int st = s.process->last_status();
        const bool crash_fault = s.fault.starts_with("crash_");
        const bool by_fault = crash_fault && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        Log("server#" + std::to_string(s.index) + " exited (status " + std::to_string(st) +
            (by_fault ? ", its injected crash" : "") + ")");
        if (!by_fault && !s.killed_by_us) {
          Problem("server#" + std::to_string(s.index) + " exited by itself (wait status " +
                  std::to_string(st) + ", fault '" + s.fault + "'); log tail:\n" +
                  FileTail(s.process->log_path(), 3000));
        }
        s.restart_at = Clock::now() + milliseconds(300);
      }
      if (s.process->pid() > 0 && !s.fault.empty() && Clock::now() >= s.fault_until) {
        Log("server#" + std::to_string(s.index) + " restarted without " + s.fault);
        if (!StartSlot(s, "")) s.restart_at = Clock::now() + milliseconds(1000);
      }
      if (s.process->pid() <= 0 && Clock::now() >= s.restart_at) {
        // A crash fault fires once; the slot comes back clean.
        if (!StartSlot(s, "")) s.restart_at = Clock::now() + milliseconds(1000);
        else Log("server#" + std::to_string(s.index) + " restarted");
      }
    }
  }

  // Every slot up without faults; proxies plain.
  bool HealAll(int limit_ms) {
    for (auto& s : slots_) {
      if (s->redis_proxy) s->redis_proxy->Heal();
      if (s->db_proxy) s->db_proxy->Heal();
    }
    const auto deadline = Clock::now() + milliseconds(limit_ms);
    bool ok = true;
    for (auto& sp : slots_) {
      Slot& s = *sp;
      if (s.process->pid() > 0 && !s.process->Running()) Monitor();
      bool up = s.process->pid() > 0 && s.fault.empty();
      while (!up && Clock::now() < deadline) {
        up = StartSlot(s, "");
        if (!up) SleepMs(1000);
      }
      if (!up) {
        Problem("server#" + std::to_string(s.index) + " could not be started again after the "
                "faults; log tail:\n" + FileTail(s.process->log_path(), 3000));
        ok = false;
      }
    }
    return ok;
  }

  // Sanitizer reports and aborts in any server's log.
  void ScanLogs() {
    for (auto& s : slots_) {
      const std::string log = FileTail(s->process->log_path(), 4 << 20);
      for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                 "runtime error:", "terminate called"}) {
        const auto at = log.find(marker);
        if (at != std::string::npos) {
          Problem("server#" + std::to_string(s->index) + " log (" + s->process->log_path() +
                  ") has '" + marker + "':\n" + log.substr(at, 2000));
        }
      }
    }
  }

 private:
  std::vector<std::string>& log_;
  std::vector<Violation>& problems_;
  std::vector<std::unique_ptr<Slot>> slots_;
  std::mutex mu_;
};

// ------------------------------------------------------------------------------ buyers

enum class Action { kConfirm, kCancel, kAbandon };

struct AttemptPlan {
  int quantity = 1;
  Action action = Action::kConfirm;
  int think_ms = 0;
};

struct BuyerPlan {
  std::int64_t start_ms = 0;  // from the sale's start
  std::vector<AttemptPlan> attempts;
};

std::vector<BuyerPlan> MakeBuyers(const ChaosConfig& c, std::mt19937_64& rng) {
  std::vector<BuyerPlan> plans(c.buyers);
  for (auto& p : plans) {
    p.start_ms = Uniform(rng, 0, c.window_ms);
    const int n = Uniform(rng, 1, 3);
    for (int i = 0; i < n; ++i) {
      AttemptPlan a;
      a.quantity = Uniform(rng, 1, 5) == 1 ? 2 : 1;
      const int roll = Uniform(rng, 1, 100);
      a.action = roll <= 55 ? Action::kConfirm : roll <= 78 ? Action::kCancel : Action::kAbandon;
      // Mostly prompt; sometimes past the hold (a late confirm must be refused, not sold).
      a.think_ms = Uniform(rng, 1, 100) <= 6 ? c.hold_seconds * 1000 + Uniform(rng, 200, 800)
                                            : Uniform(rng, 0, 400);
      p.attempts.push_back(a);
    }
  }
  return plans;
}

class BuyerRunner {
 public:
  BuyerRunner(const ChaosConfig& c, std::int64_t product, std::vector<std::uint16_t> ports,
              History& history, std::atomic<bool>& give_up)
      : c_(c), product_(product), ports_(std::move(ports)), history_(history), give_up_(give_up) {}

  void Run(const std::vector<BuyerPlan>& plans, std::int64_t start_unix_ms) {
    std::vector<int> order(plans.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::sort(order.begin(), order.end(),
              [&](int a, int b) { return plans[a].start_ms < plans[b].start_ms; });
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < c_.workers; ++w) {
      workers.emplace_back([&, w] {
        std::mt19937_64 rng(c_.seed * 31 + static_cast<std::uint64_t>(w));
        std::vector<std::unique_ptr<HttpClient>> clients;
        for (auto port : ports_) {
          clients.push_back(std::make_unique<HttpClient>(port));
          clients.back()->set_timeout_ms(c_.request_timeout_ms);
        }
        for (;;) {
          const std::size_t i = next.fetch_add(1);
          if (i >= order.size()) return;
          const int id = order[i];
          SleepMs(start_unix_ms + plans[id].start_ms - NowMs());
          RunBuyer(id, plans[id], clients, rng);
        }
      });
    }
    for (auto& t : workers) t.join();
  }

 private:
  using Clients = std::vector<std::unique_ptr<HttpClient>>;

  Event Send(int buyer, Op op, const std::string& key, int quantity, Clients& clients,
             std::mt19937_64& rng) {
    Event e;
    e.buyer = buyer;
    e.op = op;
    e.key = key;
    e.quantity = quantity;
    e.server = static_cast<int>(rng() % clients.size());
    testing::Call call;
    call.token = Token(history_.buyers[buyer].user);
    if (op == Op::kReserve) {
      call.target = "/purchase/reserve";
      call.body = json::serialize(json::object{{"productId", product_}, {"quantity", quantity}});
      call.headers = {{"Idempotency-Key", key}};
    } else {
      call.target = op == Op::kConfirm ? "/purchase/confirm" : "/purchase/cancel";
      call.body = json::serialize(json::object{{"reservationId", key}});
    }
    e.sent_ms = NowMs();
    Reply r = clients[e.server]->Send(call);
    e.answered_ms = NowMs();
    e.status = r.status;
    e.code = r.ErrorCode();
    if (r.status >= 500) e.detail = r.body.substr(0, 240);
    if (op == Op::kReserve && (r.status == 200 || r.status == 201) && r.json.is_object()) {
      const auto& o = r.json.as_object();
      if (auto* rid = o.if_contains("reservationId"); rid && rid->is_string()) {
        e.rid = std::string(rid->as_string());
      }
      if (auto* exp = o.if_contains("expiresAt"); exp && exp->is_string()) {
        e.expires_at_ms = ParseIsoUtcMs(std::string(exp->as_string())).value_or(0);
      }
      if (auto* st = o.if_contains("state"); st && st->is_string()) {
        e.state = std::string(st->as_string());
      }
    }
    history_.buyers[buyer].events.push_back(e);
    return e;
  }

  static bool Retryable(const Event& e) {
    return e.status == 0 || e.status >= 500 || e.code == "CONFIRM_IN_PROGRESS";
  }

  // Sends until a definite answer, with the same key or id, within the op deadline.
  Event UntilDefinite(int buyer, Op op, const std::string& key, int quantity, Clients& clients,
                      std::mt19937_64& rng) {
    const auto deadline = Clock::now() + milliseconds(c_.op_deadline_ms);
    Event e;
    for (int attempt = 0; attempt < 80; ++attempt) {
      e = Send(buyer, op, key, quantity, clients, rng);
      if (!Retryable(e) || give_up_ || Clock::now() >= deadline) return e;
      SleepMs(std::min(50 << std::min(attempt, 3), 400) + Uniform(rng, 0, 100));
    }
    return e;
  }

  void RunBuyer(int id, const BuyerPlan& plan, Clients& clients, std::mt19937_64& rng) {
    for (std::size_t a = 0; a < plan.attempts.size(); ++a) {
      const AttemptPlan& at = plan.attempts[a];
      const std::string key = "b" + std::to_string(id) + "-a" + std::to_string(a) + "-" +
                              std::to_string(c_.seed % 1000000007ULL);
      Event r = UntilDefinite(id, Op::kReserve, key, at.quantity, clients, rng);
      if (r.rid.empty()) {
        if (r.code == "SOLD_OUT" || r.code == "LIMIT_REACHED") {
          SleepMs(Uniform(rng, 200, 800));
          continue;
        }
        return;  // gave up or refused outright
      }
      SleepMs(at.think_ms);
      if (at.action == Action::kConfirm) {
        UntilDefinite(id, Op::kConfirm, r.rid, 0, clients, rng);
      } else if (at.action == Action::kCancel) {
        UntilDefinite(id, Op::kCancel, r.rid, 0, clients, rng);
      }
      SleepMs(Uniform(rng, 0, 300));
    }
  }

  const ChaosConfig& c_;
  std::int64_t product_;
  std::vector<std::uint16_t> ports_;
  History& history_;
  std::atomic<bool>& give_up_;
};

// ------------------------------------------------------------------------------- faults

void Apply(const ScheduledFault& f, Cluster& cluster, ServiceControl& svc) {
  auto& slots = cluster.slots();
  Slot& slot = *slots.at(f.slot % slots.size());
  const std::string where = "server#" + std::to_string(slot.index);
  switch (f.fault) {
    case Fault::kKillServer:
      cluster.Log("SIGKILL " + where + ", down " + std::to_string(f.param) + " ms");
      cluster.KillSlot(slot, f.param);
      break;
    case Fault::kCrashBeforeCommit:
    case Fault::kCrashAfterCommit:
      cluster.Log("restart " + where + " with TICKETING_FAULT=" + FaultName(f.fault));
      if (!cluster.StartSlot(slot, FaultName(f.fault))) slot.restart_at = Clock::now();
      break;
    case Fault::kStallBeforeInsert: {
      const std::string fault = "stall_before_insert:" + std::to_string(f.param);
      cluster.Log("restart " + where + " with TICKETING_FAULT=" + fault);
      if (!cluster.StartSlot(slot, fault)) slot.restart_at = Clock::now();
      break;
    }
    case Fault::kRedisRestart:
      cluster.Log(std::string("redis-server ") + (f.param ? "SIGKILL" : "SHUTDOWN NOSAVE") +
                  ", restart from its AOF");
      {
        const pid_t before = svc.RedisPid();
        if (!svc.RestartRedis(f.param != 0)) cluster.Problem("redis-server did not come back");
        cluster.Log("redis-server back (pid " + std::to_string(before) + " -> " +
                    std::to_string(svc.RedisPid()) + ")");
      }
      break;
    case Fault::kRedisFlush: {
      cluster.Log("redis FLUSHALL");
      Stores st(testing::SharedServices());
      try {
        st.Redis({"FLUSHALL"});
      } catch (const std::exception& e) {
        cluster.Log(std::string("FLUSHALL failed: ") + e.what());
      }
      break;
    }
    case Fault::kRedisPause:
      cluster.Log("redis SIGSTOP for " + std::to_string(f.param) + " ms");
      svc.PauseRedis(true);
      SleepMs(f.param);
      svc.PauseRedis(false);
      cluster.Log("redis SIGCONT");
      break;
    case Fault::kDbRestart:
      cluster.Log(std::string("mariadbd ") + (f.param ? "SIGKILL" : "stop") + " and start");
      {
        const pid_t before = svc.DbPid();
        if (!svc.RestartDb(f.param != 0)) cluster.Problem("mariadbd did not come back");
        cluster.Log("mariadbd back (pid " + std::to_string(before) + " -> " +
                    std::to_string(svc.DbPid()) + ")");
      }
      break;
    case Fault::kDbPause:
      cluster.Log("mariadbd SIGSTOP for " + std::to_string(f.param) + " ms");
      svc.PauseDb(true);
      SleepMs(f.param);
      svc.PauseDb(false);
      cluster.Log("mariadbd SIGCONT");
      break;
    case Fault::kProxyLatency:
    case Fault::kProxyDrop:
    case Fault::kProxyBlackhole: {
      FaultProxy* p = cluster.Proxy(slot.index, f.redis_link);
      if (!p) break;
      if (f.fault == Fault::kProxyDrop) {
        cluster.Log(p->name() + " drop all connections");
        p->DropAll();
      } else if (f.fault == Fault::kProxyLatency) {
        cluster.Log(p->name() + " latency " + std::to_string(f.param % 1000) + " ms for " +
                    std::to_string(f.param / 1000) + " s");
        p->SetLatencyMs(f.param % 1000);
        SleepMs(f.param / 1000 * 1000);
        p->SetLatencyMs(0);
      } else {
        cluster.Log(p->name() + " blackhole for " + std::to_string(f.param) + " ms");
        p->SetBlackhole(true);
        SleepMs(f.param);
        p->SetBlackhole(false);
        cluster.Log(p->name() + " healed");
      }
      break;
    }
  }
}

Snapshot TakeSnapshot(std::int64_t product) {
  Stores st(testing::SharedServices());
  const std::string id = std::to_string(product);
  Snapshot s;
  s.total_stock = st.SqlInt("SELECT total_stock FROM products WHERE id=" + id);
  s.db_stock = st.SqlInt("SELECT stock FROM products WHERE id=" + id);
  const std::string rows = st.Sql(
      "SET STATEMENT group_concat_max_len = 268435456 FOR SELECT GROUP_CONCAT(CONCAT(reservation_id, ' ', user_id, ' ', quantity) SEPARATOR ',') "
      "FROM orders WHERE product_id=" + id);
  const long long count = st.SqlInt("SELECT COUNT(*) FROM orders WHERE product_id=" + id);
  std::stringstream all(rows == "NULL" ? "" : rows);
  std::string item;
  while (std::getline(all, item, ',')) {
    std::stringstream one(item);
    OrderRow r;
    one >> r.rid >> r.user >> r.quantity;
    s.orders.push_back(r);
  }
  if (static_cast<long long>(s.orders.size()) != count) {
    throw std::runtime_error("orders listing truncated: " + std::to_string(s.orders.size()) +
                             " of " + std::to_string(count));
  }
  const std::string avail = st.Redis({"GET", Stores::Prefix(product) + ":avail"});
  s.redis_available = avail == "NIL" ? -1 : std::stoll(avail);
  s.redis_live_held = st.HeldUnits(product, true);
  return s;
}

// After the faults: buyers done, every hold expired or settled, Redis rebuilt.
bool Settle(std::int64_t product, const std::vector<std::uint16_t>& ports, int limit_ms) {
  return Eventually(
      [&] {
        try {
          for (auto port : ports) {  // a product missing in Redis is rebuilt on read
            HttpClient c(port);
            c.set_timeout_ms(3000);
            c.Get("/products/" + std::to_string(product));
          }
          Snapshot s = TakeSnapshot(product);
          return s.redis_live_held == 0 && s.redis_available == s.db_stock;
        } catch (const std::exception&) {
          return false;
        }
      },
      limit_ms, 250);
}

std::int64_t CreateProduct(std::uint16_t port, const ChaosConfig& c) {
  HttpClient api(port);
  api.set_timeout_ms(10000);
  json::object body{{"name", "Chaos " + c.name}, {"price", 7}, {"stock", c.stock},
                    {"perUserLimit", c.per_user_limit}, {"holdSeconds", c.hold_seconds}};
  for (int attempt = 0; attempt < 20; ++attempt) {
    Reply r = api.Post("/admin/products", json::serialize(body), Token("chaos-ops", true));
    if (r.status == 201) return r.json.at("id").as_int64();
    SleepMs(500);
  }
  throw std::runtime_error("could not create the product");
}

}  // namespace

std::vector<ScheduledFault> MakeSchedule(const ChaosConfig& c, std::mt19937_64& rng) {
  std::vector<ScheduledFault> out;
  if (c.faults.empty()) return out;
  std::int64_t t = Uniform(rng, 600, 1200);
  std::vector<Fault> bag;  // every fault of the family once, in random order, then again
  while (t < c.window_ms - 1500) {
    if (bag.empty()) {
      bag = c.faults;
      std::shuffle(bag.begin(), bag.end(), rng);
    }
    ScheduledFault f;
    f.at_ms = t;
    f.fault = bag.back();
    bag.pop_back();
    f.slot = Uniform(rng, 0, c.servers - 1);
    f.redis_link = Uniform(rng, 0, 1) == 0;
    switch (f.fault) {
      case Fault::kKillServer: f.param = Uniform(rng, 0, 1500); break;
      case Fault::kStallBeforeInsert: f.param = Uniform(rng, 5000, 6500); break;  // > lease
      case Fault::kRedisRestart: f.param = Uniform(rng, 0, 3) != 0; break;  // mostly SIGKILL
      case Fault::kRedisPause: f.param = Uniform(rng, 800, 2000); break;    // > REDIS_TIMEOUT
      case Fault::kDbRestart: f.param = Uniform(rng, 0, 1); break;
      case Fault::kDbPause: f.param = Uniform(rng, 1200, 3000); break;      // > DB_TIMEOUT
      case Fault::kProxyLatency:
        f.param = Uniform(rng, 2, 4) * 1000 + Uniform(rng, 20, 300);  // seconds*1000 + ms
        break;
      case Fault::kProxyBlackhole: f.param = Uniform(rng, 800, 2500); break;
      default: break;
    }
    out.push_back(f);
    t += Uniform(rng, c.fault_gap_min_ms, c.fault_gap_max_ms);
  }
  return out;
}

std::string RunResult::Report() const {
  std::ostringstream os;
  os << "CHAOS_SEED=" << history.seed << "  " << Describe(summary) << ", "
     << fault_log.size() << " fault-log lines, " << seconds << " s\n";
  for (const auto& l : fault_log) os << "  | " << l << "\n";
  if (!violations.empty()) os << Explain(history, snapshot, violations);
  return os.str();
}

RunResult RunSale(const ChaosConfig& config) {
  const auto t0 = Clock::now();
  const Services& services = testing::SharedServices();
  RunResult result;
  std::vector<Violation> problems;
  std::cout << "[chaos] " << config.name << ": CHAOS_SEED=" << config.seed << std::endl;
  std::mt19937_64 rng(config.seed);
  const auto schedule = MakeSchedule(config, rng);
  const auto plans = MakeBuyers(config, rng);

  ServiceControl svc(services);
  svc.Heal();
  Cluster cluster(config, services, result.fault_log, problems);
  for (auto& s : cluster.slots()) {
    if (!cluster.StartSlot(*s, "")) throw std::runtime_error("a server did not start");
  }
  const auto ports = cluster.Ports();

  History& h = result.history;
  h.seed = config.seed;
  h.total_stock = config.stock;
  h.per_user_limit = config.per_user_limit;
  h.hold_seconds = config.hold_seconds;
  h.product = CreateProduct(ports[0], config);
  h.buyers.resize(config.buyers);
  for (int i = 0; i < config.buyers; ++i) {
    h.buyers[i].id = i;
    h.buyers[i].user = "c" + std::to_string(h.product) + "-u" + std::to_string(i);
  }

  std::atomic<bool> give_up{false};
  const std::int64_t start = NowMs() + 200;
  BuyerRunner runner(config, h.product, ports, h, give_up);
  std::thread buyers([&] { runner.Run(plans, start); });

  bool redis_lost = false;
  {
    std::size_t next = 0;
    while (NowMs() < start + config.window_ms) {
      if (next < schedule.size() && NowMs() >= start + schedule[next].at_ms) {
        const auto& f = schedule[next++];
        if (f.fault == Fault::kRedisFlush || (f.fault == Fault::kRedisRestart && f.param)) {
          redis_lost = true;
        }
        try {
          Apply(f, cluster, svc);
        } catch (const std::exception& e) {
          cluster.Log(std::string("fault step failed: ") + e.what());
          svc.Heal();
        }
      }
      cluster.Monitor();
      SleepMs(50);
    }
  }
  svc.Heal();
  cluster.Log("faults over; healing");
  cluster.HealAll(60000);
  // Buyers still retrying finish against the healed cluster; past this, they stop retrying.
  std::thread stopper([&] {
    for (int i = 0; i < 600 && !give_up; ++i) SleepMs(100);
    give_up = true;
  });
  buyers.join();
  give_up = true;
  stopper.join();
  cluster.Monitor();
  cluster.Log("buyers done");

  const int settle_ms = (config.hold_seconds + 3 * kLeaseSeconds) * 1000 + 10000;
  if (!Settle(h.product, ports, settle_ms)) {
    cluster.Log("stores did not settle within " + std::to_string(settle_ms) + " ms");
  }
  cluster.Monitor();
  cluster.ScanLogs();
  result.snapshot = TakeSnapshot(h.product);
  CheckOptions opts;
  opts.expiry_is_exact = !redis_lost;
  result.violations = Check(h, result.snapshot, opts, &result.summary);
  for (auto& p : problems) result.violations.push_back(p);
  result.seconds =
      std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count() / 1000.0;
  return result;
}

// ---------------------------------------------------------------------------------- soak

namespace {

long ProcField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}

long OpenFds(pid_t pid) {
  std::error_code ec;
  long n = 0;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return ec && n == 0 ? -1 : n;
}

std::string InfoField(Stores& st, const std::string& section, const std::string& field) {
  const std::string info = st.Redis({"INFO", section});
  const auto at = info.find(field + ":");
  if (at == std::string::npos) return "";
  const auto end = info.find_first_of("\r\n", at);
  return info.substr(at + field.size() + 1, end - at - field.size() - 1);
}

}  // namespace

std::vector<std::string> RunSoak(const SoakConfig& sc) {
  const Services& services = testing::SharedServices();
  std::vector<std::string> out;
  std::vector<std::string> log;
  std::vector<Violation> problems;
  ChaosConfig c;
  c.name = "soak";
  c.servers = sc.servers;
  c.stock = 1000000;
  c.per_user_limit = 1000000;
  c.hold_seconds = 2;
  Cluster cluster(c, services, log, problems);
  for (auto& s : cluster.slots()) {
    if (!cluster.StartSlot(*s, "")) throw std::runtime_error("a soak server did not start");
  }
  const auto ports = cluster.Ports();
  const std::int64_t product = CreateProduct(ports[0], c);

  std::mutex mu;
  std::vector<int> latencies_us;  // since the last sample, guarded by mu
  long long requests = 0, errors = 0;
  std::atomic<bool> stop{false};
  std::atomic<long long> started{0};
  const int workers = 24;
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(w) * 7919 + 17);
      std::vector<std::unique_ptr<HttpClient>> clients;
      for (auto port : ports) {
        clients.push_back(std::make_unique<HttpClient>(port));
        clients.back()->set_timeout_ms(5000);
      }
      auto timed = [&](const testing::Call& call) {
        const auto a = Clock::now();
        Reply r = clients[rng() % clients.size()]->Send(call);
        const int us = static_cast<int>(
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - a).count());
        std::lock_guard lock(mu);
        latencies_us.push_back(us);
        ++requests;
        if (r.status == 0 || r.status >= 500) ++errors;
        return r;
      };
      while (!stop) {
        // Constant arrival rate: buyer n starts at n / rate seconds.
        const long long n = started.fetch_add(1);
        const auto due = t0 + milliseconds(n * 1000 / sc.rate_per_second);
        std::this_thread::sleep_until(due);
        if (stop) return;
        const std::string user = "soak-u" + std::to_string(n % sc.users);
        testing::Call reserve{"POST", "/purchase/reserve",
                              json::serialize(json::object{{"productId", product}}),
                              Token(user)};
        reserve.headers = {{"Idempotency-Key", "s" + std::to_string(n)}};
        Reply r = timed(reserve);
        if ((r.status != 201 && r.status != 200) || !r.json.is_object()) continue;
        const auto* rid_value = r.json.as_object().if_contains("reservationId");
        if (!rid_value || !rid_value->is_string()) continue;
        const std::string rid(rid_value->as_string());
        const int roll = static_cast<int>(rng() % 10);
        const std::string body = json::serialize(json::object{{"reservationId", rid}});
        if (roll < 3) timed({"POST", "/purchase/confirm", body, Token(user)});
        else if (roll < 7) timed({"POST", "/purchase/cancel", body, Token(user)});
      }
    });
  }

  std::ofstream csv(sc.csv_path);
  csv << "minute,elapsed_s,requests,errors,p50_ms,p99_ms";
  for (std::size_t i = 0; i < ports.size(); ++i) csv << ",rss_kb_" << i << ",fds_" << i;
  csv << ",redis_used_memory,redis_dbsize,orders\n";
  Stores st(services);
  const int samples = std::max(1, sc.minutes * 60 / sc.sample_seconds);
  for (int sample = 1; sample <= samples; ++sample) {
    std::this_thread::sleep_until(t0 + std::chrono::seconds(sc.sample_seconds * sample));
    std::vector<int> lat;
    long long req = 0, err = 0;
    {
      std::lock_guard lock(mu);
      lat.swap(latencies_us);
      req = requests;
      err = errors;
      requests = errors = 0;
    }
    std::sort(lat.begin(), lat.end());
    auto q = [&](double p) {
      return lat.empty() ? 0.0 : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))] / 1000.0;
    };
    const double elapsed =
        std::chrono::duration_cast<milliseconds>(Clock::now() - t0).count() / 1000.0;
    std::ostringstream line;
    line << sample * sc.sample_seconds / 60.0 << "," << elapsed << "," << req << "," << err << ","
         << q(0.50) << "," << q(0.99);
    for (auto& s : cluster.slots()) {
      const pid_t pid = s->process->pid();
      line << "," << ProcField(pid, "VmRSS") << "," << OpenFds(pid);
    }
    line << "," << InfoField(st, "memory", "used_memory") << "," << st.Redis({"DBSIZE"}) << ","
         << st.Sql("SELECT COUNT(*) FROM orders WHERE product_id=" + std::to_string(product));
    csv << line.str() << "\n" << std::flush;
    std::cout << "[soak] " << line.str() << std::endl;
    cluster.Monitor();
  }
  stop = true;
  for (auto& t : threads) t.join();
  if (!Settle(product, ports, 30000)) out.push_back("soak: stores did not settle");
  // Aggregates, not a listing: a long soak makes hundreds of thousands of orders.
  const std::string id = std::to_string(product);
  const long long total = st.SqlInt("SELECT total_stock FROM products WHERE id=" + id);
  const long long db_stock = st.SqlInt("SELECT stock FROM products WHERE id=" + id);
  const long long sold =
      st.SqlInt("SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE product_id=" + id);
  const long long available = st.Available(product);
  const long long live_held = st.HeldUnits(product, true);
  std::cout << "[soak] books: total " << total << ", sold " << sold << ", database stock "
            << db_stock << ", Redis available " << available << ", live held " << live_held
            << std::endl;
  if (sold + db_stock != total) out.push_back("soak: orders + stock != total");
  if (available + live_held != db_stock) {
    out.push_back("soak: Redis available + held != database stock");
  }
  cluster.Monitor();
  cluster.ScanLogs();
  for (auto& p : problems) out.push_back(p.what);
  return out;
}

}  // namespace ticketing::chaos
