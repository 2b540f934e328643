#pragma once
// `ticketing serve --workers N`: a supervisor process that runs N copies of the server (each
// today's single-process Serve()) on one port through SO_REUSEPORT, so one machine holds more
// connections than one process' open-file limit and a crashed process costs 1/N of capacity
// for a moment instead of the whole server.
#include <chrono>
#include <optional>
#include <string_view>

namespace ticketing::app {

struct SupervisorOptions {
  int workers = 2;
  // After SIGTERM/SIGINT, how long the workers get to drain before they are SIGKILLed.
  std::chrono::milliseconds stop_timeout{15000};
  // Restart delay after a worker died: min_backoff, doubled for each further death of a worker
  // in that slot that had run less than `healthy_after`, at most max_backoff.
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::seconds healthy_after{10};
};

// Checks the configuration, reserves the port (a plain bind test: a port that another program
// holds is an error, exit 1), then runs `workers` processes of this binary's `serve --workers 1`
// with HTTP_SHARE_PORT=1, restarting any that dies (with backoff; logged). SIGTERM/SIGINT are
// forwarded to every worker; returns 0 once all exited cleanly, 1 if one had to be SIGKILLed
// after stop_timeout or exited with an error while draining, 2 on a configuration error.
int Supervise(const SupervisorOptions& options);

// A worker count: a number from 1 to 1024, or "auto" (one per core). nullopt: invalid.
std::optional<int> ParseWorkers(std::string_view value);

}  // namespace ticketing::app
