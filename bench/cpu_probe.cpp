// How fast this machine's CPUs ran while a benchmark scenario ran. Every 100 ms the probe
// times one fixed unit of work, a chain of dependent multiply-adds that touches no memory, on
// its own thread's CPU clock. Time spent waiting for a core does not count; only running
// slower does. On an idle box the unit takes the same time every sample. If it takes 10%
// longer during a scenario, the vCPU ran 10% slower (the host gave the physical core to another
// guest part of the time, or clocked it down), whatever `steal` in /proc/stat says. No memory
// is touched, so the caches the scenario's own processes share with the probe do not slow it.
//
// Why: this VM shows 0% steal, also in the (ob) episodes of 2026-12-07, when throughput dipped
// for 2-6 s and p99 rose to 60-160 ms. In those seconds the unit took 5-10% longer. (ob) keeps
// the box about 90% busy, so 10% less CPU is enough to fall behind (bench/RESULTS.md,
// 2026-12-07 (stop 24)).
//
// The probe costs about 0.5% of one core: about 0.4 ms of work every 100 ms.
//
// Usage: cpu_probe FILE [SECONDS]
// Appends one line per sample, "<unix time> <microseconds>", until SIGTERM or SIGINT, or
// SECONDS when given. bench/flash-sale runs it during every scenario (OUT/NAME.speed) and once
// on the idle box before the services start (OUT/idle.speed); bench/cpu_share.py compares the
// two.
#include <time.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace {

volatile std::sig_atomic_t stop = 0;

double Seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// The unit of work: 400,000 dependent multiply-adds (an LCG step each), ~0.4 ms here. Each
// step needs the one before, so it runs at the core's speed, not the memory's.
std::uint64_t Work(std::uint64_t x) {
  for (int i = 0; i < 400000; ++i) x = x * 2862933555777941757ULL + 3037000493ULL;
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: cpu_probe FILE [SECONDS]\n");
    return 2;
  }
  std::FILE* out = std::fopen(argv[1], "a");
  if (out == nullptr) {
    std::perror(argv[1]);
    return 1;
  }
  const double limit = argc == 3 ? std::atof(argv[2]) : 0;
  std::signal(SIGTERM, [](int) { stop = 1; });
  std::signal(SIGINT, [](int) { stop = 1; });
  const double start = Seconds(CLOCK_MONOTONIC);
  volatile std::uint64_t sink = 1;
  while (!stop && (limit <= 0 || Seconds(CLOCK_MONOTONIC) - start < limit)) {
    const double before = Seconds(CLOCK_THREAD_CPUTIME_ID);
    sink = Work(sink | 1);
    const double took = Seconds(CLOCK_THREAD_CPUTIME_ID) - before;
    std::fprintf(out, "%.3f %.1f\n", Seconds(CLOCK_REALTIME), took * 1e6);
    std::fflush(out);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::fclose(out);
  return 0;
}
