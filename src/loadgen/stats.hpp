#pragma once
// What a run measured: per-operation and overall latency, counts per status and error code,
// transport errors, and a per-second timeline. One RunStats per I/O thread, merged at the end
// (also across worker processes, as JSON).
#include "loadgen/histogram.hpp"

#include <boost/json/value.hpp>

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ticketing::loadgen {

enum class Op { kReserve, kConfirm, kCancel, kGet };
inline constexpr std::array<const char*, 4> kOpNames = {"reserve", "confirm", "cancel", "get"};

struct OpStats {
  std::uint64_t sent = 0;
  std::uint64_t answered = 0;
  Histogram latency;
  std::map<int, std::uint64_t> status;
};

struct Second {
  std::uint64_t answered = 0;
  Histogram latency;
};

// Times are microseconds since the start of the load (-1: never).
struct RunStats {
  std::array<OpStats, 4> ops;
  // Closed loop: every request, from its send. Open loop (--rate): every arrival's first
  // request (reserve, or the GET), from its due time; its follow-ups count in `ops` only.
  Histogram latency;
  // Open loop only: the same arrivals' requests timed from when they were written (what a
  // closed-loop tool reports), and how long each waited for a free connection after it was due.
  Histogram service_latency;
  Histogram start_lag;
  std::uint64_t arrivals = 0;     // open loop: arrivals due (and, at the end, all started)
  std::uint64_t late_starts = 0;  // open loop: arrivals that found no free connection when due
  std::map<int, std::uint64_t> status;
  std::map<std::string, std::uint64_t> errors;     // error.code of non-2xx answers
  std::map<std::string, std::uint64_t> transport;  // connect|timeout|closed|io
  std::uint64_t requests = 0;                      // sent
  std::uint64_t buyers = 0;                        // started
  std::uint64_t buyers_answered = 0;               // got an HTTP answer to their first request
  std::uint64_t units_taken = 0;                   // units in successful reserves
  std::uint64_t confirms_ok = 0;
  std::uint64_t cancels_ok = 0;
  std::uint64_t connects = 0;
  std::int64_t first_sold_out_us = -1;
  std::int64_t last_taken_us = -1;
  std::int64_t last_buyer_answer_us = -1;
  std::int64_t last_answer_us = -1;
  std::int64_t elapsed_us = 0;
  std::vector<std::int64_t> taken_us;  // answer time of every successful reserve
  // The moment the stock present at the start was all taken: the answer time of the reserve
  // that took its last unit (-1: never). Set by SetSellOut after the merge.
  std::int64_t sell_out_us = -1;

  void SetSellOut(std::int64_t stock_at_start, int quantity);
  std::vector<Second> timeline;  // index: slot of kSlotMicros (engine.hpp)

  void Merge(const RunStats& other);
  Second& At(std::int64_t us);
  // The full, lossless form (for worker -> parent).
  boost::json::value ToJson() const;
  static RunStats FromJson(const boost::json::value& v);
};

// Live counters in memory shared by every worker process (MAP_SHARED), for the progress line
// and the connection high-water mark. Relaxed atomics: they are only ever displayed.
struct Progress {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> answered{0};
  std::atomic<std::uint64_t> transport_errors{0};
  std::atomic<std::int64_t> open{0};
  std::atomic<std::int64_t> peak_open{0};
  std::atomic<std::uint64_t> status[600]{};

  void Opened();
  void Closed() { open.fetch_sub(1, std::memory_order_relaxed); }
};

// A Progress in anonymous shared memory, inherited by forked workers. Throws on failure.
Progress* MapSharedProgress();

}  // namespace ticketing::loadgen
