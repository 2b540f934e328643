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

// Verify decodes with its own strict base64url first and falls back to Base64UrlDecode: what it
// accepts must be exactly what the plain decode + parse accepted.
TEST(Jwt, DecodingPathsAgree) {
  JwtCodec codec(kSecret);
  auto sign = [&](std::string header, std::string claims) {
    std::string s = Base64UrlEncode(header) + "." + Base64UrlEncode(claims);
    return s + "." + Base64UrlEncode(HmacSha256(kSecret, s));
  };
  // Claims larger than the stack arena (the token within the 4096-character limit), and a
  // fractional exp.
  auto big = sign(R"({"alg":"HS256","typ":"JWT"})",
                  R"({"sub":"a","exp":5000.5,"pad":")" + std::string(2500, 'x') + R"("})");
  auto v = codec.VerifyToken(big, 5000);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->who.user, "a");
  EXPECT_DOUBLE_EQ(v->exp, 5000.5);
  EXPECT_FALSE(codec.Verify(big, 5001));
  // Padding or standard-alphabet characters are refused on both paths.
  auto t = codec.Sign({"u", false}, 2000);
  EXPECT_FALSE(codec.Verify(t + "=", 1000));
  auto d2 = t.rfind('.');
  auto with_plus = t;
  with_plus[d2 + 1] = '+';
  EXPECT_FALSE(codec.Verify(with_plus, 1000));
  auto d1 = t.find('.');
  auto header_slash = t;
  header_slash[d1 - 1] = '/';
  EXPECT_FALSE(codec.Verify(header_slash, 1000));
  // A segment of impossible length.
  EXPECT_FALSE(codec.Verify(t.substr(0, d1) + "." + "abcde" + t.substr(d2), 1000));
}

// Boost.JSON 1.81 reads 0e400 (zero with a large exponent) as NaN, and a NaN `exp` passed the
// `exp <= now` refusal: a token that never expired for JwtCodec, while TokenCache (`exp > now`)
// refused it on its second use. Found by fuzz/token_fuzz.cpp (TokenCache against Verify).
TEST(Jwt, RefusesAnExpThatIsNotANumber) {
  JwtCodec codec(kSecret);
  TokenCache cache(codec);
  auto sign = [&](std::string claims) {
    std::string s =
        Base64UrlEncode(R"({"alg":"HS256","typ":"JWT"})") + "." + Base64UrlEncode(claims);
    return s + "." + Base64UrlEncode(HmacSha256(kSecret, s));
  };
  for (const char* exp : {"0e400", "-0E4000060", "0.0e99999"}) {
    const auto t = sign(std::string(R"({"sub":"a","exp":)") + exp + "}");
    EXPECT_FALSE(codec.Verify(t, 1000)) << exp;
    EXPECT_EQ(cache.Verify(t, 1000), nullptr) << exp;
    EXPECT_EQ(cache.Verify(t, 1000), nullptr) << exp;
  }
  EXPECT_TRUE(codec.Verify(sign(R"({"sub":"a","exp":1e400})"), 1000));  // +inf: later than now
}

// A 32-byte signature is 43 base64url characters; the last one carries 4 bits of it and 2 bits
// that decode to nothing, so 4 texts decode to the same bytes. Found by fuzz/token_fuzz.cpp: only
// the text Sign writes may verify, or one identity has several token texts (and TokenCache, which
// keys by the text, several entries).
TEST(Jwt, RefusesANonCanonicalSignature) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  JwtCodec codec(kSecret);
  TokenCache cache(codec);
  for (int i = 0; i < 8; ++i) {
    const auto t = codec.Sign({"user-" + std::to_string(i), i % 2 == 0}, 2000);
    ASSERT_TRUE(codec.Verify(t, 1000));
    const auto last = kAlphabet.find(t.back());
    ASSERT_EQ(last % 4, 0u) << t;  // canonical: the unused bits are zero
    for (std::size_t unused = 1; unused < 4; ++unused) {
      auto same_bytes = t;
      same_bytes.back() = kAlphabet[last + unused];
      ASSERT_EQ(Base64UrlDecode(same_bytes.substr(same_bytes.rfind('.') + 1)),
                Base64UrlDecode(t.substr(t.rfind('.') + 1)));
      EXPECT_FALSE(codec.Verify(same_bytes, 1000)) << same_bytes;
      EXPECT_EQ(cache.Verify(same_bytes, 1000), nullptr) << same_bytes;
    }
  }
}

}  // namespace
}  // namespace ticketing::auth
