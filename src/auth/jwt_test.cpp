#include "auth/jwt.hpp"

#include <gtest/gtest.h>

namespace ticketing::auth {
namespace {

const std::string kSecret(40, 's');

TEST(Base64Url, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 64; ++i) {
    data.push_back(static_cast<char>(i * 37 + 251));
    auto enc = Base64UrlEncode(data);
    EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
    auto dec = Base64UrlDecode(enc);
    ASSERT_TRUE(dec.has_value());
    EXPECT_EQ(*dec, data);
  }
  EXPECT_FALSE(Base64UrlDecode("a").has_value());
  EXPECT_FALSE(Base64UrlDecode("ab+c").has_value());
}

TEST(Hmac, MatchesRfc4231Case2) {
  // RFC 4231 test case 2.
  std::string mac = HmacSha256("Jefe", "what do ya want for nothing?");
  static const char* kHex = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  std::string hex;
  for (unsigned char c : mac) {
    static const char* d = "0123456789abcdef";
    hex.push_back(d[c >> 4]);
    hex.push_back(d[c & 15]);
  }
  EXPECT_EQ(hex, kHex);
}

TEST(Jwt, SignVerifyRoundTrip) {
  JwtCodec codec(kSecret);
  auto t = codec.Sign({"buyer-1", false}, 2000);
  auto who = codec.Verify(t, 1000);
  ASSERT_TRUE(who);
  EXPECT_EQ(who->user, "buyer-1");
  EXPECT_FALSE(who->admin);
  auto admin = codec.Verify(codec.Sign({"ops", true}, 2000), 1000);
  ASSERT_TRUE(admin);
  EXPECT_TRUE(admin->admin);
}

TEST(Jwt, RejectsExpiredForgedAndMalformed) {
  JwtCodec codec(kSecret);
  auto t = codec.Sign({"u", false}, 2000);
  EXPECT_FALSE(codec.Verify(t, 2000));
  EXPECT_FALSE(JwtCodec(std::string(40, 'x')).Verify(t, 1000));
  std::string tampered = t;
  tampered[tampered.find('.') + 2] ^= 1;
  EXPECT_FALSE(codec.Verify(tampered, 1000));
  EXPECT_FALSE(codec.Verify("", 1000));
  EXPECT_FALSE(codec.Verify("a.b", 1000));
  EXPECT_FALSE(codec.Verify("a.b.c.d", 1000));
  EXPECT_FALSE(codec.Verify(t + "x", 1000));
}

TEST(Jwt, RejectsAlgNoneAndMissingClaims) {
  JwtCodec codec(kSecret);
  auto sign = [&](std::string header, std::string claims) {
    std::string s = Base64UrlEncode(header) + "." + Base64UrlEncode(claims);
    return s + "." + Base64UrlEncode(HmacSha256(kSecret, s));
  };
  EXPECT_TRUE(codec.Verify(sign(R"({"alg":"HS256"})", R"({"sub":"a","exp":5000})"), 1));
  EXPECT_FALSE(codec.Verify(sign(R"({"alg":"none"})", R"({"sub":"a","exp":5000})"), 1));
  EXPECT_FALSE(codec.Verify(sign(R"({"alg":"HS256"})", R"({"exp":5000})"), 1));
  EXPECT_FALSE(codec.Verify(sign(R"({"alg":"HS256"})", R"({"sub":"a"})"), 1));
  EXPECT_FALSE(codec.Verify(sign(R"({"alg":"HS256"})", R"({"sub":7,"exp":5000})"), 1));
  EXPECT_FALSE(codec.Verify(sign(R"({"alg":"HS256"})", R"([1,2])"), 1));
}

}  // namespace
}  // namespace ticketing::auth
