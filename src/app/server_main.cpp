#include "app/server_main.hpp"

#include "abuse/guard.hpp"
#include "abuse/pow.hpp"
#include "auth/jwt.hpp"
#include "config/config.hpp"
#include "db/db.hpp"
#include "http/api.hpp"
#include "http/api_abuse.hpp"
#include "http/events.hpp"
#include "http/server.hpp"
#include "metrics/log.hpp"
#include "metrics/metrics.hpp"
#include "purchase/purchase_service.hpp"
#include "purchase/rebuild.hpp"
#include "purchase/reconciler.hpp"
#include "purchase/sold_out.hpp"
#include "purchase/sweeper.hpp"
#include "queue/admission.hpp"
#include "queue/queue_service.hpp"
#include "queue/ticker.hpp"
#include "redis/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <thread>
#include <vector>

namespace ticketing::app {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;

std::int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<config::Config> LoadConfig() {
  try {
    return config::Load(config::EnvironmentLookup());
  } catch (const config::ConfigError& e) {
    std::cerr << "ticketing: configuration error: " << e.what() << "\n";
    return std::nullopt;
  }
}

db::Options DbOptions(const config::Config& c) {
  db::Options o;
  o.host = c.db_host;
  o.port = c.db_port;
  o.user = c.db_username;
  o.password = c.db_password;
  o.database = c.db_database;
  o.pool_size = static_cast<std::size_t>(c.db_pool_size);
  o.max_waiting = static_cast<std::size_t>(c.db_max_waiting);
  o.read_timeout = std::chrono::seconds(c.db_timeout_seconds);
  o.write_timeout = std::chrono::seconds(c.db_timeout_seconds);
  return o;
}

// Applies migrations, waiting up to a minute for the database to come up.
// Applies the schema migrations, retrying for `patience` (or until `stop`). False if they
// could not be applied by then.
bool MigrateWithRetry(const db::Options& options, std::chrono::seconds patience,
                      const std::atomic<bool>* stop = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (int attempt = 1;; ++attempt) {
    try {
      db::Connection c(options);
      db::Migrate(c);
      log::Info("migrations_applied");
      return true;
    } catch (const std::exception& e) {
      if (std::chrono::steady_clock::now() > deadline || (stop && stop->load())) {
        log::Error("migrations_failed", {{"error", e.what()}});
        return false;
      }
      if (attempt == 1) log::Warn("database_not_ready", {{"error", e.what()}});
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
}

// Schema migrations retried on a thread of their own while the server already serves; stopped
// and joined on every way out of Serve().
class BackgroundMigration {
 public:
  ~BackgroundMigration() { Stop(); }
  void Start(std::function<void(const std::atomic<bool>&)> body) {
    thread_ = std::thread([this, body = std::move(body)] { body(stop_); });
  }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// One I/O thread's services: its Redis connection, purchase and queue services and API.
struct Shard {
  net::io_context ctx{1};
  std::shared_ptr<redis::Client> redis;
  std::unique_ptr<purchase::PurchaseService> purchase;
  std::unique_ptr<queue::QueueService> queue;
  std::unique_ptr<abuse::Guard> guard;
  std::unique_ptr<http::Api> api;
};

}  // namespace

int Serve() {
  auto cfg = LoadConfig();
  if (!cfg) return 2;
  log::Init(cfg->log_level);
  // Every connection is a file descriptor: take all the kernel allows this process.
  if (rlimit lim{}; getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  const auto db_options = DbOptions(*cfg);
  // Migrations come first, but a database that is down must not keep this server from what
  // needs only Redis (reserves, cancels, returning expired holds): after a short wait it serves
  // with the pool closed (database calls answer 503) while a thread keeps migrating, and opens
  // the pool once the schema is in place.
  const bool migrated = MigrateWithRetry(db_options, std::chrono::seconds(5));

  const int threads = cfg->io_threads > 0
                          ? cfg->io_threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  db::Pool pool(db_options, /*open=*/migrated);
  BackgroundMigration migration;
  if (!migrated) {
    log::Warn("serving_without_database", {{"reason", "schema migrations pending"}});
    migration.Start([&db_options, &pool](const std::atomic<bool>& stop) {
      while (!stop.load()) {
        if (MigrateWithRetry(db_options, std::chrono::seconds(30), &stop)) {
          pool.Open();
          log::Info("database_ready");
          return;
        }
      }
    });
  }
  auto& registry = metrics::Registry::Get();
  registry.AddGaugeCallback("ticketing_db_pool_waiting",
                            "Database calls queued for a pool connection.",
                            [&pool] { return static_cast<double>(pool.waiting()); });
  registry.AddGaugeCallback("ticketing_db_pool_in_use", "Pool connections running a call now.",
                            [&pool] { return static_cast<double>(pool.busy()); });
  registry.AddGaugeCallback("ticketing_db_pool_size", "Pool connections (threads) in all.",
                            [&pool] { return static_cast<double>(pool.options().pool_size); });
  auth::JwtCodec jwt(cfg->jwt_secret);
  queue::AdmissionCodec admission(cfg->jwt_secret);
  abuse::PowCodec pow(cfg->jwt_secret);
  const abuse::Options abuse_options = abuse::Options::From(*cfg);
  // Shared by the shards: learned from the scripts' replies, refreshed by the queue ticker.
  purchase::SoldOutBoard sold_out{std::chrono::milliseconds(cfg->sold_out_cache_ms)};

  redis::Options redis_options;
  redis_options.host = cfg->redis_host;
  redis_options.port = cfg->redis_port;
  redis_options.command_timeout = std::chrono::milliseconds(cfg->redis_timeout_ms);
  redis_options.max_in_flight = static_cast<std::size_t>(cfg->redis_max_in_flight);
  redis_options.queue_timeout = std::chrono::milliseconds(cfg->redis_queue_timeout_ms);
  redis::ClientOptions client_options{redis_options};
  if (!cfg->redis_cluster_nodes.empty()) {
    client_options.cluster_nodes = redis::ParseEndpoints(cfg->redis_cluster_nodes);
  }
  client_options.wait_replicas = cfg->redis_wait_replicas;
  client_options.wait_timeout = std::chrono::milliseconds(cfg->redis_wait_timeout_ms);
  client_options.refresh_interval = std::chrono::milliseconds(cfg->redis_cluster_refresh_ms);

  purchase::Options purchase_options;
  purchase_options.default_hold_seconds = cfg->hold_ttl_seconds;
  purchase_options.confirm_lease = std::chrono::seconds(cfg->confirm_lease_seconds);
  purchase_options.redis_host = cfg->redis_host;
  purchase_options.redis_port = cfg->redis_port;
  purchase_options.redis_timeout = std::chrono::milliseconds(cfg->redis_timeout_ms);
  purchase_options.redis_cluster = client_options.cluster_nodes;
  purchase_options.sold_out = &sold_out;
  purchase_options.reserve_batch_max = static_cast<std::size_t>(cfg->reserve_batch_max);
  purchase_options.id_key = auth::HmacSha256(cfg->jwt_secret, "reservation-ids");

  queue::Options queue_options;
  queue_options.max_waiting = cfg->queue_max_waiting;

  // The operator dashboard's live figures (GET /admin/events), sampled on shard 0.
  http::EventHubOptions events_options;
  events_options.max_subscribers = cfg->sse_max_subscribers;
  events_options.interval = std::chrono::milliseconds(cfg->sse_interval_ms);
  http::EventHub events(events_options);
  http::WebOptions web;
  web.demo_login = cfg->demo_login;
  web.cors_origins = cfg->cors_origins;
  web.frame_ancestors = cfg->frame_ancestors;
  web.poll_timeout_seconds = cfg->queue_poll_timeout_seconds;
  web.events = &events;

  purchase::OrderWriter order_writer(pool, 128, cfg->fault);
  std::vector<std::unique_ptr<Shard>> shards;
  std::vector<net::io_context*> contexts;
  for (int i = 0; i < threads; ++i) {
    auto s = std::make_unique<Shard>();
    s->redis = std::make_shared<redis::Client>(s->ctx.get_executor(), client_options);
    s->redis->Start();
    s->purchase = std::make_unique<purchase::PurchaseService>(*s->redis, pool, order_writer,
                                                             purchase_options);
    s->queue = std::make_unique<queue::QueueService>(*s->redis, admission, queue_options);
    s->guard = std::make_unique<abuse::Guard>(abuse_options, pow);
    s->api = std::make_unique<http::Api>(*s->purchase, jwt, NowSeconds, s->queue.get(),
                                         s->guard.get());
    s->api->Configure(web);
    contexts.push_back(&s->ctx);
    shards.push_back(std::move(s));
  }

  // Commands in flight by Redis node, the shards' clients summed (cluster: every node seen).
  struct RedisInFlight : metrics::Collector {
    const std::vector<std::unique_ptr<Shard>>* shards = nullptr;
    void Render(std::string& out) const override {
      std::map<std::string, std::size_t> by_node;
      for (const auto& s : *shards) {
        s->redis->InFlightByNode(
            [&](const std::string& node, std::size_t n) { by_node[node] += n; });
      }
      out += "# HELP ticketing_redis_in_flight Redis commands written and not answered yet, by "
             "node.\n# TYPE ticketing_redis_in_flight gauge\n";
      for (const auto& [node, n] : by_node) {
        out += "ticketing_redis_in_flight{node=\"" + node + "\"} " + std::to_string(n) + "\n";
      }
    }
  } redis_in_flight;
  redis_in_flight.shards = &shards;
  registry.Add(&redis_in_flight);
  struct UnregisterInFlight {
    const metrics::Collector* c;
    ~UnregisterInFlight() { metrics::Registry::Get().Remove(c); }
  } unregister_in_flight{&redis_in_flight};
  if (!client_options.cluster_nodes.empty()) {
    // Summed over the shards' clients; the counters are atomic.
    auto sum = [&shards](std::uint64_t (redis::Client::*read)() const) {
      return [&shards, read] {
        double n = 0;
        for (const auto& s : shards) n += static_cast<double>(((*s->redis).*read)());
        return n;
      };
    };
    registry.AddGaugeCallback("ticketing_redis_cluster_moved",
                              "MOVED redirections followed since start (I/O threads).",
                              sum(&redis::Client::MovedFollowed));
    registry.AddGaugeCallback("ticketing_redis_cluster_ask",
                              "ASK redirections followed since start (I/O threads).",
                              sum(&redis::Client::AskFollowed));
    registry.AddGaugeCallback("ticketing_redis_cluster_map_loads",
                              "Slot maps read since start (I/O threads).",
                              sum(&redis::Client::MapLoads));
  }

  http::ServerOptions server_options;
  server_options.address = cfg->bind_address;
  server_options.port = cfg->port;
  server_options.idle_timeout = std::chrono::seconds(cfg->idle_timeout_seconds);
  server_options.request_timeout = std::chrono::seconds(cfg->request_timeout_seconds);
  server_options.max_body_bytes = cfg->max_body_bytes;
  server_options.max_connections = cfg->max_connections;
  server_options.max_in_flight = cfg->http_max_in_flight;
  server_options.share_port = cfg->share_port;
  server_options.fault_delay = std::chrono::milliseconds(cfg->fault_delay_ms);
  server_options.stream = [&events](beast::tcp_stream& stream, http::Response head,
                                    const std::atomic<bool>& stopping) {
    return events.Serve(stream, std::move(head), stopping);
  };
  // With ADMIN_LISTEN the admin routes get a listener of their own (and the public one answers
  // 404 for them), so they need not be reachable from the internet at all.
  const bool split = cfg->admin_port != 0;
  auto handlers = [&shards](http::Listener listener) {
    return [&shards, listener](std::size_t i) -> http::Handler {
      http::Api* api = shards[i]->api.get();
      return [api, listener](http::Request& req, const net::ip::address& peer) -> http::Reply {
        if (!http::Serves(listener, req.target())) {
          std::string_view t = req.target();
          return http::NotServed(t.substr(0, t.find('?')));
        }
        return api->Serve(req, peer);
      };
    };
  };
  http::Server server(contexts, server_options,
                      handlers(split ? http::Listener::kPublic : http::Listener::kAll));
  std::unique_ptr<http::Server> admin_server;
  if (split) {
    auto admin_options = server_options;
    admin_options.address = cfg->admin_address;
    admin_options.port = cfg->admin_port;
    admin_server = std::make_unique<http::Server>(contexts, admin_options,
                                                  handlers(http::Listener::kAdmin));
  }
  try {
    server.Start();
  } catch (const std::exception& e) {
    std::cerr << "ticketing: cannot listen on " << cfg->bind_address << ":" << cfg->port << ": "
              << e.what() << "\n";
    return 1;
  }
  if (admin_server) {
    try {
      admin_server->Start();
    } catch (const std::exception& e) {
      std::cerr << "ticketing: cannot listen on ADMIN_LISTEN " << cfg->admin_address << ":"
                << cfg->admin_port << ": " << e.what() << "\n";
      return 1;
    }
  }

  // Shard 0 rebuilds Redis from the database at start and whenever Redis lost data, and runs
  // this server's sweeper, which pauses while Redis is known to hold unrebuilt stale data.
  // These background loops have a Redis connection of their own: a burst of requests filling
  // the shards' connections must not delay expiries, admissions or the sold-out refresh.
  auto& ctx0 = shards[0]->ctx;
  auto background_redis = std::make_shared<redis::Client>(ctx0.get_executor(), client_options);
  background_redis->Start();
  purchase::RedisLossWatch redis_watch(*background_redis, pool, purchase_options);
  purchase::SweeperOptions sweeper_options;
  sweeper_options.redis_verified = [&redis_watch] { return redis_watch.Verified(); };
  sweeper_options.interval = std::chrono::milliseconds(cfg->sweep_interval_ms);
  sweeper_options.batch = cfg->sweep_batch;
  sweeper_options.confirm_lease = purchase_options.confirm_lease;
  sweeper_options.sold_out = &sold_out;
  purchase::Sweeper sweeper(*background_redis, pool, sweeper_options);
  registry.Add(&sweeper.figures());
  struct Unregister {
    const metrics::Collector* c;
    ~Unregister() { metrics::Registry::Get().Remove(c); }
  } unregister_figures{&sweeper.figures()};
  // Shard 0 also advances the waiting rooms and refreshes the sold-out flags.
  queue::TickerOptions ticker_options;
  ticker_options.interval = std::chrono::milliseconds(cfg->queue_tick_ms);
  ticker_options.poll_timeout = std::chrono::seconds(cfg->queue_poll_timeout_seconds);
  queue::Ticker ticker(*background_redis, sold_out, ticker_options);
  net::co_spawn(ctx0, [&]() -> net::awaitable<void> { co_await ticker.Run(); }, net::detached);
  net::co_spawn(ctx0, [&]() -> net::awaitable<void> { co_await redis_watch.Run(); },
                net::detached);
  net::co_spawn(ctx0, [&]() -> net::awaitable<void> { co_await sweeper.Run(); }, net::detached);
  // The stock reconciler: every server runs the loop, the one holding the lease does the work.
  std::unique_ptr<purchase::Reconciler> reconciler;
  if (cfg->reconcile != "off") {
    purchase::ReconcilerOptions reconcile_options;
    reconcile_options.repair = cfg->reconcile == "repair";
    reconcile_options.interval = std::chrono::milliseconds(cfg->reconcile_interval_ms);
    reconcile_options.max_holds = cfg->reconcile_max_holds;
    reconciler = std::make_unique<purchase::Reconciler>(*background_redis, pool, purchase_options,
                                                        reconcile_options);
    metrics::Registry::Get().Add(reconciler.get());
    net::co_spawn(ctx0, [&]() -> net::awaitable<void> { co_await reconciler->Run(); },
                  net::detached);
  }
  net::co_spawn(
      ctx0,
      [&]() -> net::awaitable<void> {
        co_await events.Run(*shards[0]->purchase, shards[0]->queue.get());
      },
      net::detached);

  // SIGINT/SIGTERM: stop accepting, let in-flight requests finish (10 s at most), then stop.
  net::signal_set signals(ctx0, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    log::Info("shutdown", {{"signal", sig}, {"in_flight", server.InFlight()}});
    server.Stop();
    if (admin_server) admin_server->Stop();
    sweeper.Stop();
    ticker.Stop();
    redis_watch.Stop();
    if (reconciler) reconciler->Stop();
    events.Stop();
    std::thread([&] {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      auto in_flight = [&] {
        return server.InFlight() + (admin_server ? admin_server->InFlight() : 0);
      };
      while (in_flight() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      for (auto& s : shards) s->ctx.stop();
    }).detach();
  });

  log::Info("listening", {{"address", cfg->bind_address},
                          {"port", server.port()},
                          {"threads", threads},
                          {"adminPort", admin_server ? admin_server->port() : 0},
                          {"dbPool", cfg->db_pool_size}});
  std::vector<std::thread> runners;
  for (int i = 1; i < threads; ++i) runners.emplace_back([&, i] { shards[i]->ctx.run(); });
  ctx0.run();
  for (auto& t : runners) t.join();
  // The database workers post completions to the I/O contexts: drain and join them while the
  // contexts (and the order writer) still exist. Queued jobs fail fast; a running transaction
  // ends within the database timeouts, and what it leaves confirming a sweeper settles.
  migration.Stop();
  pool.Stop();
  for (auto& s : shards) s->redis->Stop();
  background_redis->Stop();
  if (reconciler) metrics::Registry::Get().Remove(reconciler.get());
  log::Info("stopped");
  spdlog::default_logger_raw()->flush();
  return 0;
}

int MigrateOnly() {
  auto cfg = LoadConfig();
  if (!cfg) return 2;
  log::Init(cfg->log_level);
  if (MigrateWithRetry(DbOptions(*cfg), std::chrono::seconds(60))) return 0;
  std::cerr << "ticketing: cannot migrate the database (see the log)\n";
  return 1;
}

int PrintToken(int argc, char** argv) {
  std::string user;
  bool admin = false;
  long long ttl = 3600;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--user" && i + 1 < argc) {
      user = argv[++i];
    } else if (a == "--admin") {
      admin = true;
    } else if (a == "--ttl" && i + 1 < argc) {
      try {
        ttl = std::stoll(argv[++i]);
      } catch (const std::exception&) {
        ttl = -1;
      }
      if (ttl <= 0) {
        std::cerr << "ticketing token: --ttl expects a positive number of seconds\n";
        return 2;
      }
    } else {
      std::cerr << "usage: ticketing token --user ID [--admin] [--ttl SECONDS]\n";
      return 2;
    }
  }
  if (user.empty() || user.size() > 128) {
    std::cerr << "ticketing token: --user ID is required (1 to 128 characters)\n";
    return 2;
  }
  auto secret = config::EnvironmentLookup()("AUTH_JWT_SECRET");
  if (!secret || secret->size() < 32) {
    std::cerr << "ticketing token: AUTH_JWT_SECRET: required, at least 32 bytes\n";
    return 2;
  }
  std::cout << auth::JwtCodec(*secret).Sign({user, admin}, NowSeconds() + ttl) << "\n";
  return 0;
}

}  // namespace ticketing::app
