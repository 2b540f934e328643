#include "tests/support/stores.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <mysql.h>

#include <functional>
#include <stdexcept>

namespace ticketing::testing {

Stores::Stores(const Services& services) : services_(services), redis_(nullptr, redisFree) {}

Stores::~Stores() = default;

std::string Stores::Sql(const std::string& query) {
  MYSQL* m = mysql_init(nullptr);
  unsigned timeout = 5;
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  const auto& s = services_;
  if (!mysql_real_connect(m, s.Get("DB_HOST").c_str(), s.Get("DB_USERNAME").c_str(),
                          s.Get("DB_PASSWORD").c_str(), s.Get("DB_DATABASE").c_str(),
                          static_cast<unsigned>(s.Port("DB_PORT")), nullptr, 0)) {
    std::string e = mysql_error(m);
    mysql_close(m);
    throw std::runtime_error("mysql: " + e);
  }
  std::string out;
  if (mysql_query(m, query.c_str()) == 0) {
    if (MYSQL_RES* res = mysql_store_result(m)) {
      if (MYSQL_ROW row = mysql_fetch_row(res)) out = row[0] ? row[0] : "NULL";
      mysql_free_result(res);
    }
  } else {
    out = std::string("ERROR ") + mysql_error(m);
  }
  mysql_close(m);
  return out;
}

std::string Stores::Redis(const std::vector<std::string>& args) {
  if (!redis_ || redis_->err) {
    redis_.reset(redisConnect(services_.Get("REDIS_HOST").c_str(), services_.Port("REDIS_PORT")));
    if (!redis_ || redis_->err) throw std::runtime_error("cannot connect to the test Redis");
  }
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.c_str());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(redis_.get(), static_cast<int>(args.size()), argv.data(), lens.data()));
  if (!r) throw std::runtime_error("test Redis connection failed");
  const std::function<std::string(const redisReply*)> text = [&](const redisReply* x) {
    if (x->type == REDIS_REPLY_INTEGER) return std::to_string(x->integer);
    if (x->type == REDIS_REPLY_ARRAY) {
      std::string joined;
      for (size_t i = 0; i < x->elements; ++i) joined += (i ? " " : "") + text(x->element[i]);
      return joined;
    }
    return x->str ? std::string(x->str, x->len) : std::string("NIL");
  };
  std::string out = text(r);
  freeReplyObject(r);
  return out;
}

long long Stores::KeyLookups() {
  const auto info = Redis({"INFO", "stats"});
  const auto count = [&](const std::string& name) {
    const auto at = info.find(name + ":");
    return at == std::string::npos ? -1 : std::stoll(info.substr(at + name.size() + 1));
  };
  return count("keyspace_hits") + count("keyspace_misses");
}

long long Stores::Available(std::int64_t product) {
  return std::stoll(Redis({"GET", Prefix(product) + ":avail"}));
}

std::string Stores::HoldState(const std::string& rid) {
  return Redis({"HGET", Prefix(std::stoll(rid.substr(0, rid.find('-')))) + ":h:" + rid, "state"});
}

long long Stores::HeldUnits(std::int64_t product, bool with_confirming) {
  if (!redis_ || redis_->err) Redis({"PING"});
  const std::string prefix = Prefix(product);
  auto* r = static_cast<redisReply*>(
      redisCommand(redis_.get(), "ZRANGE %s 0 -1", (prefix + ":exp").c_str()));
  std::vector<std::string> rids;
  for (size_t i = 0; r && i < r->elements; ++i) {
    rids.emplace_back(r->element[i]->str, r->element[i]->len);
  }
  if (r) freeReplyObject(r);
  long long total = 0;
  for (const auto& rid : rids) {
    const std::string state = Redis({"HGET", prefix + ":h:" + rid, "state"});
    if (state == "held" || (with_confirming && state == "confirming")) {
      total += std::stoll(Redis({"HGET", prefix + ":h:" + rid, "qty"}));
    }
  }
  return total;
}

void Stores::ExpectInvariants(std::int64_t product) {
  const std::string id = std::to_string(product);
  long long total = SqlInt("SELECT total_stock FROM products WHERE id=" + id);
  long long stock = SqlInt("SELECT stock FROM products WHERE id=" + id);
  long long sold = SqlInt("SELECT COALESCE(SUM(quantity),0) FROM orders WHERE refunded_at IS NULL AND product_id=" + id);
  EXPECT_EQ(sold + stock, total) << "orders + stock != total for product " << id;
  EXPECT_EQ(Available(product) + HeldUnits(product, true), stock)
      << "Redis available + live holds != database stock for product " << id;
}

}  // namespace ticketing::testing
