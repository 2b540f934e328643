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
TEST(SignedIds, OnlyTheBuyersOwnIdsVerify) {
  SignedIds ids("key-key-key-key-key-key-key-key-0123");
  const auto rid = ids.New(42, "alice");
  EXPECT_EQ(rid.size(), 35u);  // "42-" + 32 hex
  EXPECT_EQ(ids.Verify(rid, "alice"), 42);
  EXPECT_FALSE(ids.Verify(rid, "bob"));
  EXPECT_FALSE(SignedIds("another-key-another-key-another-key").Verify(rid, "alice"));
  std::string forged = rid;
  forged[5] = forged[5] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(ids.Verify(forged, "alice"));
  EXPECT_FALSE(ids.Verify("42-" + std::string(32, 'a'), "alice"));
  EXPECT_NE(ids.New(42, "alice"), rid);
}

}  // namespace ticketing::purchase::keys
