#pragma once
// The client engine of one process: I/O threads with one io_context each, and persistent
// keep-alive connections (Asio coroutines over Beast) that each run buyers one after another
// from a shared counter.
#include "loadgen/options.hpp"
#include "loadgen/stats.hpp"

#include <cstdint>
#include <functional>

namespace ticketing::loadgen {

struct EngineParams {
  const Options* options = nullptr;
  std::int64_t product_id = 0;
  int worker_index = 0;  // this process' share: buyers index*K.., connections index, index+K, ...
  int worker_count = 1;
  Progress* progress = nullptr;
  // With --connect-first: called (on a non-I/O thread) once every connection of this process is
  // open or has given up, with the number open; the load starts when it returns.
  std::function<void(std::int64_t open)> barrier;
};

// Runs this process' share of the load to the end and returns what it measured. Throws on bad
// options (e.g. an unparsable source address).
RunStats RunEngine(const EngineParams& params);

// Microseconds per timeline slot (RunStats::timeline).
inline constexpr std::int64_t kSlotMicros = 100'000;

// Deterministic draw in [0, 1) for buyer `id` (confirm/cancel/abandon).
double Draw(std::uint64_t seed, std::int64_t id);

}  // namespace ticketing::loadgen
