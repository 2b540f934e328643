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

TEST(Config, ReconcileSettings) {
  auto m = Minimal();
  auto c = Load(FromMap(m));
  EXPECT_EQ(c.reconcile, "repair");
  EXPECT_EQ(c.reconcile_interval_ms, 5000);
  m["RECONCILE"] = "report";
  m["RECONCILE_INTERVAL_MS"] = "250";
  c = Load(FromMap(m));
  EXPECT_EQ(c.reconcile, "report");
  EXPECT_EQ(c.reconcile_interval_ms, 250);
  m["RECONCILE"] = "fix";
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


TEST(Config, PagesSettings) {
  Config c = Load(FromMap(Minimal()));
  EXPECT_FALSE(c.demo_login);
  EXPECT_TRUE(c.cors_origins.empty());
  EXPECT_EQ(c.frame_ancestors, "'none'");
  EXPECT_EQ(c.sse_max_subscribers, 32);
  EXPECT_EQ(c.sse_interval_ms, 1000);

  auto m = Minimal();
  m["DEMO_LOGIN"] = "1";
  m["CORS_ORIGINS"] = " https://shop.example/ , http://127.0.0.1:8080";
  m["FRAME_ANCESTORS"] = "'self' https://shop.example";
  m["SSE_MAX_SUBSCRIBERS"] = "4";
  m["SSE_INTERVAL_MS"] = "250";
  c = Load(FromMap(m));
  EXPECT_TRUE(c.demo_login);
  EXPECT_EQ(c.cors_origins,
            (std::vector<std::string>{"https://shop.example", "http://127.0.0.1:8080"}));
  EXPECT_EQ(c.frame_ancestors, "'self' https://shop.example");
  EXPECT_EQ(c.sse_max_subscribers, 4);
  EXPECT_EQ(c.sse_interval_ms, 250);

  for (auto [name, bad] : {std::pair{"CORS_ORIGINS", "shop.example"},
                           std::pair{"CORS_ORIGINS", "https://shop.example/path"},
                           std::pair{"FRAME_ANCESTORS", "'self'; script-src *"},
                           std::pair{"DEMO_LOGIN", "yes"}, std::pair{"SSE_INTERVAL_MS", "5"}}) {
    auto b = Minimal();
    b[name] = bad;
    try {
      Load(FromMap(b));
      ADD_FAILURE() << name << "=" << bad << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
    }
  }
}

TEST(Config, RedisClusterAndWaitSettings) {
  Config d = Load(FromMap(Minimal()));
  EXPECT_EQ(d.redis_cluster_nodes, "");
  EXPECT_EQ(d.redis_wait_replicas, 0);
  EXPECT_EQ(d.redis_cluster_refresh_ms, 1000);
  auto m = Minimal();
  m["REDIS_CLUSTER_NODES"] = "10.0.0.1:7000,redis-b:7001";
  m["REDIS_WAIT_REPLICAS"] = "1";
  m["REDIS_WAIT_TIMEOUT_MS"] = "300";
  Config c = Load(FromMap(m));
  EXPECT_EQ(c.redis_cluster_nodes, "10.0.0.1:7000,redis-b:7001");
  EXPECT_EQ(c.redis_wait_replicas, 1);
  EXPECT_EQ(c.redis_wait_timeout_ms, 300);
  for (const char* bad : {"host", "host:", ":7000", "a:1,,b:2", "a:70000", "a:1x"}) {
    auto b = Minimal();
    b["REDIS_CLUSTER_NODES"] = bad;
    EXPECT_THROW(Load(FromMap(b)), ConfigError) << bad;
  }
  // WAIT must give up before the command itself times out.
  auto w = Minimal();
  w["REDIS_WAIT_REPLICAS"] = "1";
  w["REDIS_TIMEOUT_MS"] = "2000";
  w["REDIS_WAIT_TIMEOUT_MS"] = "2000";
  EXPECT_THROW(Load(FromMap(w)), ConfigError);
}

}  // namespace
}  // namespace ticketing::config
