#include "loadgen/histogram.hpp"

#include "loadgen/engine.hpp"
#include "loadgen/stats.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ticketing::loadgen {
namespace {

TEST(Histogram, QuantilesWithinOnePercent) {
  Histogram h;
  for (int i = 1; i <= 10000; ++i) h.Record(i);
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_NEAR(h.QuantileMicros(0.5), 5000, 50);
  EXPECT_NEAR(h.QuantileMicros(0.99), 9900, 99);
  EXPECT_NEAR(h.QuantileMicros(0.999), 9990, 100);
  EXPECT_EQ(h.max_micros(), 10000);
  EXPECT_LE(h.QuantileMicros(1.0), 10000);
}

TEST(Histogram, EmptyAndTiny) {
  Histogram h;
  EXPECT_EQ(h.QuantileMicros(0.99), 0);
  h.Record(0);
  h.Record(-5);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_LE(h.QuantileMicros(0.5), 1);
}

TEST(Histogram, MergeAndJsonRoundTrip) {
  Histogram a, b;
  for (int i = 0; i < 100; ++i) a.Record(1000);
  for (int i = 0; i < 100; ++i) b.Record(100000);
  a.Merge(b);
  EXPECT_EQ(a.count(), 200u);
  EXPECT_NEAR(a.QuantileMicros(0.25), 1000, 10);
  EXPECT_NEAR(a.QuantileMicros(0.75), 100000, 1000);
  auto c = Histogram::FromJson(boost::json::parse(boost::json::serialize(a.ToJson())));
  EXPECT_EQ(c.count(), a.count());
  EXPECT_EQ(c.max_micros(), a.max_micros());
  EXPECT_EQ(c.QuantileMicros(0.75), a.QuantileMicros(0.75));
}

TEST(RunStats, MergesAndRoundTrips) {
  RunStats a, b;
  a.status[201] = 3;
  a.errors["SOLD_OUT"] = 2;
  a.ops[0].answered = 5;
  a.first_sold_out_us = 500;
  a.last_taken_us = 400;
  a.At(250'000).answered = 7;
  b.status[201] = 1;
  b.status[409] = 4;
  b.first_sold_out_us = 300;
  b.last_taken_us = 900;
  b.transport["timeout"] = 1;
  a.Merge(b);
  EXPECT_EQ(a.status[201], 4u);
  EXPECT_EQ(a.status[409], 4u);
  EXPECT_EQ(a.first_sold_out_us, 300);
  EXPECT_EQ(a.last_taken_us, 900);
  ASSERT_EQ(a.timeline.size(), 3u);  // slots of 100 ms
  auto c = RunStats::FromJson(boost::json::parse(boost::json::serialize(a.ToJson())));
  EXPECT_EQ(c.status, a.status);
  EXPECT_EQ(c.errors, a.errors);
  EXPECT_EQ(c.transport, a.transport);
  EXPECT_EQ(c.ops[0].answered, 5u);
  EXPECT_EQ(c.timeline[2].answered, 7u);
}

TEST(Draw, DeterministicAndSpread) {
  EXPECT_EQ(Draw(1, 42), Draw(1, 42));
  int below = 0;
  for (int i = 0; i < 100000; ++i) {
    double d = Draw(7, i);
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    if (d < 0.8) ++below;
  }
  EXPECT_NEAR(below, 80000, 1000);
}

}  // namespace
}  // namespace ticketing::loadgen
