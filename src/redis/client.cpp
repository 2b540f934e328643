#include "redis/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <string_view>

namespace ticketing::redis {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = net::as_tuple(net::use_awaitable);
constexpr std::uint16_t kNoNode = 0xffff;
constexpr int kMaxRedirects = 5;
constexpr std::chrono::milliseconds kMinRefreshGap{50};
constexpr std::chrono::milliseconds kRetryRefresh{100};  // until a map is known, or after a failure

// WAIT on the connection that ran the write: Redis counts the replicas that acknowledged every
// write this connection made so far.
net::awaitable<void> WaitReplicas(Connection& conn, int replicas,
                                  std::chrono::milliseconds timeout) {
  Value acked = co_await conn.Send(
      List("WAIT", std::to_string(replicas), std::to_string(timeout.count())), {});
  if (acked.IsError()) throw Unavailable("redis: WAIT: " + acked.str);
  if (acked.integer < replicas) {
    throw Unavailable("redis: write acknowledged by " + std::to_string(acked.integer) + " of " +
                      std::to_string(replicas) + " replicas within " +
                      std::to_string(timeout.count()) + " ms");
  }
}

}  // namespace

struct Client::Cluster {
  struct Node {
    Endpoint at;
    std::shared_ptr<Connection> conn;
  };

  Cluster(net::any_io_executor ex, ClientOptions o)
      : executor(std::move(ex)), options(std::move(o)), slots(kSlots, kNoNode), timer(executor) {}

