#include "redis/cluster.hpp"

#include <gtest/gtest.h>

namespace ticketing::redis {
namespace {

TEST(Crc16, MatchesTheClusterSpecReference) {
  // The Redis Cluster specification's test vector for its CRC16 (XModem).
  EXPECT_EQ(Crc16("123456789"), 0x31C3);
}

TEST(KeySlot, MatchesRedisForPlainKeys) {
  // CLUSTER KEYSLOT on redis-server 7.0.
  EXPECT_EQ(KeySlot("foo"), 12182);
  EXPECT_EQ(KeySlot("bar"), 5061);
  EXPECT_EQ(KeySlot("hello"), 866);
  EXPECT_EQ(KeySlot(""), 0);
}

TEST(KeySlot, HashesOnlyANonEmptyHashTag) {
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("user1000"));
  EXPECT_EQ(KeySlot("{user1000}.followers"), KeySlot("{user1000}.following"));
  EXPECT_EQ(KeySlot("{p:7}:info"), KeySlot("{p:7}:h:7-abc"));
  EXPECT_EQ(KeySlot("{p:7}:info"), KeySlot("p:7"));
  // An empty tag does not count: the whole key is hashed.
  EXPECT_EQ(KeySlot("foo{}{bar}"), Crc16("foo{}{bar}") & 16383);
  // Only the first '{' and the first '}' after it.
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), KeySlot("{bar"));
  EXPECT_EQ(KeySlot("foo{bar}{zap}"), KeySlot("bar"));
  EXPECT_EQ(KeySlot("no}{close"), Crc16("no}{close") & 16383);
}

TEST(FirstKeyIndex, FindsTheFirstKey) {
  EXPECT_EQ(FirstKeyIndex({"GET", "k"}), 1);
  EXPECT_EQ(FirstKeyIndex({"sadd", "s", "m"}), 1);
  EXPECT_EQ(FirstKeyIndex({"EVALSHA", "sha", "2", "a", "b", "x"}), 3);
  EXPECT_EQ(FirstKeyIndex({"evalsha", "sha", "0", "x"}), -1);
  EXPECT_EQ(FirstKeyIndex({"EVAL", "return 1", "0"}), -1);
  EXPECT_EQ(FirstKeyIndex({"PING"}), -1);
  EXPECT_EQ(FirstKeyIndex({"INFO", "server"}), -1);
  EXPECT_EQ(FirstKeyIndex({"SCRIPT", "LOAD", "return 1"}), -1);
  EXPECT_EQ(FirstKeyIndex({"WAIT", "1", "100"}), -1);
  EXPECT_EQ(FirstKeyIndex({"cluster", "slots"}), -1);
}

TEST(ParseRedirect, ReadsMovedAndAsk) {
  Value moved{Value::Type::kError, 0, "MOVED 3999 127.0.0.1:6381", {}};
  auto r = ParseRedirect(moved);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Redirect::Kind::kMoved);
  EXPECT_EQ(r->slot, 3999);
  EXPECT_EQ(r->to, (Endpoint{"127.0.0.1", 6381}));
  Value ask{Value::Type::kError, 0, "ASK 12182 10.0.0.2:7000", {}};
  r = ParseRedirect(ask);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind, Redirect::Kind::kAsk);
  EXPECT_EQ(r->slot, 12182);
  EXPECT_EQ(r->to, (Endpoint{"10.0.0.2", 7000}));
  EXPECT_FALSE(ParseRedirect(Value{Value::Type::kError, 0, "ERR MOVED", {}}));
  EXPECT_FALSE(ParseRedirect(Value{Value::Type::kError, 0, "MOVED 99999 h:1", {}}));
  EXPECT_FALSE(ParseRedirect(Value{Value::Type::kError, 0, "MOVED 1 nohostport", {}}));
  EXPECT_FALSE(ParseRedirect(Value{Value::Type::kString, 0, "MOVED 1 h:1", {}}));
}

TEST(ParseEndpoints, ReadsTheSetting) {
  auto v = ParseEndpoints("127.0.0.1:7000, redis-2:7001,[::1]:7002");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], (Endpoint{"127.0.0.1", 7000}));
  EXPECT_EQ(v[1], (Endpoint{"redis-2", 7001}));
  EXPECT_EQ(v[2].port, 7002);
  EXPECT_THROW(ParseEndpoints(""), std::invalid_argument);
  EXPECT_THROW(ParseEndpoints("host"), std::invalid_argument);
  EXPECT_THROW(ParseEndpoints("host:0"), std::invalid_argument);
  EXPECT_THROW(ParseEndpoints("a:1,,b:2"), std::invalid_argument);
}

Value Int(long long n) { return Value{Value::Type::kInteger, n, "", {}}; }
Value Str(std::string s) { return Value{Value::Type::kString, 0, std::move(s), {}}; }
Value Arr(std::vector<Value> v) { return Value{Value::Type::kArray, 0, "", std::move(v)}; }

TEST(ParseClusterSlots, ReadsRangesAndMasters) {
  auto reply = Arr({Arr({Int(0), Int(5460), Arr({Str("127.0.0.1"), Int(7000), Str("id1")}),
                         Arr({Str("127.0.0.1"), Int(7003), Str("id4")})}),
                    Arr({Int(5461), Int(16383), Arr({Str("127.0.0.1"), Int(7001), Str("id2")})})});
  auto ranges = ParseClusterSlots(reply);
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0].first, 0);
  EXPECT_EQ(ranges[0].last, 5460);
  EXPECT_EQ(ranges[0].master, (Endpoint{"127.0.0.1", 7000}));
  EXPECT_EQ(ranges[1].master.port, 7001);
  EXPECT_THROW(ParseClusterSlots(Value{Value::Type::kError,
                                       0,
                                       "ERR This instance has cluster "
                                       "support disabled",
                                       {}}),
               std::runtime_error);
  EXPECT_THROW(ParseClusterSlots(Arr({Arr({Int(9), Int(3), Arr({Str("h"), Int(1)})})})),
               std::runtime_error);
}

}  // namespace
}  // namespace ticketing::redis
