#pragma once
// --queue: buyers go through the product's waiting room. Each buyer joins, polls its status
// with backoff and jitter (never silent for more than 10 s, so the server keeps its place),
// reserves with its admission token once admitted, and confirms. Buyers are scheduled by due
// time over a pool of keep-alive connections, so 100,000 waiters need no 100,000 sockets.
#include "loadgen/histogram.hpp"
#include "loadgen/options.hpp"
#include "loadgen/stats.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <map>
#include <string>

namespace ticketing::loadgen {

struct QueueStats {
  std::uint64_t joined = 0;
  std::int64_t first_join_us = -1;  // send time of the first join
  std::int64_t last_join_us = -1;   // answer time of the last join
  Histogram join_latency;
  Histogram wait;  // join answered -> status said admitted
  std::int64_t longest_wait_us = 0;
  std::uint64_t polls = 0;
  std::uint64_t pow_solved = 0;    // join challenges solved (queue.powDifficulty > 0)
  std::int64_t pow_solve_us = 0;   // CPU time spent solving them
  std::map<std::string, std::uint64_t> outcomes;  // confirmed|soldout|expired|not_admitted|error

  double JoinsPerSecond() const;
  void Merge(const QueueStats& other);
  boost::json::value ToJson() const;
};

// Runs every buyer of this process through the waiting room of `product_id`. `admit_per_second`
// paces the polls (about half the expected wait, clamped to 0.5..10 s).
RunStats RunQueue(const Options& o, std::int64_t product_id, double admit_per_second,
                  QueueStats& queue, Progress* progress);

}  // namespace ticketing::loadgen