  // The node at `at`, its connection started if it is new.
  int NodeIndex(const Endpoint& at) {
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i].at == at) return static_cast<int>(i);
    }
    Options o = options.connection;
    o.host = at.host;
    o.port = at.port;
    auto conn = std::make_shared<Connection>(executor, o);
    if (!stopped) conn->Start();
    {
      std::lock_guard lock(published_mu);
      published.emplace_back(at.host + ":" + std::to_string(at.port), conn);
    }
    nodes.push_back(Node{at, std::move(conn)});
    return static_cast<int>(nodes.size() - 1);
  }

  // The master for `slot`, or for a command without keys (slot < 0) a connected master.
  int Route(int slot) const {
    if (slot >= 0) return slots[static_cast<std::size_t>(slot)] == kNoNode ? -1 : slots[slot];
    for (int m : masters) {
      if (nodes[static_cast<std::size_t>(m)].conn->Connected()) return m;
    }
    return masters.empty() ? -1 : masters.front();
  }

  void RequestRefresh() {
    refresh_wanted = true;
    if (waiting) timer.cancel();
  }

  // A node learned of a moment ago gets up to connect_timeout for its first connect; a node
  // that was connected and is not now fails fast (NotSent) as a Connection does.
  static net::awaitable<std::shared_ptr<Connection>> Ready(std::shared_ptr<Cluster> self,
                                                           int node) {
    auto conn = self->nodes[static_cast<std::size_t>(node)].conn;
    if (conn->Connected() || conn->GetStats().connects > 0) co_return conn;
    net::steady_timer wait(self->executor);
    const auto deadline = Clock::now() + self->options.connection.connect_timeout;
    while (!conn->Connected() && Clock::now() < deadline && !self->stopped) {
      wait.expires_after(std::chrono::milliseconds(2));
      co_await wait.async_wait(kNoThrow);
    }
    co_return conn;
  }

  static net::awaitable<void> FirstMap(std::shared_ptr<Cluster> self) {
    net::steady_timer wait(self->executor);
    const auto deadline = Clock::now() + self->options.connection.connect_timeout;
    while (self->map_loads.load() == 0 && Clock::now() < deadline && !self->stopped) {
      wait.expires_after(std::chrono::milliseconds(5));
      co_await wait.async_wait(kNoThrow);
    }
  }

  // One CLUSTER SLOTS from the first node that answers (masters of the last map first).
  net::awaitable<bool> RefreshOnce(std::shared_ptr<Cluster> self) {
    std::vector<int> order = masters;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      if (std::find(order.begin(), order.end(), static_cast<int>(i)) == order.end()) {
        order.push_back(static_cast<int>(i));
      }
    }
    for (int n : order) {
      auto conn = nodes[static_cast<std::size_t>(n)].conn;
      if (!conn->Connected()) continue;
      std::vector<SlotRange> ranges;
      try {
        Value reply = co_await conn->Send(List("CLUSTER", "SLOTS"), {});
        ranges = ParseClusterSlots(reply);
      } catch (const std::exception& e) {
        last_error =
            std::string("redis: slot map from ") + nodes[n].at.ToString() + ": " + e.what();
        continue;
      }
      if (ranges.empty()) continue;  // a node not (yet) part of a cluster
      if (self->stopped) co_return false;
      std::vector<std::uint16_t> table(kSlots, kNoNode);
      std::vector<int> new_masters;
      for (const auto& r : ranges) {
        const int m = NodeIndex(r.master);
        if (std::find(new_masters.begin(), new_masters.end(), m) == new_masters.end()) {
          new_masters.push_back(m);
        }
        std::fill(table.begin() + r.first, table.begin() + r.last + 1,
                  static_cast<std::uint16_t>(m));
      }
      slots.swap(table);
      masters.swap(new_masters);
      ++map_loads;
      co_return true;
    }
    co_return false;
  }

  static net::awaitable<void> RefreshLoop(std::shared_ptr<Cluster> self) {
    while (!self->stopped) {
      self->refresh_wanted = false;
      bool ok = false;
      try {
        ok = co_await self->RefreshOnce(self);
      } catch (const std::exception& e) {
        self->last_error = std::string("redis: slot map: ") + e.what();
      }
      if (self->stopped) break;
      const auto loaded_at = Clock::now();
      if (!self->refresh_wanted) {
        self->waiting = true;
        self->timer.expires_after(ok ? self->options.refresh_interval : kRetryRefresh);
        co_await self->timer.async_wait(kNoThrow);
        self->waiting = false;
      }
      // A burst of MOVED or failures asks for many refreshes: one per gap is enough.
      if (const auto since = Clock::now() - loaded_at; since < kMinRefreshGap && !self->stopped) {
        self->timer.expires_after(kMinRefreshGap - since);
        co_await self->timer.async_wait(kNoThrow);
      }
    }
  }

  // `args` is a complete command (EVALSHA … for a script).
  static net::awaitable<Value> Run(std::shared_ptr<Cluster> self, std::vector<std::string> args,
                                   const Script* script, StillWanted still_wanted) {
    const int key = FirstKeyIndex(args);
    const int slot = key < 0 ? -1 : KeySlot(args[static_cast<std::size_t>(key)]);
    int node = -1;
    bool asking = false;
    for (int hop = 0; hop <= kMaxRedirects; ++hop) {
      if (node < 0) node = self->Route(slot);
      if (node < 0 && self->map_loads.load() == 0) {
        // Just started: the first map is on its way (as a standalone connection's first
        // connect is); give it up to connect_timeout rather than fail at once.
        co_await FirstMap(self);
        node = self->Route(slot);
      }
      if (node < 0) {
        self->RequestRefresh();
        throw NotSent(slot < 0 ? std::string("redis: no cluster master known")
                               : "redis: no master known for slot " + std::to_string(slot));
      }
      auto conn = co_await Ready(self, node);
      Value reply;
      try {
        reply = co_await conn->Send(args, {still_wanted, asking});
        if (script != nullptr && reply.IsError() && reply.str.starts_with("NOSCRIPT")) {
          // Each master has its own script cache (and a promoted replica an empty one).
          Value loaded = co_await conn->Send(List("SCRIPT", "LOAD", script->source), {});
          if (loaded.IsError()) co_return loaded;
          reply = co_await conn->Send(args, {{}, asking});
        }
      } catch (const Unavailable& e) {
        // The node may be gone (a failover): read the map again soon. Not for TRYAGAIN (a
        // multi-key command on a slot being migrated): the map is right, the keys are moving.
        if (std::string_view(e.what()).find("TRYAGAIN") == std::string_view::npos) {
          self->RequestRefresh();
        }
        throw;
      }
      auto redirect = ParseRedirect(reply);
      if (!redirect) {
        if (script != nullptr && script->changes_state && self->options.wait_replicas > 0 &&
            !reply.IsError()) {
          co_await WaitReplicas(*conn, self->options.wait_replicas, self->options.wait_timeout);
        }
        co_return reply;
      }
      // The command did not run here; follow it.
      node = self->NodeIndex(redirect->to);
      if (redirect->kind == Redirect::Kind::kMoved) {
        self->slots[static_cast<std::size_t>(redirect->slot)] = static_cast<std::uint16_t>(node);
        ++self->moved;
        self->RequestRefresh();
        asking = false;
      } else {
        ++self->asked;
        asking = true;
      }
    }
    throw Unavailable("redis: more than " + std::to_string(kMaxRedirects) +
                      " redirections for slot " + std::to_string(slot));
  }

  net::any_io_executor executor;
  ClientOptions options;
  std::vector<Node> nodes;           // every node ever seen; indices stay valid
  // The same, for readers on other threads (InFlightByNode): appended under the mutex.
  mutable std::mutex published_mu;
  std::vector<std::pair<std::string, std::shared_ptr<Connection>>> published;
  std::vector<std::uint16_t> slots;  // slot -> index in nodes (kNoNode: unknown)
  std::vector<int> masters;          // of the last map, in its order
  net::steady_timer timer;
  bool stopped = false;
  bool waiting = false;  // the refresh loop sleeps on `timer` (a RequestRefresh may wake it)
  bool refresh_wanted = false;
  std::atomic<std::uint64_t> map_loads{0};  // atomics: metrics read them from another thread
  std::atomic<std::uint64_t> moved{0};
  std::atomic<std::uint64_t> asked{0};
  std::string last_error;
};

