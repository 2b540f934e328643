#include "queue/admission.hpp"

#include <gtest/gtest.h>

namespace ticketing::queue {
namespace {

const std::string kSecret = "admission-secret-admission-secret-0123";
const std::string kTicket = "7-0123456789abcdef0123456789abcdef";
constexpr std::int64_t kNow = 1'800'000'000'000;

TEST(AdmissionCodec, RoundTripsForItsBuyerAndProduct) {
  AdmissionCodec codec(kSecret);
  auto token = codec.Sign(7, "alice", kTicket, kNow + 60'000);
  EXPECT_EQ(codec.Verify(token, "alice", 7, kNow), kTicket);
  EXPECT_EQ(codec.Verify(token, "alice", 7, kNow + 59'999), kTicket);
}

TEST(AdmissionCodec, RefusesAnotherBuyerProductOrSecret) {
  AdmissionCodec codec(kSecret);
  auto token = codec.Sign(7, "alice", kTicket, kNow + 60'000);
  EXPECT_FALSE(codec.Verify(token, "bob", 7, kNow));
  EXPECT_FALSE(codec.Verify(token, "alice", 8, kNow));
  EXPECT_FALSE(
      AdmissionCodec("another-secret-another-secret-another-12").Verify(token, "alice", 7, kNow));
}

TEST(AdmissionCodec, RefusesExpiredAndTampered) {
  AdmissionCodec codec(kSecret);
  auto token = codec.Sign(7, "alice", kTicket, kNow + 60'000);
  EXPECT_FALSE(codec.Verify(token, "alice", 7, kNow + 60'000));
  // A later expiry, another ticket, or a flipped MAC byte all break the MAC.
  auto later = token;
  later.replace(later.find(".1") + 1, 13, std::to_string(kNow + 999'999));
  EXPECT_FALSE(codec.Verify(later, "alice", 7, kNow));
  auto other = token;
  other[2] = other[2] == 'a' ? 'b' : 'a';
  EXPECT_FALSE(codec.Verify(other, "alice", 7, kNow));
  auto flipped = token;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(codec.Verify(flipped, "alice", 7, kNow));
}

TEST(AdmissionCodec, RefusesMalformed) {
  AdmissionCodec codec(kSecret);
  for (const char* bad :
       {"", ".", "..", "abc", "a.b", "a.b.c.d", "a.12x.AAAA", ".1.AAAA", "a.1.!!!!", "a..AAAA"}) {
    EXPECT_FALSE(codec.Verify(bad, "alice", 7, 0)) << bad;
  }
  EXPECT_FALSE(codec.Verify(std::string(300, 'a'), "alice", 7, 0));
}

// The MAC's last base64url character has 2 bits that decode to nothing (see jwt_test's
// RefusesANonCanonicalSignature); only the text Sign writes may verify. Found by
// fuzz/token_fuzz.cpp.
TEST(AdmissionCodec, RefusesANonCanonicalMac) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  AdmissionCodec codec(kSecret);
  for (int i = 0; i < 8; ++i) {
    const auto token = codec.Sign(7, "alice", kTicket, kNow + 60'000 + i);
    ASSERT_TRUE(codec.Verify(token, "alice", 7, kNow));
    const auto last = kAlphabet.find(token.back());
    ASSERT_EQ(last % 4, 0u) << token;
    for (std::size_t unused = 1; unused < 4; ++unused) {
      auto same_bytes = token;
      same_bytes.back() = kAlphabet[last + unused];
      EXPECT_FALSE(codec.Verify(same_bytes, "alice", 7, kNow)) << same_bytes;
    }
  }
}

}  // namespace
}  // namespace ticketing::queue
