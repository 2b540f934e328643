#pragma once
// The Redis client the services use: one pipelined Connection in standalone mode, or a router
// over a Redis Cluster (REDIS_CLUSTER_NODES): a slot table (CLUSTER SLOTS), one Connection per
// master, MOVED and ASK followed, the table refreshed in the background. Same Command/Eval
// surface in both modes; standalone adds one branch and no coroutine frame.
//
// Like a Connection, a Client belongs to one io_context (one I/O thread): each thread has its
// own, with its own connections to every master.
#include "redis/cluster.hpp"
#include "redis/redis_client.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ticketing::redis {

struct ClientOptions {
  Options connection;  // host/port: the standalone server; the rest applies to every node
  // Non-empty: cluster mode, these nodes seed the slot map (any subset of the cluster).
  std::vector<Endpoint> cluster_nodes;
  // > 0: after every successful script that changes state (Script::changes_state), WAIT for
  // this many replicas of the node that ran it, for at most wait_timeout. Fewer acks: the
  // call throws Unavailable (the write happened on the master but is not known to survive
  // its loss; the caller answers 503 and a hold so left expires).
  int wait_replicas = 0;
  std::chrono::milliseconds wait_timeout{500};
  // How often the slot map is re-read even without a MOVED or a lost connection.
  std::chrono::milliseconds refresh_interval{1000};
};

class Client {
 public:
  Client(net::any_io_executor executor, ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void Start();
  void Stop();
  // Standalone: the connection is up. Cluster: a slot map is known and every master in it is
  // connected.
  bool Connected() const;
  bool IsCluster() const { return cluster_ != nullptr; }

  // One command, routed by its first key (a command without keys goes to any master). MOVED
  // and ASK are followed (5 at most); CLUSTERDOWN/TRYAGAIN throw NotSent like other
  // refusals. Throws what Connection::Command throws.
  net::awaitable<Value> Command(std::vector<std::string> args);
  template <typename... Args>
  requires(sizeof...(Args) > 0 && (std::is_convertible_v<Args&&, std::string_view> &&
                                   ...)) net::awaitable<Value> Command(Args&&... args) {
    return Command(List(std::forward<Args>(args)...));
  }
  // EVALSHA routed by keys[0] (all keys must share its slot), NOSCRIPT answered by SCRIPT LOAD
  // on the node that said it; then WAIT if wait_replicas is set (see ClientOptions).
  net::awaitable<Value> Eval(const Script& script, const std::vector<std::string>& keys,
                             const std::vector<std::string>& args, StillWanted still_wanted = {});
  // `args` (a command without keys: INFO, PING…) on every master of the current map, in map
  // order; standalone: on the one server. Throws if any fails.
  net::awaitable<std::vector<Value>> OnEveryMaster(std::vector<std::string> args);

  // Summed over every node's connection (cluster: including nodes no longer masters).
  Connection::Stats GetStats() const;
  // Commands written and not answered yet, by node ("host:port"; cluster: every node ever
  // seen). May be called from any thread.
  void InFlightByNode(
      const std::function<void(const std::string& node, std::size_t in_flight)>& visit) const;
  // Cluster: how many times the slot map was (re)loaded, MOVED and ASK replies followed;
  // standalone: 0. These three may be read from any thread.
  std::uint64_t MapLoads() const;
  std::uint64_t MovedFollowed() const;
  std::uint64_t AskFollowed() const;

 private:
  struct Cluster;
  net::awaitable<Value> WaitedEval(const Script& script, const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args, StillWanted still_wanted);
  ClientOptions options_;
  std::shared_ptr<Connection> single_;
  std::shared_ptr<Cluster> cluster_;
};

}  // namespace ticketing::redis
