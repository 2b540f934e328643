#include "loadgen/runner.hpp"

#include "auth/jwt.hpp"
#include "loadgen/api_client.hpp"
#include "common/iso_time.hpp"
#include "loadgen/engine.hpp"
#include "loadgen/queue_mode.hpp"
#include "loadgen/report.hpp"
#include "loadgen/verify.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <fstream>
#include <ctime>
#include <iomanip>
#include <functional>
#include <mutex>
#include <optional>
#include <ostream>
#include <sstream>
#include <thread>

namespace ticketing::loadgen {
namespace {

std::string QueueText(const QueueStats& q) {
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  out << "waiting room\n"
      << "  joined          " << q.joined << " (" << q.JoinsPerSecond() << " joins/s)\n"
      << "  join latency    p50 " << q.join_latency.QuantileMicros(0.5) / 1000 << " ms, p99 "
      << q.join_latency.QuantileMicros(0.99) / 1000 << " ms\n"
      << "  wait to admit   p50 " << q.wait.QuantileMicros(0.5) / 1e6 << " s, p99 "
      << q.wait.QuantileMicros(0.99) / 1e6 << " s, longest " << q.longest_wait_us / 1e6
      << " s\n"
      << "  status polls    " << q.polls << "\n  outcomes       ";
  for (const auto& [k, n] : q.outcomes) out << " " << k << "=" << n;
  out << "\n";
  return out.str();
}

}  // namespace

namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool WriteAll(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// The live line on stderr: sent, answered, statuses, transport errors, open connections, req/s.
class ProgressLine {
 public:
  ProgressLine(const Progress& p, std::ostream& err, bool enabled) : p_(p), err_(err) {
    if (enabled) thread_ = std::thread([this] { Loop(); });
  }
  ~ProgressLine() { Stop(); }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
      thread_.join();
      err_ << "\n";
    }
  }

 private:
  void Loop() {
    const auto start = Clock::now();
    auto last = start;
    std::uint64_t last_answered = 0;
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_; })) {
      const auto now = Clock::now();
      const auto answered = p_.answered.load(std::memory_order_relaxed);
      const double dt = std::chrono::duration<double>(now - last).count();
      const double rate = dt > 0 ? static_cast<double>(answered - last_answered) / dt : 0;
      last = now;
      last_answered = answered;
      std::ostringstream line;
      line << "\r[" << std::fixed << std::setprecision(1)
           << std::chrono::duration<double>(now - start).count() << "s] sent "
           << p_.sent.load(std::memory_order_relaxed) << " answered " << answered << " |";
      for (int code = 100; code < 600; ++code) {
        if (auto n = p_.status[code].load(std::memory_order_relaxed)) line << " " << code << ":" << n;
      }
      line << " | transport " << p_.transport_errors.load(std::memory_order_relaxed) << " | open "
           << p_.open.load(std::memory_order_relaxed) << " | " << std::setprecision(0) << rate
           << " req/s   ";
      err_ << line.str() << std::flush;
    }
  }

  const Progress& p_;
  std::ostream& err_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

struct WorkerProc {
  pid_t pid = -1;
  int result_fd = -1;  // worker -> parent: "R <open>\n" (connect-first), then its stats JSON
  int go_fd = -1;      // parent -> worker: one byte = start the load
  std::string data;
  bool ready = false;
  bool eof = false;
};

