#pragma once
// A short-lived blocking Redis connection (hiredis' synchronous API), for code that runs on a
// worker thread and must call Redis in the middle of a database transaction (stock sync), and
// for tools. Never use it on an I/O thread.
#include "redis/cluster.hpp"
#include "redis/redis_client.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct redisContext;

namespace ticketing::redis {

class BlockingConnection {
 public:
  // Connects; throws Unavailable. `cluster`: the node is one of a Redis Cluster, and MOVED/ASK
  // replies are followed (connecting to the named node; at most 5 redirections per command).
  BlockingConnection(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                     bool cluster = false);
  ~BlockingConnection();
  BlockingConnection(const BlockingConnection&) = delete;
  BlockingConnection& operator=(const BlockingConnection&) = delete;

  // Throws Unavailable on an I/O error or timeout; error replies are values.
  Value Command(const std::vector<std::string>& args);
  // EVALSHA, loading the script on NOSCRIPT (on the node that said it).
  Value Eval(const Script& script, const std::vector<std::string>& keys,
             const std::vector<std::string>& args);

 private:
  struct ContextDeleter {
    void operator()(redisContext* c) const;
  };
  using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
  ContextPtr Connect(const std::string& host, std::uint16_t port) const;
  redisContext* Node(const Endpoint& at);
  // Sends `args` where its key lives, following redirections; `*used`/`*asking` say where it
  // ran last and whether ASKING preceded it.
  Value Routed(const std::vector<std::string>& args, redisContext** used, bool* asking);

  std::chrono::milliseconds timeout_;
  bool cluster_ = false;
  ContextPtr ctx_;
  std::map<std::string, ContextPtr> nodes_;  // cluster: the other nodes met, by host:port
  std::map<int, Endpoint> moved_;            // cluster: slots learned from MOVED
};

// Raw one command on one context (no routing). Throws Unavailable; refusals throw NotSent.
Value RunOn(redisContext* ctx, const std::vector<std::string>& args);

}  // namespace ticketing::redis
