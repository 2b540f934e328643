#pragma once
// The real `ticketing` binary as a child process, configured to reach the test services.
#include "tests/support/services.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

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
  std::map<std::string, std::string>& env() { return env_; }
  const std::string& log_path() const { return log_path_; }

 private:
  std::map<std::string, std::string> env_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::string log_path_;
};

// A port nothing listens on right now.
std::uint16_t FreePort();
// Path of the built `ticketing` binary.
std::string ServerBinary();

}  // namespace ticketing::testing
