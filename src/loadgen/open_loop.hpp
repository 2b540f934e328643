#pragma once
// The arithmetic of the open-loop mode (--rate): a constant arrival rate, each arrival's due
// time fixed in advance, and latency measured from that due time, so a server that falls
// behind is charged for the time requests waited to be sent (coordinated omission corrected,
// as wrk2 and HdrHistogram do), not only for the time it took once they were on the wire.
#include <cstdint>

namespace ticketing::loadgen {

class ArrivalSchedule {
 public:
  // `rate` arrivals per second over all processes; `total` arrivals in the run.
  ArrivalSchedule(double rate, std::int64_t total) : rate_(rate), total_(total) {}

  // Arrivals of a run of `duration_seconds` (0: none given) with at most `cap` of them.
  static std::int64_t Total(double rate, double duration_seconds, std::int64_t cap);

  // Nanoseconds after the start at which arrival `i` (0-based, global) is due: i / rate.
  std::int64_t DueNs(std::int64_t i) const;
  std::int64_t total() const { return total_; }
  double rate() const { return rate_; }

  // Arrivals are dealt round-robin to `lanes` senders (I/O threads of every process):
  // lane g gets g, g + lanes, g + 2 * lanes, ... First() is its first, -1 if none.
  std::int64_t First(int lane) const { return lane < total_ ? lane : -1; }
  std::int64_t Next(std::int64_t i, int lanes) const { return i + lanes < total_ ? i + lanes : -1; }

 private:
  double rate_;
  std::int64_t total_;
};

// The two latencies of one arrival, in microseconds: `corrected` from its due time (what a
// buyer who pressed "buy" at that moment waited), `service` from the moment it was written.
struct ArrivalLatency {
  std::int64_t corrected = 0;
  std::int64_t service = 0;
  std::int64_t start_lag = 0;  // sent - due: > 0 when it waited for a free connection
};
ArrivalLatency MeasureArrival(std::int64_t due_ns, std::int64_t sent_ns, std::int64_t answered_ns);

}  // namespace ticketing::loadgen
