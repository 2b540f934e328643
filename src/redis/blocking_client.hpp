#pragma once
// A short-lived blocking Redis connection (hiredis' synchronous API), for code that runs on a
// worker thread and must call Redis in the middle of a database transaction (stock sync), and
// for tools. Never use it on an I/O thread.
#include "redis/redis_client.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

struct redisContext;

namespace ticketing::redis {

class BlockingConnection {
 public:
  // Connects; throws Unavailable.
  BlockingConnection(const std::string& host, std::uint16_t port,
                     std::chrono::milliseconds timeout);
  ~BlockingConnection();
  BlockingConnection(const BlockingConnection&) = delete;
  BlockingConnection& operator=(const BlockingConnection&) = delete;

  // Throws Unavailable on an I/O error or timeout; error replies are values.
  Value Command(const std::vector<std::string>& args);
  // EVALSHA, loading the script on NOSCRIPT.
  Value Eval(const Script& script, const std::vector<std::string>& keys,
             const std::vector<std::string>& args);

 private:
  redisContext* ctx_ = nullptr;
};

}  // namespace ticketing::redis
