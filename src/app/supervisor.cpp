#include "app/supervisor.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "metrics/log.hpp"

extern char** environ;

namespace ticketing::app {
namespace {

using Clock = std::chrono::steady_clock;

std::int64_t Millis(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// Binds (without listening) a socket with SO_REUSEPORT only. It proves the port is free now and
// keeps it for the supervisor's life: another program's bind is refused (it lacks
// SO_REUSEPORT, or is not this user), while the workers, which set SO_REUSEPORT, join. Never
// listening, it receives no connection. Returns the fd and the bound port, or -1 and errno.
int ReservePort(const std::string& address, std::uint16_t port, std::uint16_t* bound) {
  boost::system::error_code ec;
  auto ip = boost::asio::ip::make_address(address, ec);
  if (ec) {
    errno = EINVAL;
    return -1;
  }
  boost::asio::ip::tcp::endpoint endpoint(ip, port);
  int fd = socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
      bind(fd, endpoint.data(), static_cast<socklen_t>(endpoint.size())) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  *bound = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return fd;
}

struct Slot {
  pid_t pid = -1;
  Clock::time_point started;
  Clock::time_point restart_at;  // when pid < 0
  int quick_deaths = 0;          // consecutive deaths before healthy_after
};

boost::json::object ExitFields(int slot, pid_t pid, int status) {
  boost::json::object f{{"worker", slot}, {"pid", pid}};
  if (WIFEXITED(status)) f["exitCode"] = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) f["signal"] = WTERMSIG(status);
  return f;
}

}  // namespace

std::optional<int> ParseWorkers(std::string_view value) {
  if (value == "auto") return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  int n = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || p != value.data() + value.size() || n < 1 || n > 1024) {
    return std::nullopt;
  }
  return n;
}

