#include "tests/support/server_process.hpp"

#include "tests/support/http_client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ticketing::testing {

std::uint16_t FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string ServerBinary() {
  // Another build of the server (e.g. one from before a fix, to see a test fail against it).
  if (const char* other = std::getenv("TICKETING_SERVER_BINARY")) return other;
  return std::string(TICKETING_BINARY_DIR) + "/ticketing";
}

ServerProcess::ServerProcess(const Services& services, std::map<std::string, std::string> env) {
  env_ = services.env;
  env_["AUTH_JWT_SECRET"] = kTestSecret;
  env_["LOG_LEVEL"] = "info";
  env_["BIND_ADDRESS"] = "127.0.0.1";
  env_["IO_THREADS"] = "2";
  env_["DB_POOL_SIZE"] = "8";
  // Off unless a test asks for it: the reconciler repairs drift, and a test of another
  // mechanism (the sweeper, the loss watch, the chaos checker) must see that mechanism's
  // outcome, not the safety net's. reconcile_test runs it.
  env_["RECONCILE"] = "off";
  for (auto& [k, v] : env) env_[k] = v;
  if (!env_.count("PORT")) env_["PORT"] = std::to_string(FreePort());
  port_ = static_cast<std::uint16_t>(std::stoi(env_["PORT"]));
  log_path_ = services.dir + "/server-" + env_["PORT"] + ".log";
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Signal(SIGKILL);
}

void ServerProcess::Start() {
  std::vector<std::string> env_strings;
  for (auto& [k, v] : env_) env_strings.push_back(k + "=" + v);
  env_strings.push_back("PATH=/usr/bin:/bin");
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string bin = ServerBinary();
  std::vector<std::string> args = args_;
  std::vector<char*> argv{bin.data()};
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    // Run from the services dir so that no stray .env in the repo changes the config.
    if (chdir(env_.count("TEST_CWD") ? env_["TEST_CWD"].c_str() : "/tmp") != 0) _exit(126);
    execve(bin.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  HttpClient client(port_);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!Running()) throw std::runtime_error("ticketing exited at start; log: " + log_path_);
    if (client.Get("/health").status == 200) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("ticketing did not answer /health within 30 s; log: " + log_path_);
}

bool ServerProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    last_status_ = status;
    return false;
  }
  return true;
}

int ServerProcess::Signal(int sig) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

int ServerProcess::WaitExit(int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      last_status_ = status;
      return status;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

}  // namespace ticketing::testing