Client::Client(net::any_io_executor executor, ClientOptions options)
    : options_(std::move(options)) {
  if (options_.cluster_nodes.empty()) {
    single_ = std::make_shared<Connection>(std::move(executor), options_.connection);
  } else {
    cluster_ = std::make_shared<Cluster>(std::move(executor), options_);
    cluster_->stopped = true;  // until Start()
    for (const auto& at : options_.cluster_nodes) cluster_->NodeIndex(at);
  }
}

Client::~Client() {
  try {
    Stop();
  } catch (...) {  // only bad_alloc while failing pending commands
  }
}

void Client::Start() {
  if (single_) return single_->Start();
  if (!cluster_->stopped || cluster_->map_loads.load() > 0) return;
  cluster_->stopped = false;
  for (auto& n : cluster_->nodes) n.conn->Start();
  net::co_spawn(cluster_->executor, Cluster::RefreshLoop(cluster_), net::detached);
}

void Client::Stop() {
  if (single_) return single_->Stop();
  cluster_->stopped = true;
  cluster_->timer.cancel();
  for (auto& n : cluster_->nodes) n.conn->Stop();
}

bool Client::Connected() const {
  if (single_) return single_->Connected();
  if (cluster_->map_loads.load() == 0 || cluster_->masters.empty()) return false;
  return std::all_of(cluster_->masters.begin(), cluster_->masters.end(), [this](int m) {
    return cluster_->nodes[static_cast<std::size_t>(m)].conn->Connected();
  });
}

net::awaitable<Value> Client::Command(std::vector<std::string> args) {
  if (single_) return single_->Command(std::move(args));
  return Cluster::Run(cluster_, std::move(args), nullptr, {});
}

net::awaitable<Value> Client::Eval(const Script& script, const std::vector<std::string>& keys,
                                   const std::vector<std::string>& args, StillWanted still_wanted) {
  if (cluster_)
    return Cluster::Run(cluster_, EvalShaCommand(script, keys, args), &script, still_wanted);
  if (options_.wait_replicas > 0 && script.changes_state) {
    return WaitedEval(script, keys, args, still_wanted);
  }
  return single_->Eval(script, keys, args, still_wanted);
}

net::awaitable<Value> Client::WaitedEval(const Script& script, const std::vector<std::string>& keys,
                                         const std::vector<std::string>& args,
                                         StillWanted still_wanted) {
  std::shared_ptr<Connection> conn = single_;
  Value reply = co_await conn->Eval(script, keys, args, still_wanted);
  if (!reply.IsError()) co_await WaitReplicas(*conn, options_.wait_replicas, options_.wait_timeout);
  co_return reply;
}

net::awaitable<std::vector<Value>> Client::OnEveryMaster(std::vector<std::string> args) {
  std::vector<Value> out;
  if (single_) {
    out.push_back(co_await single_->Command(std::move(args)));
    co_return out;
  }
  std::shared_ptr<Cluster> cluster = cluster_;
  if (cluster->masters.empty()) throw NotSent("redis: no cluster master known");
  const std::vector<int> masters = cluster->masters;
  for (int m : masters) {
    auto conn = co_await Cluster::Ready(cluster, m);
    try {
      out.push_back(co_await conn->Send(args, {}));
    } catch (const Unavailable&) {
      cluster->RequestRefresh();
      throw;
    }
  }
  co_return out;
}

Connection::Stats Client::GetStats() const {
  if (single_) return single_->GetStats();
  Connection::Stats sum;
  for (const auto& n : cluster_->nodes) {
    auto s = n.conn->GetStats();
    sum.commands += s.commands;
    sum.writes += s.writes;
    sum.replies += s.replies;
    sum.connects += s.connects;
    sum.not_sent += s.not_sent;
    sum.timed_out += s.timed_out;
    sum.late_replies += s.late_replies;
    sum.withdrawn += s.withdrawn;
    if (!s.last_error.empty()) sum.last_error = s.last_error;
  }
  if (!cluster_->last_error.empty() && sum.last_error.empty())
    sum.last_error = cluster_->last_error;
  return sum;
}

void Client::InFlightByNode(
    const std::function<void(const std::string& node, std::size_t in_flight)>& visit) const {
  if (single_) {
    visit(options_.connection.host + ":" + std::to_string(options_.connection.port),
          single_->InFlight());
    return;
  }
  std::lock_guard lock(cluster_->published_mu);
  for (const auto& [node, conn] : cluster_->published) visit(node, conn->InFlight());
}

std::uint64_t Client::MapLoads() const { return cluster_ ? cluster_->map_loads.load() : 0; }
std::uint64_t Client::MovedFollowed() const { return cluster_ ? cluster_->moved.load() : 0; }
std::uint64_t Client::AskFollowed() const { return cluster_ ? cluster_->asked.load() : 0; }

}  // namespace ticketing::redis
