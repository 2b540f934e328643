#include "loadgen/open_loop.hpp"

#include <algorithm>
#include <cmath>

namespace ticketing::loadgen {

std::int64_t ArrivalSchedule::Total(double rate, double duration_seconds, std::int64_t cap) {
  if (rate <= 0) return 0;
  if (duration_seconds <= 0) return cap;
  // Arrivals due strictly before the end: i / rate < duration.
  const auto n = static_cast<std::int64_t>(std::ceil(rate * duration_seconds - 1e-9));
  return std::min(cap, std::max<std::int64_t>(0, n));
}

std::int64_t ArrivalSchedule::DueNs(std::int64_t i) const {
  // In long double: i * 1e9 / rate stays exact to the nanosecond for any run length used here.
  return static_cast<std::int64_t>(std::llround(static_cast<long double>(i) * 1e9L / rate_));
}

ArrivalLatency MeasureArrival(std::int64_t due_ns, std::int64_t sent_ns, std::int64_t answered_ns) {
  ArrivalLatency l;
  // A timer may fire a hair early; never report a send "before" it was due.
  const std::int64_t sent = std::max(sent_ns, due_ns);
  l.corrected = (answered_ns - due_ns) / 1000;
  l.service = (answered_ns - sent_ns) / 1000;
  l.start_lag = (sent - due_ns) / 1000;
  return l;
}

}  // namespace ticketing::loadgen
