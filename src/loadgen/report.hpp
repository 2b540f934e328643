#pragma once
// The end-of-run report: text for people, JSON (--json) for scripts, a gnuplot PNG (--plot).
#include "loadgen/options.hpp"
#include "loadgen/stats.hpp"
#include "loadgen/verify.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <vector>

namespace ticketing::loadgen {

struct RunInfo {
  std::int64_t product_id = 0;
  std::int64_t stock = 0;
  std::int64_t peak_open = 0;  // connections open at once (all processes)
  int threads = 0;
  bool verified = false;
};

boost::json::object JsonReport(const Options& o, const RunInfo& info, const RunStats& s,
                               const std::vector<Check>& checks);
std::string TextReport(const boost::json::object& report);
std::string ChecksText(const std::vector<Check>& checks);

// Draws req/s and p99 latency per timeline slot with the sell-out moment marked, by running
// gnuplot. Returns false (and `error`) when gnuplot is missing or fails.
bool WritePlot(const RunStats& s, const std::string& png_path, std::string* error);

}  // namespace ticketing::loadgen
