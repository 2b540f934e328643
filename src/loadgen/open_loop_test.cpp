#include "loadgen/open_loop.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <vector>

#include "loadgen/options.hpp"

namespace ticketing::loadgen {
namespace {

TEST(ArrivalSchedule, DueTimesAreIOverRate) {
  ArrivalSchedule s(1000, 5000);
  EXPECT_EQ(s.DueNs(0), 0);
  EXPECT_EQ(s.DueNs(1), 1'000'000);
  EXPECT_EQ(s.DueNs(4999), 4'999'000'000);
  ArrivalSchedule third(3, 10);
  EXPECT_EQ(third.DueNs(1), 333'333'333);
  EXPECT_EQ(third.DueNs(2), 666'666'667);
  EXPECT_EQ(third.DueNs(3), 1'000'000'000);
  // No drift over a long run: arrival 3.6 M at 1,000/s is due at exactly one hour.
  EXPECT_EQ(ArrivalSchedule(1000, 4'000'000).DueNs(3'600'000), 3'600'000'000'000);
  ArrivalSchedule odd(7777.7, 100);
  for (std::int64_t i = 1; i < 100; ++i) EXPECT_GT(odd.DueNs(i), odd.DueNs(i - 1));
}

TEST(ArrivalSchedule, TotalForADurationAndACap) {
  EXPECT_EQ(ArrivalSchedule::Total(1000, 2, 1'000'000), 2000);  // due at 0 .. 1.999 s
  EXPECT_EQ(ArrivalSchedule::Total(1000, 2, 500), 500);         // --buyers caps
  EXPECT_EQ(ArrivalSchedule::Total(1000, 0, 300), 300);         // no --duration: --buyers
  EXPECT_EQ(ArrivalSchedule::Total(3, 1, 100), 3);              // 0, 1/3, 2/3 s
  EXPECT_EQ(ArrivalSchedule::Total(2.5, 1, 100), 3);            // 0, 0.4, 0.8 s
  EXPECT_EQ(ArrivalSchedule::Total(0, 1, 100), 0);
}

TEST(ArrivalSchedule, LanesPartitionTheArrivals) {
  for (int lanes : {1, 3, 7}) {
    ArrivalSchedule s(100, 50);
    std::vector<int> seen(50, 0);
    for (int g = 0; g < lanes; ++g) {
      std::int64_t last = -1;
      for (auto i = s.First(g); i >= 0; i = s.Next(i, lanes)) {
        EXPECT_GT(i, last);
        EXPECT_EQ(i % lanes, g);
        last = i;
        ++seen[static_cast<std::size_t>(i)];
      }
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 50) << lanes;
  }
  EXPECT_EQ(ArrivalSchedule(100, 2).First(5), -1);  // more lanes than arrivals
}

TEST(MeasureArrival, LatencyFromDueTimeAndFromSend) {
  // Due at 1.000 s, sent at 1.250 s (no free connection before), answered at 1.260 s.
  auto m = MeasureArrival(1'000'000'000, 1'250'000'000, 1'260'000'000);
  EXPECT_EQ(m.corrected, 260'000);
  EXPECT_EQ(m.service, 10'000);
  EXPECT_EQ(m.start_lag, 250'000);
  // Sent on time: both are the same; a timer firing early counts no negative lag.
  m = MeasureArrival(2'000'000'000, 1'999'990'000, 2'005'000'000);
  EXPECT_EQ(m.start_lag, 0);
  EXPECT_EQ(m.service, 5'010);
  EXPECT_EQ(m.corrected, 5'000);
}

// The coordinated-omission case, by hand: one connection, a server taking 100 ms, 20 arrivals
// per second (one every 50 ms). Arrival i can only be sent when i-1 is answered, at
// i * 100 ms, so from its due time it waited i * 50 ms + 100 ms. A closed-loop measurement
// sees 100 ms every time; the corrected one sees the queue grow.
TEST(MeasureArrival, ASlowServerShowsInCorrectedLatencyOnly) {
  ArrivalSchedule s(20, 10);
  std::int64_t free_at = 0;
  std::vector<std::int64_t> corrected, service;
  for (std::int64_t i = 0; i < s.total(); ++i) {
    const auto due = s.DueNs(i);
    const auto sent = std::max(due, free_at);
    const auto answered = sent + 100'000'000;
    free_at = answered;
    const auto m = MeasureArrival(due, sent, answered);
    corrected.push_back(m.corrected);
    service.push_back(m.service);
  }
  for (std::int64_t i = 0; i < s.total(); ++i) {
    EXPECT_EQ(service[static_cast<std::size_t>(i)], 100'000);
    EXPECT_EQ(corrected[static_cast<std::size_t>(i)], 100'000 + i * 50'000);
  }
}

TEST(Options, RateMeansOpenLoopAndOpensTheConnectionsFirst) {
  const auto none = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  const std::string secret(32, 's');
  auto o = Parse({"--secret", secret, "--rate", "2500", "--duration", "3"}, none);
  EXPECT_DOUBLE_EQ(o.rate, 2500);
  EXPECT_TRUE(o.connect_first);
  EXPECT_EQ(ArrivalSchedule::Total(o.rate, o.duration_seconds, o.buyers), 7500);
  EXPECT_DOUBLE_EQ(Parse({"--secret", secret}, none).rate, 0);
  EXPECT_THROW(Parse({"--secret", secret, "--rate", "0"}, none), UsageError);
  EXPECT_THROW(Parse({"--secret", secret, "--rate", "x"}, none), UsageError);
  EXPECT_THROW(Parse({"--secret", secret, "--rate", "10", "--queue"}, none), UsageError);
}

}  // namespace
}  // namespace ticketing::loadgen
