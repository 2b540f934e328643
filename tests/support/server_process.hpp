#pragma once
// The real `ticketing` binary as a child process, configured to reach the test services.
#include "tests/support/services.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ticketing::testing {

inline const std::string kTestSecret = "test-secret-test-secret-test-secret-0123";

class ServerProcess {
 public:
  // `env` adds to or overrides the defaults (services' addresses, a free PORT, kTestSecret).
  explicit ServerProcess(const Services& services, std::map<std::string, std::string> env = {});
  ~ServerProcess();  // SIGKILLs a still-running child
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Starts the binary and waits until /health answers (fails the test after 30 s).
  void Start();
  // Sends `sig` and waits for the exit; returns the wait status.
  int Signal(int sig);
  void Kill() { Signal(9); }
  bool Running();
  // Waits for the child to exit by itself (up to `seconds`); returns the wait status or -1.
  int WaitExit(int seconds);

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }  // -1 when not running
  // Wait status of the last exit that Running() or WaitExit() observed (-1: none yet).
  int last_status() const { return last_status_; }
  std::map<std::string, std::string>& env() { return env_; }
  // Arguments after the binary's name (default none: `ticketing` alone = serve), e.g.
  // {"serve", "--workers", "3"}; read by Start().
  std::vector<std::string>& args() { return args_; }
  const std::string& log_path() const { return log_path_; }

 private:
  std::map<std::string, std::string> env_;
  std::vector<std::string> args_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  int last_status_ = -1;
  std::string log_path_;
};

// A port nothing listens on right now.
std::uint16_t FreePort();
// Path of the built `ticketing` binary (TICKETING_SERVER_BINARY, if set, names another).
std::string ServerBinary();

}  // namespace ticketing::testing
