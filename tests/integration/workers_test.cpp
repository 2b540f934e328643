// `ticketing serve --workers N`: the supervisor runs N server processes on one port, replaces
// one that dies, stops them all on SIGTERM (exit 0), and takes them down with it if it dies.
// Worker pids are the supervisor's children (from /proc/*/stat); "serving" means holding a
// listening socket on the port (from /proc/net/tcp and /proc/PID/fd) and answering requests.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "auth/jwt.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/services.hpp"

namespace ticketing::testing {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

// "pid (comm) S ppid ...": state and parent of `pid`; false when it does not exist.
bool ReadStat(pid_t pid, char* state, pid_t* ppid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s;
  if (!std::getline(f, s)) return false;
  auto close = s.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(s.substr(close + 1));
  rest >> *state >> *ppid;
  return static_cast<bool>(rest);
}

// Running (not a zombie, not gone).
bool Alive(pid_t pid) {
  char state = 0;
  pid_t ppid = 0;
  return ReadStat(pid, &state, &ppid) && state != 'Z';
}

std::set<pid_t> LiveChildren(pid_t parent) {
  std::set<pid_t> out;
  DIR* d = opendir("/proc");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    char state = 0;
    pid_t ppid = 0;
    if (ReadStat(static_cast<pid_t>(pid), &state, &ppid) && ppid == parent && state != 'Z') {
      out.insert(static_cast<pid_t>(pid));
    }
  }
  closedir(d);
  return out;
}

// Inodes of the sockets listening on `port` (IPv4 and IPv6).
std::set<std::string> ListeningInodes(std::uint16_t port) {
  std::set<std::string> out;
  char hex[8];
  std::snprintf(hex, sizeof hex, ":%04X", port);
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream f(path);
    std::string line;
    std::getline(f, line);  // header
    while (std::getline(f, line)) {
      std::istringstream in(line);
      std::string slot, local, remote, st, queues, timer, retr, uid, timeout, inode;
      in >> slot >> local >> remote >> st >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (st == "0A" && local.size() > 5 && local.substr(local.size() - 5) == hex) {
        out.insert(inode);
      }
    }
  }
  return out;
}