// Forks K workers, each running its share; merges their stats. Must be called before this
// process starts any thread.
RunStats RunWorkers(const Options& o, std::int64_t product_id, Progress* progress,
                    std::ostream& err, const std::function<void()>& after_fork) {
  std::vector<WorkerProc> workers(static_cast<std::size_t>(o.processes));
  for (int i = 0; i < o.processes; ++i) {
    int res[2], go[2];
    if (pipe(res) != 0 || pipe(go) != 0) throw std::runtime_error("pipe failed");
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error(std::string("fork failed: ") + std::strerror(errno));
    if (pid == 0) {
      for (int j = 0; j < i; ++j) {
        close(workers[static_cast<std::size_t>(j)].result_fd);
        close(workers[static_cast<std::size_t>(j)].go_fd);
      }
      close(res[0]);
      close(go[1]);
      EngineParams p;
      p.options = &o;
      p.product_id = product_id;
      p.worker_index = i;
      p.worker_count = o.processes;
      p.progress = progress;
      p.barrier = [&](std::int64_t open) {
        WriteAll(res[1], "R " + std::to_string(open) + "\n");
        char c = 0;
        while (read(go[0], &c, 1) < 0 && errno == EINTR) {
        }
      };
      int code = 0;
      try {
        RunStats s = RunEngine(p);
        if (!WriteAll(res[1], json::serialize(s.ToJson()))) code = 3;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "loadgen worker %d: %s\n", i, e.what());
        code = 3;
      }
      close(res[1]);
      _exit(code);
    }
    close(res[1]);
    close(go[0]);
    workers[static_cast<std::size_t>(i)] = {pid, res[0], go[1], {}, false, false};
  }

  after_fork();
  bool released = !o.connect_first;
  std::size_t open_sum = 0;
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<WorkerProc*> owners;
    for (auto& w : workers) {
      if (!w.eof) {
        fds.push_back({w.result_fd, POLLIN, 0});
        owners.push_back(&w);
      }
    }
    if (fds.empty()) break;
    if (poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) break;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      auto& w = *owners[k];
      char buf[65536];
      ssize_t n = read(w.result_fd, buf, sizeof buf);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        w.eof = true;
        close(w.result_fd);
        continue;
      }
      w.data.append(buf, static_cast<std::size_t>(n));
      if (!released && !w.ready) {
        auto nl = w.data.find('\n');
        if (nl != std::string::npos && w.data.rfind("R ", 0) == 0) {
          w.ready = true;
          open_sum += std::stoull(w.data.substr(2, nl - 2));
          w.data.erase(0, nl + 1);
        }
      }
    }
    if (!released) {
      bool all = true;
      for (auto& w : workers) all = all && (w.ready || w.eof);
      if (all) {
        err << "connect-first: " << open_sum << " connections open in " << o.processes
            << " processes; starting the load\n";
        for (auto& w : workers) WriteAll(w.go_fd, "g");
        released = true;
      }
    }
  }
  RunStats total;
  int failed = 0;
  for (auto& w : workers) {
    close(w.go_fd);
    int status = 0;
    waitpid(w.pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
    try {
      if (!w.data.empty()) total.Merge(RunStats::FromJson(json::parse(w.data)));
    } catch (const std::exception& e) {
      ++failed;
      err << "loadgen: bad report from worker " << w.pid << ": " << e.what() << "\n";
    }
  }
  if (failed) throw std::runtime_error(std::to_string(failed) + " worker process(es) failed");
  return total;
}

}  // namespace

long RaiseOpenFileLimit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return -1;
  r.rlim_cur = r.rlim_max;
  setrlimit(RLIMIT_NOFILE, &r);
  getrlimit(RLIMIT_NOFILE, &r);
  return static_cast<long>(r.rlim_cur);
}

