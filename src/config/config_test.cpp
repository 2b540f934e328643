#include "config/config.hpp"

#include <gtest/gtest.h>

namespace ticketing::config {
namespace {

Lookup FromMap(std::map<std::string, std::string> m) {
  return [m = std::move(m)](std::string_view k) -> std::optional<std::string> {
    auto it = m.find(std::string(k));
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

std::map<std::string, std::string> Minimal() {
  return {{"DB_USERNAME", "u"},
          {"DB_DATABASE", "d"},
          {"AUTH_JWT_SECRET", std::string(32, 'x')}};
}

TEST(Config, DefaultsMatchTheSeed) {
  Config c = Load(FromMap(Minimal()));
  EXPECT_EQ(c.port, 3000);
  EXPECT_EQ(c.db_port, 3306);
  EXPECT_EQ(c.redis_port, 6379);
  EXPECT_EQ(c.hold_ttl_seconds, 300);
  EXPECT_EQ(c.max_body_bytes, 16u * 1024);
}

TEST(Config, ErrorNamesTheVariable) {
  auto m = Minimal();
  m["PORT"] = "70000";
  try {
    Load(FromMap(m));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("PORT:"), std::string::npos) << e.what();
  }
  m = Minimal();
  m["HOLD_TTL_SECONDS"] = "12abc";
  EXPECT_THROW(Load(FromMap(m)), ConfigError);
  m = Minimal();
  m.erase("DB_USERNAME");
  EXPECT_THROW(Load(FromMap(m)), ConfigError);
}

TEST(Config, ShortSecretRejected) {
  auto m = Minimal();
  m["AUTH_JWT_SECRET"] = "short";
  try {
    Load(FromMap(m));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("AUTH_JWT_SECRET"), std::string::npos);
  }
}

TEST(Config, RequestDelayFault) {
  auto m = Minimal();
  EXPECT_EQ(Load(FromMap(m)).fault_delay_ms, 0);
  m["TICKETING_FAULT"] = "delay_all_requests:250";
  EXPECT_EQ(Load(FromMap(m)).fault_delay_ms, 250);
  for (const char* bad : {"delay_all_requests:", "delay_all_requests:x", "delay_all_requests:-1",
                          "delay_all_requests:1234567"}) {
    m["TICKETING_FAULT"] = bad;
    EXPECT_THROW(Load(FromMap(m)), ConfigError) << bad;
  }
}

TEST(Config, RateLimitsAndAbuseSettings) {
  Config d = Load(FromMap(Minimal()));
  EXPECT_DOUBLE_EQ(d.reserve_buyer.per_second, 5);
  EXPECT_EQ(d.reserve_buyer.burst, 10);
  EXPECT_TRUE(d.confirm_buyer.on());
  EXPECT_TRUE(d.join_buyer.on());
  EXPECT_FALSE(d.reserve_address.on());
  EXPECT_TRUE(d.trusted_proxies.empty());
  EXPECT_EQ(d.admin_port, 0);

  auto m = Minimal();
  m["RATE_LIMIT_RESERVE_BUYER"] = "off";
  m["RATE_LIMIT_JOIN_ADDRESS"] = "120/m:30";
  m["RATE_LIMIT_CONFIRM_ADDRESS"] = "7/s";
  m["TRUSTED_PROXIES"] = "10.0.0.0/8, 127.0.0.1,::1";
  m["ADMIN_LISTEN"] = "127.0.0.1:9000";
  Config c = Load(FromMap(m));
  EXPECT_FALSE(c.reserve_buyer.on());
  EXPECT_DOUBLE_EQ(c.join_address.per_second, 2);
  EXPECT_EQ(c.join_address.burst, 30);
  EXPECT_EQ(c.confirm_address.burst, 7);
  EXPECT_EQ(c.trusted_proxies.size(), 3u);
  EXPECT_EQ(c.admin_address, "127.0.0.1");
  EXPECT_EQ(c.admin_port, 9000);
  m["ADMIN_LISTEN"] = "[::1]:9001";
  EXPECT_EQ(Load(FromMap(m)).admin_address, "::1");

  for (const char* bad : {"5", "5/h", "x/s", "5/s:", "5/s:0", "-1/s", "5/s10"}) {
    auto b = Minimal();
    b["RATE_LIMIT_RESERVE_BUYER"] = bad;
    EXPECT_THROW(Load(FromMap(b)), ConfigError) << bad;
  }
  for (const char* bad : {"10.0.0.0/33", "not-an-ip", "1.2.3"}) {
    auto b = Minimal();
    b["TRUSTED_PROXIES"] = bad;
    EXPECT_THROW(Load(FromMap(b)), ConfigError) << bad;
  }
  for (const char* bad : {"9000", "localhost:9000", "127.0.0.1:", "127.0.0.1:70000"}) {
    auto b = Minimal();
    b["ADMIN_LISTEN"] = bad;
    EXPECT_THROW(Load(FromMap(b)), ConfigError) << bad;
  }
}

TEST(Config, DotEnvParsing) {
  auto m = ParseDotEnv("# comment\n\nexport A=1\nB = \"two words\"\nC='x=y'\n");
  EXPECT_EQ(m["A"], "1");
  EXPECT_EQ(m["B"], "two words");
  EXPECT_EQ(m["C"], "x=y");
  EXPECT_THROW(ParseDotEnv("novalue\n"), ConfigError);
}

}  // namespace
}  // namespace ticketing::config