// Whether `pid` holds a socket listening on `port`.
bool ListensOn(pid_t pid, std::uint16_t port) {
  const auto inodes = ListeningInodes(port);
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (!d) return false;
  bool found = false;
  while (dirent* e = readdir(d)) {
    char target[128];
    ssize_t n = readlink((dir + "/" + e->d_name).c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    std::string t(target, static_cast<std::size_t>(n));
    if (t.rfind("socket:[", 0) == 0 && inodes.count(t.substr(8, t.size() - 9))) found = true;
  }
  closedir(d);
  return found;
}

// Polls `ok` every 50 ms for up to `seconds`.
bool WaitFor(int seconds, const std::function<bool()>& ok) {
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < deadline) {
    if (ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ok();
}

// The supervisor's children once there are `n` of them, each listening on the port.
std::set<pid_t> ServingWorkers(pid_t supervisor, std::uint16_t port, std::size_t n) {
  std::set<pid_t> workers;
  WaitFor(60, [&] {
    workers = LiveChildren(supervisor);
    if (workers.size() != n) return false;
    for (pid_t w : workers) {
      if (!ListensOn(w, port)) return false;
    }
    return true;
  });
  return workers;
}

// Requests on fresh connections (so the kernel spreads them over the workers); the number of
// 200 answers.
int FreshConnectionGets(std::uint16_t port, const std::string& target, int n) {
  int ok = 0;
  for (int i = 0; i < n; ++i) {
    HttpClient client(port);
    client.set_timeout_ms(10000);
    if (client.Get(target).status == 200) ++ok;
  }
  return ok;
}

bool PlainBindSucceeds(std::uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs the binary with `server`'s environment and `args` to its exit (30 s at most; then
// SIGKILL); returns the wait status and leaves its output in `*output`.
int RunToExit(ServerProcess& server, const std::vector<std::string>& args, std::string* output) {
  std::vector<std::string> env_strings;
  for (auto& [k, v] : server.env()) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string bin = ServerBinary();
  std::vector<std::string> a = args;
  std::vector<char*> argv{bin.data()};
  for (auto& x : a) argv.push_back(x.data());
  argv.push_back(nullptr);
  const std::string out_path = server.log_path() + ".run";
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (chdir("/tmp") != 0) _exit(126);
    execve(bin.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  int status = -1;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *output = ReadFile(out_path);
  return status;
}

std::int64_t CreateProduct(std::uint16_t port, const std::string& log_path) {
  HttpClient api(port);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const auto token = auth::JwtCodec(kTestSecret).Sign({"ops", true}, now + 3600);
  auto r = api.Post("/admin/products",
                    json::serialize(json::object{{"name", "Workers"}, {"price", 5}, {"stock", 10}}),
                    token);
  EXPECT_EQ(r.status, 201) << r.body << "\n" << ReadFile(log_path);
  return r.status == 201 ? r.json.at("id").as_int64() : 0;
}

TEST(Workers, KilledWorkerIsReplacedAndSigtermStopsAllWithExitZero) {
  ServerProcess server(SharedServices(), {{"IO_THREADS", "1"}, {"DB_POOL_SIZE", "2"}});
  server.args() = {"serve", "--workers", "3"};
  server.Start();
  const pid_t supervisor = server.pid();
  const auto port = server.port();

  const auto workers = ServingWorkers(supervisor, port, 3);
  ASSERT_EQ(workers.size(), 3u) << ReadFile(server.log_path());
  // The port is the workers' alone: a plain bind by another program is refused, and so is a
  // second ticketing that was not asked to share it.
  EXPECT_FALSE(PlainBindSucceeds(port));
  {
    ServerProcess intruder(SharedServices(), {{"PORT", std::to_string(port)}, {"IO_THREADS", "1"}});
    std::string out;
    const int st = RunToExit(intruder, {}, &out);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1) << st << "\n" << out;
    EXPECT_NE(out.find("cannot listen"), std::string::npos) << out;
  }

  const auto product = CreateProduct(port, server.log_path());
  ASSERT_GT(product, 0);
  const std::string target = "/products/" + std::to_string(product);
  EXPECT_EQ(FreshConnectionGets(port, target, 30), 30);

  const pid_t victim = *workers.begin();
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  ASSERT_TRUE(WaitFor(10, [&] { return !Alive(victim); }));
  // The two others carry the load while the replacement starts.
  EXPECT_EQ(FreshConnectionGets(port, target, 30), 30);

  const auto after = ServingWorkers(supervisor, port, 3);
  ASSERT_EQ(after.size(), 3u) << "no replacement worker\n" << ReadFile(server.log_path());
  EXPECT_EQ(after.count(victim), 0u);
  std::set<pid_t> fresh;
  for (pid_t p : after) {
    if (!workers.count(p)) fresh.insert(p);
  }
  ASSERT_EQ(fresh.size(), 1u);
  EXPECT_TRUE(ListensOn(*fresh.begin(), port));
  EXPECT_EQ(FreshConnectionGets(port, target, 30), 30);
  const std::string log = ReadFile(server.log_path());
  EXPECT_NE(log.find("\"event\":\"worker_died\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"pid\":" + std::to_string(victim)), std::string::npos) << log;
  EXPECT_NE(log.find("\"signal\":9"), std::string::npos) << log;

  ASSERT_EQ(kill(supervisor, SIGTERM), 0);
  const int status = server.WaitExit(40);
  ASSERT_NE(status, -1) << "the supervisor did not exit within 40 s";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n"
                                                             << ReadFile(server.log_path());
  for (pid_t p : after) EXPECT_FALSE(Alive(p)) << "worker " << p << " still running";
  EXPECT_TRUE(PlainBindSucceeds(port));
}

TEST(Workers, WorkersStopWhenTheSupervisorDies) {
  ServerProcess server(SharedServices(), {{"IO_THREADS", "1"}, {"DB_POOL_SIZE", "2"}});
  server.args() = {"serve", "--workers", "2"};
  server.Start();
  const auto workers = ServingWorkers(server.pid(), server.port(), 2);
  ASSERT_EQ(workers.size(), 2u) << ReadFile(server.log_path());
  server.Kill();  // SIGKILL: no chance to forward anything
  EXPECT_TRUE(WaitFor(30, [&] {
    for (pid_t p : workers) {
      if (Alive(p)) return false;
    }
    return true;
  })) << "workers outlived their supervisor";
}

TEST(Workers, PortHeldByAnotherProgramIsRefused) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const auto port = ntohs(addr.sin_port);

  ServerProcess server(SharedServices(), {{"PORT", std::to_string(port)}, {"IO_THREADS", "1"}});
  std::string out;
  const int status = RunToExit(server, {"serve", "--workers", "2"}, &out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status << "\n" << out;
  EXPECT_NE(out.find("cannot listen"), std::string::npos) << out;
  EXPECT_EQ(out.find("worker_started"), std::string::npos) << out;
  close(fd);
}

TEST(Workers, BadWorkerCountIsAConfigurationError) {
  ServerProcess server(SharedServices());
  std::string out;
  for (const char* bad : {"0", "-1", "x", "2000"}) {
    server.env()["WORKERS"] = bad;
    int status = RunToExit(server, {}, &out);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << bad << " " << status;
    EXPECT_NE(out.find("WORKERS: expected"), std::string::npos) << out;
    server.env().erase("WORKERS");
    status = RunToExit(server, {"serve", "--workers", bad}, &out);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << bad << " " << status;
    EXPECT_NE(out.find("--workers: expected"), std::string::npos) << out;
  }
}

}  // namespace
}  // namespace ticketing::testing
