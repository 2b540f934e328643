// The proof-of-work math and challenge codec, the client address behind trusted proxies, and
// the GCRA rule arithmetic. (Limits against real Redis: tests/integration/abuse_test.cpp.)
#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "abuse/guard.hpp"
#include "abuse/pow.hpp"

namespace ticketing::abuse {
namespace {

const std::string kSecret = "unit-secret-unit-secret-unit-secret-0123";

int ZeroBits(const std::string& data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  int bits = 0;
  for (unsigned char c : d) {
    if (c == 0) {
      bits += 8;
      continue;
    }
    while (!(c & 0x80)) {
      ++bits;
      c <<= 1;
    }
    break;
  }
  return bits;
}

TEST(Pow, SolutionHasTheLeadingZeroBits) {
  for (int difficulty : {1, 4, 8, 12, 16}) {
    const std::string challenge = "challenge-" + std::to_string(difficulty);
    const std::string nonce = SolvePow(challenge, difficulty);
    EXPECT_GE(ZeroBits(challenge + nonce), difficulty);
    EXPECT_TRUE(PowSolves(challenge, nonce, difficulty));
    // The smallest solution: every smaller nonce fails.
    for (std::uint64_t n = 0; n < std::stoull(nonce); ++n) {
      ASSERT_FALSE(PowSolves(challenge, std::to_string(n), difficulty)) << n;
    }
  }
  EXPECT_TRUE(PowSolves("x", "0", 0));
  // A known vector: SHA-256("abc") = ba7816bf... has no leading zero bit.
  EXPECT_FALSE(PowSolves("ab", "c", 1));
  EXPECT_EQ(ZeroBits("abc"), 0);
}

TEST(Pow, ChallengeRoundTripsForItsBuyerAndProductOnly) {
  PowCodec codec(kSecret);
  const auto c = codec.Issue(7, "alice", 1'900'000'000'000, 10);
  const auto nonce = SolvePow(c, 10);
  auto p = codec.Verify(c, nonce, "alice", 7);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->expires_at_ms, 1'900'000'000'000);
  EXPECT_EQ(p->difficulty, 10);
  EXPECT_EQ(p->id.size(), 16u);
  EXPECT_FALSE(codec.Verify(c, nonce, "bob", 7));                      // another buyer
  EXPECT_FALSE(codec.Verify(c, nonce, "alice", 8));                    // another product
  EXPECT_FALSE(PowCodec(kSecret + "x").Verify(c, nonce, "alice", 7));  // another server key
  EXPECT_NE(codec.Issue(7, "alice", 1'900'000'000'000, 10), c);        // ids are random
}

TEST(Pow, WrongOrTamperedSolutionsAreRefused) {
  PowCodec codec(kSecret);
  const auto c = codec.Issue(7, "alice", 1'900'000'000'000, 12);
  const auto nonce = SolvePow(c, 12);
  std::uint64_t wrong = std::stoull(nonce) + 1;
  while (PowSolves(c, std::to_string(wrong), 12)) ++wrong;
  EXPECT_FALSE(codec.Verify(c, std::to_string(wrong), "alice", 7));
  for (const char* bad : {"", "-1", "12a", "123456789012345678901"}) {
    EXPECT_FALSE(codec.Verify(c, bad, "alice", 7)) << bad;
  }
  // Lowering the difficulty or moving the expiry breaks the MAC.
  auto parts = c;
  auto easier = parts.replace(parts.find(".12."), 4, ".1.");
  EXPECT_FALSE(codec.Verify(easier, SolvePow(easier, 1), "alice", 7));
  std::string later = c;
  later[later.find('.') + 1] = '2';
  EXPECT_FALSE(codec.Verify(later, SolvePow(later, 12), "alice", 7));
  for (const std::string& bad : {std::string(""), std::string("7.1.1.1"), c + ".x",
                                 std::string(300, 'a'), std::string("7....")}) {
    EXPECT_FALSE(codec.Verify(bad, "1", "alice", 7)) << bad;
  }
}

TEST(Pow, VerifyTakesMicroseconds) {
  PowCodec codec(kSecret);
  const auto c = codec.Issue(7, "alice", 1'900'000'000'000, 8);
  const auto nonce = SolvePow(c, 8);
  const auto start = std::chrono::steady_clock::now();
  constexpr int kRuns = 2000;
  for (int i = 0; i < kRuns; ++i) ASSERT_TRUE(codec.Verify(c, nonce, "alice", 7));
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() /
      kRuns;
  EXPECT_LT(us, 200.0);  // a few µs in a release build; generous for sanitizers and load
  std::printf("PowCodec::Verify: %.2f us\n", us);
}

net::ip::address A(const char* s) { return net::ip::make_address(s); }

TEST(ClientAddress, ForwardedForOnlyFromTrustedProxies) {
  TrustedProxies none;
  EXPECT_EQ(none.ClientAddress(A("10.0.0.5"), "1.2.3.4"), "10.0.0.5");
  TrustedProxies t({"10.0.0.0/8", "::1", "192.168.1.7"});
  EXPECT_TRUE(t.Contains(A("10.200.0.1")));
  EXPECT_TRUE(t.Contains(A("::ffff:10.1.1.1")));
  EXPECT_FALSE(t.Contains(A("11.0.0.1")));
  EXPECT_TRUE(t.Contains(A("192.168.1.7")));
  EXPECT_FALSE(t.Contains(A("192.168.1.8")));
  // Untrusted peer: its header is ignored.
  EXPECT_EQ(t.ClientAddress(A("8.8.8.8"), "1.2.3.4"), "8.8.8.8");
  // Trusted peer: the right-most untrusted hop.
  EXPECT_EQ(t.ClientAddress(A("10.0.0.1"), "1.2.3.4"), "1.2.3.4");
  EXPECT_EQ(t.ClientAddress(A("10.0.0.1"), "9.9.9.9, 1.2.3.4, 10.3.3.3"), "1.2.3.4");
  EXPECT_EQ(t.ClientAddress(A("::1"), " 2001:db8::1 "), "2001:db8::1");
  EXPECT_EQ(t.ClientAddress(A("::ffff:10.0.0.1"), "1.2.3.4"), "1.2.3.4");
  // A malformed entry stops the walk at the last good hop.
  EXPECT_EQ(t.ClientAddress(A("10.0.0.1"), "1.2.3.4, garbage"), "10.0.0.1");
  EXPECT_EQ(t.ClientAddress(A("10.0.0.1"), "garbage, 10.9.9.9"), "10.9.9.9");
  EXPECT_EQ(t.ClientAddress(A("10.0.0.1"), ""), "10.0.0.1");
  EXPECT_THROW(TrustedProxies({"nope"}), std::invalid_argument);
}

TEST(Rule, EmissionAndTolerance) {
  auto r = Rule::From({5, 10});
  EXPECT_EQ(r.emission_us, 200'000);
  EXPECT_EQ(r.tolerance_us, 1'800'000);  // 10 at once, then one per 200 ms
  EXPECT_EQ(r.emission, "200000");
  EXPECT_FALSE(Rule::From({}).on());
  EXPECT_EQ(Rule::From({2.0 / 60, 1}).emission_us, 30'000'000);
  EXPECT_EQ(Rule::From({2.0 / 60, 1}).tolerance_us, 0);
}

}  // namespace
}  // namespace ticketing::abuse
