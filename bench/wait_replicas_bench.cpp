// What REDIS_WAIT_REPLICAS costs: state-changing scripts through redis::Client against a Redis
// Cluster, with and without a WAIT for replicas after each. C coroutines on one I/O thread
// (as one server shard), each running its next script when the last one (and its WAIT) is
// answered; keys spread over the masters by their product tag. Prints one line of figures.
//   wait_replicas_bench HOST:PORT[,...] REPLICAS CONCURRENCY TOTAL
#include "redis/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

namespace redis = ticketing::redis;
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: wait_replicas_bench HOST:PORT[,...] REPLICAS CONCURRENCY TOTAL\n";
    return 2;
  }
  redis::ClientOptions o;
  o.cluster_nodes = redis::ParseEndpoints(argv[1]);
  o.wait_replicas = std::stoi(argv[2]);
  o.wait_timeout = std::chrono::milliseconds(1000);
  o.connection.command_timeout = std::chrono::milliseconds(5000);
  const int concurrency = std::stoi(argv[3]);
  const int total = std::stoi(argv[4]);
  // Stands for a reserve: a decrement and a hold written in the product's slot.
  const redis::Script script(
      "local n = redis.call('DECRBY', KEYS[1], 1) "
      "redis.call('SET', KEYS[2], n, 'PX', 60000) return n");

  net::io_context ctx(1);
  redis::Client client(ctx.get_executor(), o);
  client.Start();
  const auto up_by = Clock::now() + std::chrono::seconds(10);
  while (!client.Connected() && Clock::now() < up_by) ctx.run_for(std::chrono::milliseconds(10));
  if (!client.Connected()) {
    std::cerr << "cluster not reachable\n";
    return 1;
  }
  std::vector<double> latencies_us;
  latencies_us.reserve(static_cast<std::size_t>(total));
  int started = 0;
  int failed = 0;
  int running = concurrency;
  const auto begin = Clock::now();
  for (int c = 0; c < concurrency; ++c) {
    net::co_spawn(
        ctx,
        [&]() -> net::awaitable<void> {
          while (started < total) {
            const int i = started++;
            const std::string tag = "{p:" + std::to_string(i % 6 + 1) + "}";
            const auto t0 = Clock::now();
            try {
              co_await client.Eval(
                  script, redis::List(tag + ":avail", tag + ":h:" + std::to_string(i)), {});
              latencies_us.push_back(
                  std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            } catch (const std::exception&) {
              ++failed;
            }
          }
          if (--running == 0) client.Stop();
        },
        net::detached);
  }
  ctx.run();
  const double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    if (latencies_us.empty()) return 0.0;
    return latencies_us[std::min(
        latencies_us.size() - 1,
        static_cast<std::size_t>(p * static_cast<double>(latencies_us.size())))];
  };
  std::printf(
      "replicas=%s concurrency=%d ops=%zu failed=%d ops_per_s=%.0f p50_us=%.0f p99_us=%.0f\n",
      argv[2], concurrency, latencies_us.size(), failed,
      static_cast<double>(latencies_us.size()) / seconds, pct(0.50), pct(0.99));
  return 0;
}