int Supervise(const SupervisorOptions& o) {
  // Block the signals this loop waits for before any thread exists (the logger starts one), so
  // that none of them is delivered to another thread and kills the process by default.
  sigset_t waited, previous;
  sigemptyset(&waited);
  sigaddset(&waited, SIGCHLD);
  sigaddset(&waited, SIGTERM);
  sigaddset(&waited, SIGINT);
  pthread_sigmask(SIG_BLOCK, &waited, &previous);

  config::Config cfg;
  try {
    cfg = config::Load(config::EnvironmentLookup());
  } catch (const config::ConfigError& e) {
    std::cerr << "ticketing: configuration error: " << e.what() << "\n";
    return 2;
  }
  std::uint16_t port = 0;
  const int reserved = ReservePort(cfg.bind_address, cfg.port, &port);
  if (reserved < 0) {
    std::cerr << "ticketing: cannot listen on " << cfg.bind_address << ":" << cfg.port << ": "
              << std::strerror(errno) << "\n";
    return 1;
  }
  log::Init(cfg.log_level);

  // Everything a worker's exec needs is built here: between fork and exec only
  // async-signal-safe calls are allowed (this process has threads).
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    std::string_view kv(*e);
    if (kv.starts_with("PORT=") || kv.starts_with("HTTP_SHARE_PORT=") ||
        kv.starts_with("WORKERS=") || (cfg.io_threads == 0 && kv.starts_with("IO_THREADS="))) {
      continue;
    }
    env_strings.emplace_back(kv);
  }
  env_strings.push_back("PORT=" + std::to_string(port));
  env_strings.push_back("HTTP_SHARE_PORT=1");
  env_strings.push_back("WORKERS=1");
  // IO_THREADS unset means "one per core" for a lone server; split the cores over the workers.
  if (cfg.io_threads == 0) {
    env_strings.push_back("IO_THREADS=" + std::to_string(std::max(1, cores / o.workers)));
  }
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string arg0 = "ticketing", arg1 = "serve", arg2 = "--workers", arg3 = "1";
  char* argv[] = {arg0.data(), arg1.data(), arg2.data(), arg3.data(), nullptr};
  const pid_t self = getpid();

  std::vector<Slot> slots(static_cast<std::size_t>(o.workers));
  const auto spawn = [&](int i) {
    auto& slot = slots[static_cast<std::size_t>(i)];
    pid_t pid = fork();
    if (pid == 0) {
      // Die with the supervisor (SIGTERM: drain as on a normal stop), including when it died
      // before this line ran.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != self) _exit(1);
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      execve("/proc/self/exe", argv, envp.data());
      _exit(127);
    }
    if (pid < 0) {
      log::Error("worker_fork_failed", {{"worker", i}, {"error", std::strerror(errno)}});
      slot.restart_at = Clock::now() + o.max_backoff;
      return;
    }
    slot.pid = pid;
    slot.started = Clock::now();
    log::Info("worker_started", {{"worker", i}, {"pid", pid}});
  };

  log::Info("supervisor_started",
            {{"pid", self}, {"workers", o.workers}, {"address", cfg.bind_address}, {"port", port}});
  for (int i = 0; i < o.workers; ++i) spawn(i);

  bool stopping = false;
  bool failed_stop = false;
  Clock::time_point kill_at{};
  const auto alive = [&] {
    return std::count_if(slots.begin(), slots.end(), [](const Slot& s) { return s.pid > 0; });
  };
  const auto reap = [&] {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      auto it =
          std::find_if(slots.begin(), slots.end(), [pid](const Slot& s) { return s.pid == pid; });
      if (it == slots.end()) continue;
      const int i = static_cast<int>(it - slots.begin());
      const auto now = Clock::now();
      auto fields = ExitFields(i, pid, status);
      fields["uptimeMs"] = Millis(now - it->started);
      it->pid = -1;
      if (stopping) {
        const bool clean = (WIFEXITED(status) && WEXITSTATUS(status) == 0) ||
                           (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
        if (!clean) failed_stop = true;
        if (clean)
          log::Info("worker_stopped", std::move(fields));
        else
          log::Error("worker_stopped", std::move(fields));
        continue;
      }
      // min_backoff after a worker that had been up a while; doubled for each further death
      // in a row of one that had not.
      it->quick_deaths = now - it->started >= o.healthy_after ? 0 : it->quick_deaths + 1;
      auto backoff = o.min_backoff * (1LL << std::clamp(it->quick_deaths - 1, 0, 20));
      backoff = std::min<std::chrono::milliseconds>(backoff, o.max_backoff);
      it->restart_at = now + backoff;
      fields["restartInMs"] = backoff.count();
      log::Error("worker_died", std::move(fields));
    }
  };

  for (;;) {
    reap();
    auto now = Clock::now();
    if (!stopping) {
      for (int i = 0; i < o.workers; ++i) {
        auto& s = slots[static_cast<std::size_t>(i)];
        if (s.pid < 0 && now >= s.restart_at) spawn(i);
      }
    } else if (alive() == 0) {
      break;
    } else if (now >= kill_at) {
      for (auto& s : slots) {
        if (s.pid <= 0) continue;
        log::Error("worker_kill", {{"pid", s.pid}, {"afterMs", o.stop_timeout.count()}});
        kill(s.pid, SIGKILL);
      }
      failed_stop = true;
      for (auto& s : slots) {
        if (s.pid > 0 && waitpid(s.pid, nullptr, 0) == s.pid) s.pid = -1;
      }
      break;
    }
    // Sleep until a signal or the next due restart / kill deadline (1 s at most).
    auto wake = now + std::chrono::seconds(1);
    if (stopping) wake = std::min(wake, kill_at);
    for (const auto& s : slots) {
      if (!stopping && s.pid < 0) wake = std::min(wake, s.restart_at);
    }
    const auto wait_ns = std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now).count());
    timespec ts{static_cast<time_t>(wait_ns / 1'000'000'000),
                static_cast<long>(wait_ns % 1'000'000'000)};
    siginfo_t info{};
    const int sig = sigtimedwait(&waited, &info, &ts);
    if ((sig == SIGTERM || sig == SIGINT) && !stopping) {
      stopping = true;
      kill_at = Clock::now() + o.stop_timeout;
      log::Info("supervisor_stopping", {{"signal", sig}, {"workers", alive()}});
      for (const auto& s : slots) {
        if (s.pid > 0) kill(s.pid, SIGTERM);
      }
    }
  }
  close(reserved);
  log::Info("supervisor_stopped", {{"clean", !failed_stop}});
  spdlog::default_logger_raw()->flush();
  return failed_stop ? 1 : 0;
}

}  // namespace ticketing::app
