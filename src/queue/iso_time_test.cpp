#include "common/iso_time.hpp"

#include <gtest/gtest.h>

namespace ticketing::queue {
namespace {

TEST(IsoTime, ParsesUtcWithAndWithoutFraction) {
  EXPECT_EQ(ParseIsoUtcMs("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIsoUtcMs("2026-11-24T12:30:05Z"), 1795523405000);
  EXPECT_EQ(ParseIsoUtcMs("2026-11-24T12:30:05.123Z"), 1795523405123);
  EXPECT_EQ(ParseIsoUtcMs("2026-11-24T12:30:05.1Z"), 1795523405100);
  EXPECT_EQ(ParseIsoUtcMs("2026-11-24T12:30:05.123456789Z"), 1795523405123);
  EXPECT_EQ(ParseIsoUtcMs("2024-02-29T23:59:59.999Z"), 1709251199999);
}

TEST(IsoTime, ConvertsOffsetsToUtc) {
  EXPECT_EQ(ParseIsoUtcMs("2026-11-24T13:30:05+01:00"), 1795523405000);
  EXPECT_EQ(ParseIsoUtcMs("2026-11-24T07:00:05-05:30"), 1795523405000);
  EXPECT_EQ(ParseIsoUtcMs("2026-11-24T12:30:05+00:00"), 1795523405000);
}

TEST(IsoTime, RejectsMalformed) {
  for (const char* bad :
       {"", "2026-11-24", "2026-11-24T12:30:05", "2026-11-24 12:30:05Z", "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "2026-11-31T00:00:00Z", "2026-11-24T24:00:00Z",
        "2026-11-24T12:60:00Z", "2026-11-24T12:30:60Z", "2026-11-24T12:30:05.Z",
        "2026-11-24T12:30:05ZZ", "2026-11-24T12:30:05+1:00", "2026-11-24T12:30:05+01:0",
        "1969-12-31T23:59:59Z", "20261-11-24T12:30:05Z", "2026-1x-24T12:30:05Z",
        "2026-11-24T12:30:05.1234567890Z", "2026-11-24T12:30:05+01:00x"}) {
    EXPECT_FALSE(ParseIsoUtcMs(bad)) << bad;
  }
}

// An offset can move a time written within 1970-9999 out of it: 1970-01-01T00:00:00+01:00 is
// before the epoch, 9999-12-31T23:00:00-01:00 in the year 10000. Accepted, they came back from
// FormatIsoUtcMs as "1970-01-01T-1:00:00.000Z" and "10000-01-01T00:00:00.000Z", which nothing
// reads (a saleStartsAt an admin set, shown on the product). Found by fuzz/iso_time_fuzz.cpp.
TEST(IsoTime, RejectsOffsetsThatLeaveTheRange) {
  for (const char* bad : {"1970-01-01T00:00:00+01:00", "1970-01-01T00:59:59.999+01:00",
                          "1970-01-01T00:00:00+00:01", "9999-12-31T23:00:00-01:00",
                          "9999-12-31T23:59:59-00:01"}) {
    EXPECT_FALSE(ParseIsoUtcMs(bad)) << bad;
  }
  EXPECT_EQ(ParseIsoUtcMs("1970-01-01T01:00:00+01:00"), 0);
  EXPECT_EQ(ParseIsoUtcMs("9999-12-31T22:59:59.999-01:00"), 253402300799999);
  EXPECT_EQ(FormatIsoUtcMs(253402300799999), "9999-12-31T23:59:59.999Z");
}

TEST(IsoTime, FormatsAndRoundTrips) {
  EXPECT_EQ(FormatIsoUtcMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIsoUtcMs(1795523405123), "2026-11-24T12:30:05.123Z");
  EXPECT_EQ(FormatIsoUtcMs(1709251199999), "2024-02-29T23:59:59.999Z");
  for (std::int64_t ms : {0LL, 951782400000LL, 1795523405123LL, 253402300799999LL}) {
    EXPECT_EQ(ParseIsoUtcMs(FormatIsoUtcMs(ms)), ms) << ms;
  }
}

}  // namespace
}  // namespace ticketing::queue
