#include "loadgen/options.hpp"

#include <gtest/gtest.h>

namespace ticketing::loadgen {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef";

std::optional<std::string> NoEnv(const std::string&) { return std::nullopt; }

TEST(Options, Defaults) {
  auto o = Parse({"--secret", kSecret}, NoEnv);
  EXPECT_EQ(o.buyers, 100000);
  EXPECT_EQ(o.connections, 2000);
  EXPECT_DOUBLE_EQ(o.confirm, 0.8);
  EXPECT_DOUBLE_EQ(o.cancel, 0.05);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 3000);
  EXPECT_FALSE(o.user_prefix.empty());
}

TEST(Options, SecretFromEnvironment) {
  auto o = Parse({}, [](const std::string& k) -> std::optional<std::string> {
    if (k == "AUTH_JWT_SECRET") return kSecret;
    return std::nullopt;
  });
  EXPECT_EQ(o.secret, kSecret);
  EXPECT_THROW(Parse({}, NoEnv), UsageError);
  EXPECT_THROW(Parse({"--secret", "short"}, NoEnv), UsageError);
}

TEST(Options, ParsesEverything) {
  auto o = Parse({"--url=http://localhost:8080", "--buyers", "2000", "--secret", kSecret,
                  "--connections", "100000", "--processes", "6", "--source-addresses",
                  "127.0.0.1,127.0.0.2", "--stock", "50", "--hold-seconds", "1", "--confirm",
                  "1", "--cancel", "0", "--json", "/tmp/x.json", "--connect-first",
                  "--redis-port", "1234", "--db-port", "5678", "--db-user", "u", "--db-name", "d"},
                 NoEnv);
  EXPECT_EQ(o.port, 8080);
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.buyers, 2000);
  EXPECT_EQ(o.connections, 100000);
  EXPECT_EQ(o.processes, 6);
  ASSERT_EQ(o.source_addresses.size(), 2u);
  EXPECT_EQ(o.source_addresses[1], "127.0.0.2");
  EXPECT_EQ(o.stock, 50);
  EXPECT_EQ(o.hold_seconds, 1);
  EXPECT_TRUE(o.connect_first);
  EXPECT_TRUE(o.stores.Enabled());
}

TEST(Options, Rejects) {
  EXPECT_THROW(Parse({"--secret", kSecret, "--buyers", "-1"}, NoEnv), UsageError);
  EXPECT_THROW(Parse({"--secret", kSecret, "--confirm", "0.9", "--cancel", "0.2"}, NoEnv), UsageError);
  EXPECT_THROW(Parse({"--secret", kSecret, "--bogus"}, NoEnv), UsageError);
  EXPECT_THROW(Parse({"--secret", kSecret, "--url", "https://x"}, NoEnv), UsageError);
  EXPECT_THROW(Parse({"--secret", kSecret, "--redis-port", "1"}, NoEnv), UsageError);
  EXPECT_THROW(Parse({"--secret", kSecret, "--buyers"}, NoEnv), UsageError);
}

TEST(Options, GetModeNeedsNoSecret) {
  auto o = Parse({"--mode", "get", "--path", "/health", "--duration", "2"}, NoEnv);
  EXPECT_EQ(o.mode, Mode::kGet);
  EXPECT_GT(o.buyers, 1'000'000'000);
}

}  // namespace
}  // namespace ticketing::loadgen
