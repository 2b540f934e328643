#include "purchase/keys.hpp"

#include <gtest/gtest.h>

#include <set>

namespace ticketing::purchase::keys {
namespace {

TEST(ReservationId, CarriesTheProductAnd128RandomBits) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto rid = NewReservationId(42);
    EXPECT_EQ(rid.size(), 3u + 32u);
    EXPECT_EQ(ParseReservationId(rid), 42);
    EXPECT_TRUE(seen.insert(rid).second);
  }
}

TEST(ReservationId, RejectsMalformed) {
  const std::string hex(32, 'a');
  EXPECT_FALSE(ParseReservationId(""));
  EXPECT_FALSE(ParseReservationId("-" + hex));
  EXPECT_FALSE(ParseReservationId("x-" + hex));
  EXPECT_FALSE(ParseReservationId("0-" + hex));
  EXPECT_FALSE(ParseReservationId("-1-" + hex));
  EXPECT_FALSE(ParseReservationId("1-" + hex + "a"));
  EXPECT_FALSE(ParseReservationId("1-" + std::string(32, 'A')));
  EXPECT_FALSE(ParseReservationId("1-" + std::string(31, 'a') + "}"));
  EXPECT_FALSE(ParseReservationId("99999999999999999999-" + hex));
  EXPECT_TRUE(ParseReservationId("7-" + hex));
}

TEST(Keys, ShareTheProductHashTag) {
  auto p = Prefix(9);
  EXPECT_EQ(p, "{p:9}");
  EXPECT_EQ(Hold(p, "9-x"), "{p:9}:h:9-x");
  EXPECT_EQ(User(p, "alice"), "{p:9}:u:alice");
}

}  // namespace
}  // namespace ticketing::purchase::keys
