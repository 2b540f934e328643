#pragma once
// A whole ticketing-loadgen run: set up the product, run the load (in this process or in
// forked workers), report, verify. Returns the exit status.
#include "loadgen/options.hpp"

#include <iosfwd>

namespace ticketing::loadgen {

// 0: every check passed; 1: a check failed or the run could not be done.
int Run(const Options& o, std::ostream& out, std::ostream& err);

// Raises RLIMIT_NOFILE to the hard limit; returns the new soft limit.
long RaiseOpenFileLimit();

}  // namespace ticketing::loadgen