int Run(const Options& o, std::ostream& out, std::ostream& err) {
  const long nofile = RaiseOpenFileLimit();
  const long per_process = (o.connections + o.processes - 1) / o.processes;
  if (nofile > 0 && per_process + 64 > nofile) {
    err << "loadgen: " << per_process << " connections per process exceed the open-file limit "
        << nofile << "; use --processes " << (o.connections / (nofile - 64) + 1) << " or more\n";
    return 1;
  }
  if (!o.source_addresses.empty()) {
    const long per_address = (o.connections + static_cast<long>(o.source_addresses.size()) - 1) /
                             static_cast<long>(o.source_addresses.size());
    if (per_address > 28000) {
      err << "loadgen: warning: " << per_address << " connections per source address; the "
          << "ephemeral port range holds about 28,000 per address\n";
    }
  } else if (o.connections > 28000) {
    err << "loadgen: warning: more than 28,000 connections from one address; pass "
        << "--source-addresses 127.0.0.1,127.0.0.2,...\n";
  }
  std::signal(SIGPIPE, SIG_IGN);

  ApiClient api(o.host, o.port);
  Baseline before;
  RunInfo info;
  if (o.mode == Mode::kBuyers) {
    auth::JwtCodec jwt(o.secret);
    std::int64_t pid = o.product_id;
    if (pid == 0) {
      json::object body{{"name", "loadgen flash sale"}, {"price", 10},
                        {"stock", o.stock}, {"perUserLimit", o.per_user_limit}};
      if (o.hold_seconds > 0) body["holdSeconds"] = o.hold_seconds;
      if (o.queue) {
        body["queue"] = {{"enabled", true},
                         {"admitPerSecond", o.admit_per_second},
                         {"maxActive", o.max_active},
                         {"admissionTtlSeconds", o.admission_ttl_seconds},
                         {"powDifficulty", o.pow_difficulty}};
        if (o.sale_starts_in_seconds > 0) {
          body["saleStartsAt"] = FormatIsoUtcMs(
              std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count() +
              static_cast<std::int64_t>(o.sale_starts_in_seconds * 1000));
        }
      }
      auth::Identity admin{"loadgen-admin", true};
      auto r = api.Send("POST", "/admin/products", json::serialize(body), jwt.Sign(admin, UnixNow() + 3600));
      if (r.status != 201) {
        err << "loadgen: creating the product failed: " << r.status << " " << r.body << "\n";
        return 1;
      }
      pid = json::parse(r.body).as_object().at("id").to_number<std::int64_t>();
      err << "loadgen: created product " << pid << " with " << o.stock << " units\n";
    }
    std::string error;
    auto p = ReadProduct(api, pid, &error);
    if (!p) {
      err << "loadgen: cannot read product " << pid << ": " << error << "\n";
      return 1;
    }
    before.product_id = pid;
    before.product = *p;
    if (o.stores.Enabled()) {
      try {
        before.stores = ReadStores(o.stores, pid);
      } catch (const std::exception& e) {
        err << "loadgen: cannot read the stores before the run: " << e.what() << "\n";
        return 1;
      }
    }
    info.product_id = pid;
    info.stock = p->total;
  }

  Progress* progress = MapSharedProgress();
  QueueStats queue;
  const bool show = o.progress == "on" || (o.progress == "auto" && isatty(2));
  RunStats stats;
  try {
    if (o.queue) {
      ProgressLine line(*progress, err, show);
      stats = RunQueue(o, info.product_id, o.admit_per_second, queue, progress);
      line.Stop();
    } else if (o.processes > 1) {
      std::optional<ProgressLine> line;
      stats = RunWorkers(o, info.product_id, progress, err,
                         [&] { line.emplace(*progress, err, show); });
      line.reset();
    } else {
      ProgressLine line(*progress, err, show);
      EngineParams p;
      p.options = &o;
      p.product_id = info.product_id;
      p.progress = progress;
      p.barrier = [&](std::int64_t open) {
        err << "connect-first: " << open << " connections open; starting the load\n";
      };
      stats = RunEngine(p);
      line.Stop();
    }
  } catch (const std::exception& e) {
    err << "loadgen: " << e.what() << "\n";
    return 1;
  }
  info.peak_open = progress->peak_open.load();
  stats.SetSellOut(before.product.available, o.quantity);
  info.threads = o.threads > 0 ? o.threads
                               : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                                                 o.processes);

  auto report = JsonReport(o, info, stats, {});
  out << TextReport(report) << std::flush;
  if (o.queue) out << QueueText(queue) << std::flush;
  if (!o.plot_path.empty()) {
    std::string error;
    if (WritePlot(stats, o.plot_path, &error)) err << "loadgen: plot written to " << o.plot_path << "\n";
    else err << "loadgen: plot failed: " << error << "\n";
  }
  std::vector<Check> checks;
  if (o.verify) {
    checks = Verify(o, before, stats, api, err);
    info.verified = true;
    out << "checks\n" << ChecksText(checks) << std::flush;
  }
  report = JsonReport(o, info, stats, checks);
  if (o.queue) report["queue"] = queue.ToJson();
  if (!o.json_path.empty()) {
    std::ofstream f(o.json_path);
    f << json::serialize(report) << "\n";
    if (!f) {
      err << "loadgen: cannot write " << o.json_path << "\n";
      return 1;
    }
  }
  return report.at("ok").as_bool() ? 0 : 1;
}

}  // namespace ticketing::loadgen
