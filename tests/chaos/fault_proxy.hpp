#pragma once
// A TCP proxy on 127.0.0.1 between a server and Redis or MariaDB, with knobs for faults:
// added latency on every forwarded chunk, dropping every connection now, and blackholing
// (bytes are swallowed in both directions, connections stay open, as in a partition).
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace ticketing::chaos {

class FaultProxy {
 public:
  // Listens on a free 127.0.0.1 port and forwards to 127.0.0.1:`upstream_port`; runs its own
  // I/O thread until destroyed.
  explicit FaultProxy(std::uint16_t upstream_port, std::string name = "proxy");
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::uint16_t port() const;
  const std::string& name() const;
  // Delay added before each forwarded chunk, in both directions (0: none).
  void SetLatencyMs(int ms);
  // Closes every open connection (client and upstream side) at once; new ones are accepted.
  void DropAll();
  // On: nothing is forwarded any more (and new connections are not connected upstream);
  // off: connections opened from now on work again (the swallowed ones stay broken).
  void SetBlackhole(bool on);
  // Back to a plain proxy: no latency, no blackhole.
  void Heal();
  std::uint64_t connections() const;  // accepted so far

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ticketing::chaos
