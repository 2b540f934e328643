// Three real servers on a local Redis Cluster (scripts/services start --cluster: three masters,
// three replicas): six products whose slots lie on every master sell exactly their stock to
// 5,000 buyers; one product's slot is resharded to another master mid-sale (MOVED followed);
// a master is killed mid-sale, its replica promoted, the servers carry on without a restart
// and the ledger balances once the promoted master's products are rebuilt. The tests share one
// cluster and run in this order (the last one leaves a master dead).
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/json.hpp>
#include <atomic>
#include <chrono>
#include <map>
#include <regex>
#include <iostream>
#include <set>
#include <thread>

#include "redis/blocking_client.hpp"
#include "redis/cluster.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/server_process.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"
#include "tests/support/tokens.hpp"

namespace ticketing::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const Services& Cluster() { return SharedClusterServices(); }

struct Master {
  redis::Endpoint at;
  std::string id;
  std::vector<std::pair<int, int>> ranges;
};

// The current masters, from CLUSTER SLOTS of the first seed that answers.
std::vector<Master> Masters() {
  for (const auto& seed : redis::ParseEndpoints(Cluster().Get("REDIS_CLUSTER_NODES"))) {
    try {
      redis::BlockingConnection c(seed.host, seed.port, 2s);
      auto slots = c.Command({"CLUSTER", "SLOTS"});
      if (slots.type != redis::Value::Type::kArray) continue;
      std::map<std::string, Master> by_id;
      for (const auto& r : slots.elements) {
        const auto& m = r.elements[2].elements;
        auto& master = by_id[m[2].str];
        master.at = {m[0].str, static_cast<std::uint16_t>(m[1].AsInt())};
        master.id = m[2].str;
        master.ranges.emplace_back(r.elements[0].AsInt(), r.elements[1].AsInt());
      }
      std::vector<Master> out;
      for (auto& [id, m] : by_id) out.push_back(m);
      return out;
    } catch (const redis::Unavailable&) {
    }
  }
  return {};
}

int OwnerOf(const std::vector<Master>& masters, int slot) {
  for (std::size_t i = 0; i < masters.size(); ++i) {
    for (auto [a, b] : masters[i].ranges) {
      if (slot >= a && slot <= b) return static_cast<int>(i);
    }
  }
  return -1;
}

int ProductSlot(std::int64_t id) { return redis::KeySlot("{p:" + std::to_string(id) + "}"); }

redis::Value On(const redis::Endpoint& at, const std::vector<std::string>& args) {
  redis::BlockingConnection c(at.host, at.port, 5s);
  return c.Command(args);
}

class ClusterSale : public ::testing::Test {
 protected:
  // Three servers, each with its own connections to every master.
  void StartServers(std::map<std::string, std::string> env = {}) {
    for (int i = 0; i < 3; ++i) {
      servers_.push_back(std::make_unique<ServerProcess>(Cluster(), env));
      servers_.back()->Start();
    }
  }

  // Products with `stock` units until two lie on each master; returns those six.
  std::vector<std::int64_t> SixProductsOverEveryMaster(int stock, int hold_seconds = 300) {
    const auto masters = Masters();
    EXPECT_EQ(masters.size(), 3u);
    std::map<int, std::vector<std::int64_t>> by_master;
    HttpClient admin(servers_[0]->port());
    std::vector<std::int64_t> chosen;
    for (int tries = 0; tries < 200 && chosen.size() < 6; ++tries) {
      json::object body{{"name", "Cluster"},
                        {"price", 10.0},
                        {"stock", stock},
                        {"perUserLimit", 1},
                        {"holdSeconds", hold_seconds}};
      auto r = admin.Post("/admin/products", json::serialize(body), Token("ops", true));
      EXPECT_EQ(r.status, 201) << r.body;
      if (r.status != 201) break;
      const auto id = r.json.at("id").as_int64();
      auto& mine = by_master[OwnerOf(masters, ProductSlot(id))];
      if (mine.size() < 2) {
        mine.push_back(id);
        chosen.push_back(id);
      }
    }
    EXPECT_EQ(chosen.size(), 6u);
    return chosen;
  }

  struct Tally {
    std::atomic<int> confirmed{0};
    std::atomic<int> sold_out{0};
    std::atomic<int> gave_up{0};    // still 503/transport errors after the retries
    std::atomic<int> lost_hold{0};  // a reserved hold its confirm did not find (404)
    std::atomic<int> expired{0};    // a reserved hold that expired before its confirm (410)
    std::atomic<int> other{0};      // any other answer (each also printed)
  };

  // Buyers `first`..`first + n - 1`, buyer b on products[b % 6] through server b % 3: reserve,
  // then confirm what was held. 503s and transport errors are retried for up to `patience`
  // (the cluster may be failing over), in batches of `batch` concurrent requests per server.
  void Sell(const std::vector<std::int64_t>& products, int first, int n, Tally& tally,
            std::chrono::seconds patience = 30s, int batch = 200) {
    std::vector<std::thread> threads;
    for (int s = 0; s < 3; ++s) {
      threads.emplace_back([&, s] {
        const auto port = servers_[static_cast<std::size_t>(s)]->port();
        std::vector<int> buyers;
        for (int b = first; b < first + n; ++b) {
          if (b % 3 == s) buyers.push_back(b);
        }
        for (std::size_t at = 0; at < buyers.size(); at += static_cast<std::size_t>(batch)) {
          std::vector<int> todo(
              buyers.begin() + static_cast<std::ptrdiff_t>(at),
              buyers.begin() + static_cast<std::ptrdiff_t>(
                                   std::min(buyers.size(), at + static_cast<std::size_t>(batch))));
          SellBatch(port, products, todo, tally, patience);
        }
      });
    }
    for (auto& t : threads) t.join();
  }

  static std::string User(int b) { return "buyer-" + std::to_string(b); }

  static bool Retry(const Reply& r) { return r.status == 0 || r.status == 503; }

  static void SellBatch(std::uint16_t port, const std::vector<std::int64_t>& products,
                        std::vector<int> todo, Tally& tally, std::chrono::seconds patience) {
    const auto deadline = Clock::now() + patience;
    std::vector<std::pair<int, std::string>> held;
    while (!todo.empty()) {
      std::vector<Call> calls;
      for (int b : todo) {
        const auto product = products[static_cast<std::size_t>(b) % products.size()];
        calls.push_back({"POST",
                         "/purchase/reserve",
                         json::serialize(json::object{{"productId", product}, {"quantity", 1}}),
                         Token(User(b)),
                         {{"Idempotency-Key", "k-" + std::to_string(b)}}});
      }
      auto replies = Concurrent(port, calls);
      std::vector<int> again;
      for (std::size_t i = 0; i < replies.size(); ++i) {
        const auto& r = replies[i];
        if (r.status == 200 || r.status == 201) {
          held.emplace_back(todo[i], std::string(r.json.at("reservationId").as_string()));
        } else if (r.status == 409 && r.ErrorCode() == "SOLD_OUT") {
          ++tally.sold_out;
        } else if (Retry(r) && Clock::now() < deadline) {
          again.push_back(todo[i]);
        } else if (Retry(r)) {
          ++tally.gave_up;
        } else {
          ++tally.other;
          std::cout << "reserve: " << r.status << " " << r.body << "\n";
        }
      }
      todo.swap(again);
      if (!todo.empty()) std::this_thread::sleep_for(200ms);
    }
    while (!held.empty()) {
      std::vector<Call> calls;
      for (auto& [b, rid] : held) {
        calls.push_back({"POST", "/purchase/confirm",
                         json::serialize(json::object{{"reservationId", rid}}), Token(User(b))});
      }
      auto replies = Concurrent(port, calls);
      std::vector<std::pair<int, std::string>> again;
      for (std::size_t i = 0; i < replies.size(); ++i) {
        const auto& r = replies[i];
        if (r.status == 200 || r.status == 201 ||
            (r.status == 409 && r.ErrorCode() == "ALREADY_CONFIRMED")) {
          ++tally.confirmed;
        } else if ((Retry(r) || r.ErrorCode() == "CONFIRM_IN_PROGRESS") &&
                   Clock::now() < deadline) {
          again.push_back(held[i]);
        } else if (r.status == 404) {
          ++tally.lost_hold;  // the master that had it died before its replica got it
        } else if (r.status == 410) {
          ++tally.expired;  // its confirm was retried past the hold's time
        } else if (Retry(r)) {
          ++tally.gave_up;
        } else {
          ++tally.other;
          std::cout << "confirm: " << r.status << " " << r.body << "\n";
        }
      }
      held.swap(again);
      if (!held.empty()) std::this_thread::sleep_for(200ms);
    }
  }

  long long Sql(const std::string& q) { return Stores(Cluster()).SqlInt(q); }
  long long Orders(std::int64_t p) {
    return Sql("SELECT COALESCE(SUM(quantity), 0) FROM orders WHERE product_id = " +
               std::to_string(p));
  }
  long long DbStock(std::int64_t p) {
    return Sql("SELECT stock FROM products WHERE id = " + std::to_string(p));
  }
  long long DbTotal(std::int64_t p) {
    return Sql("SELECT total_stock FROM products WHERE id = " + std::to_string(p));
  }
  // What server `s` reads from Redis for the product (-1 if it cannot answer).
  long long Available(std::size_t s, std::int64_t p) {
    auto r = HttpClient(servers_[s]->port()).Get("/products/" + std::to_string(p));
    return r.status == 200 ? r.json.at("available").as_int64() : -1;
  }
  double Metric(std::size_t s, const std::string& name) {
    auto body = HttpClient(servers_[s]->port()).Get("/metrics").body;
    std::smatch m;
    if (!std::regex_search(body, m, std::regex("\n" + name + " ([0-9.e+]+)"))) return -1;
    return std::stod(m[1]);
  }

  std::vector<std::unique_ptr<ServerProcess>> servers_;
};

// Also a regression test: a rebuild under a running sale once counted orders committed while it
// waited for the product's row lock as live holds and sold fewer units than the stock.
TEST_F(ClusterSale, ThreeServersSellExactlyTheStockOfSixProductsOnThreeMastersTo5000Buyers) {
  StartServers();
  constexpr int kStock = 400;  // 2,400 units for 5,000 buyers
  const auto products = SixProductsOverEveryMaster(kStock);
  ASSERT_EQ(products.size(), 6u);
  Tally tally;
  // Mid-sale, every product's Redis-loss marker goes (as after a failover): each server's watch
  // rebuilds the products from the database while their confirms are committing.
  std::atomic<bool> selling{true};
  std::thread forget([&] {
    const auto masters = Masters();
    for (int round = 0; round < 3 && selling; ++round) {
      std::this_thread::sleep_for(1500ms);
      for (auto p : products) {
        const auto& m = masters[static_cast<std::size_t>(OwnerOf(masters, ProductSlot(p)))];
        On(m.at, {"DEL", "{p:" + std::to_string(p) + "}:epoch"});
      }
    }
  });
  Sell(products, 0, 5000, tally);
  selling = false;
  forget.join();
  EXPECT_EQ(tally.confirmed.load(), 6 * kStock);
  EXPECT_EQ(tally.sold_out.load(), 5000 - 6 * kStock);
  EXPECT_EQ(tally.gave_up.load(), 0);
  EXPECT_EQ(tally.lost_hold.load(), 0);
  EXPECT_EQ(tally.expired.load(), 0);
  EXPECT_EQ(tally.other.load(), 0);
  for (auto p : products) {
    EXPECT_EQ(Orders(p), kStock) << "product " << p;
    EXPECT_EQ(DbStock(p), 0) << "product " << p;
    for (std::size_t s = 0; s < servers_.size(); ++s) EXPECT_EQ(Available(s, p), 0);
  }
  // Commands in flight are reported per master.
  const auto page = HttpClient(servers_[0]->port()).Get("/metrics").body;
  int nodes = 0;
  for (auto at = page.find("\nticketing_redis_in_flight{node=\""); at != std::string::npos;
       at = page.find("\nticketing_redis_in_flight{node=\"", at + 1)) {
    ++nodes;
  }
  EXPECT_GE(nodes, 3) << page;
}

TEST_F(ClusterSale, AProductsSlotReshardedMidSaleIsFollowedByMoved) {
  // No periodic map refresh: the servers learn of the new owner from a MOVED.
  StartServers({{"REDIS_CLUSTER_REFRESH_MS", "600000"}});
  constexpr int kStock = 150;
  const auto products = SixProductsOverEveryMaster(kStock);
  ASSERT_EQ(products.size(), 6u);
  Tally tally;
  Sell(products, 100000, 600, tally);  // 100 per product: every slot is in use, maps warm

  auto masters = Masters();
  const auto moving = products[0];
  const int slot = ProductSlot(moving);
  const Master from = masters[static_cast<std::size_t>(OwnerOf(masters, slot))];
  const Master to = masters[(static_cast<std::size_t>(OwnerOf(masters, slot)) + 1) % 3];
  const std::string s = std::to_string(slot);
  // As redis-cli --cluster reshard does it, while the other products keep selling.
  std::thread sale([&] { Sell(products, 200000, 300, tally); });
  ASSERT_EQ(On(to.at, {"CLUSTER", "SETSLOT", s, "IMPORTING", from.id}).str, "OK");
  ASSERT_EQ(On(from.at, {"CLUSTER", "SETSLOT", s, "MIGRATING", to.id}).str, "OK");
  for (;;) {
    auto keys = On(from.at, {"CLUSTER", "GETKEYSINSLOT", s, "1000"});
    if (keys.elements.empty()) break;
    std::vector<std::string> migrate{"MIGRATE", to.at.host, std::to_string(to.at.port), "", "0",
                                     "5000",    "KEYS"};
    for (const auto& k : keys.elements) migrate.push_back(k.str);
    auto r = On(from.at, migrate);
    ASSERT_FALSE(r.IsError()) << r.str;
  }
  for (const auto& m : masters) On(m.at, {"CLUSTER", "SETSLOT", s, "NODE", to.id});
  sale.join();
  EXPECT_EQ(On(to.at, {"EXISTS", "{p:" + std::to_string(moving) + "}:info"}).integer, 1);

  // The rest of the stock, the moved product's included, after the reshard.
  Sell(products, 300000, 6 * kStock, tally);
  double moved = 0;
  for (std::size_t i = 0; i < servers_.size(); ++i)
    moved += Metric(i, "ticketing_redis_cluster_moved");
  EXPECT_GE(moved, 1) << "no server followed a MOVED";
  std::cout << "MOVED followed by the three servers: " << moved << "\n";
  EXPECT_EQ(tally.gave_up.load(), 0);
  EXPECT_EQ(tally.lost_hold.load(), 0);
  EXPECT_EQ(tally.expired.load(), 0);
  EXPECT_EQ(tally.other.load(), 0);
  EXPECT_EQ(tally.confirmed.load(), 6 * kStock);
  for (auto p : products) {
    EXPECT_EQ(Orders(p), kStock) << "product " << p;
    EXPECT_EQ(DbStock(p), 0) << "product " << p;
    for (std::size_t i = 0; i < servers_.size(); ++i) EXPECT_EQ(Available(i, p), 0);
  }
}

TEST_F(ClusterSale, WaitingRoomsOnEveryMasterAdmitTheirLines) {
  StartServers();
  const auto masters = Masters();
  ASSERT_EQ(masters.size(), 3u);
  HttpClient admin(servers_[0]->port());
  std::map<int, std::int64_t> by_master;  // one queued product per master
  for (int tries = 0; tries < 100 && by_master.size() < 3; ++tries) {
    json::object body{{"name", "Queued"}, {"price", 10},  {"stock", 10},
                      {"perUserLimit", 1}, {"holdSeconds", 300}};
    body["queue"] = json::object{
        {"enabled", true}, {"admitPerSecond", 50}, {"maxActive", 50}, {"admissionTtlSeconds", 60}};
    auto r = admin.Post("/admin/products", json::serialize(body), Token("ops", true));
    ASSERT_EQ(r.status, 201) << r.body;
    const auto id = r.json.at("id").as_int64();
    by_master.emplace(OwnerOf(masters, ProductSlot(id)), id);
  }
  ASSERT_EQ(by_master.size(), 3u);
  struct Waiter {
    std::int64_t product;
    std::string user, ticket, admission;
  };
  std::vector<Waiter> waiters;
  for (auto [m, product] : by_master) {
    for (int i = 0; i < 3; ++i) {
      Waiter w{product, "q-" + std::to_string(product) + "-" + std::to_string(i), "", ""};
      HttpClient via(servers_[static_cast<std::size_t>(i)]->port());
      auto r = via.Post("/queue/" + std::to_string(product) + "/join", "", Token(w.user));
      ASSERT_EQ(r.status, 200) << r.body;
      w.ticket = std::string(r.json.at("ticket").as_string());
      waiters.push_back(w);
    }
  }
  // The tickers (shard 0 of each server) advance every product's line on its own master.
  const auto deadline = Clock::now() + 30s;
  std::size_t admitted = 0;
  while (admitted < waiters.size() && Clock::now() < deadline) {
    admitted = 0;
    for (auto& w : waiters) {
      if (w.admission.empty()) {
        auto r = HttpClient(servers_[1]->port())
                     .Get("/queue/" + std::to_string(w.product) + "/status?ticket=" + w.ticket,
                          Token(w.user));
        ASSERT_EQ(r.status, 200) << r.body;
        if (auto* t = r.json.as_object().if_contains("admissionToken")) {
          w.admission = std::string(t->as_string());
        }
      }
      admitted += !w.admission.empty();
    }
    if (admitted < waiters.size()) std::this_thread::sleep_for(100ms);
  }
  ASSERT_EQ(admitted, waiters.size());
  for (auto& w : waiters) {
    Call c{"POST", "/purchase/reserve",
           json::serialize(json::object{{"productId", w.product}}), Token(w.user),
           {{"X-Admission-Token", w.admission}}};
    auto r = HttpClient(servers_[2]->port()).Send(c);
    EXPECT_EQ(r.status, 201) << r.body;
  }
}

TEST_F(ClusterSale, AMasterKilledMidSaleIsReplacedByItsReplicaAndTheLedgerBalances) {
  StartServers();
  constexpr int kStock = 200;
  // Short holds: what a reserve left in the dead master's replica, unconfirmed, comes back.
  const auto products = SixProductsOverEveryMaster(kStock, /*hold_seconds=*/3);
  ASSERT_EQ(products.size(), 6u);
  Tally tally;
  Sell(products, 400000, 600, tally);

  auto masters = Masters();
  const int victim = OwnerOf(masters, ProductSlot(products[0]));
  const auto dead = masters[static_cast<std::size_t>(victim)].at;
  const auto pid = On(dead, {"INFO", "server"}).str;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(pid, m, std::regex("process_id:(\\d+)")));
  std::thread sale([&] { Sell(products, 500000, 1800, tally, 60s, 100); });
  std::this_thread::sleep_for(300ms);  // mid-sale
  ASSERT_EQ(kill(std::stoi(m[1]), SIGKILL), 0);
  // Its replica takes over within a few seconds (node timeout 2 s).
  const auto deadline = Clock::now() + 30s;
  bool promoted = false;
  while (!promoted && Clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    auto now = Masters();
    const int owner = OwnerOf(now, ProductSlot(products[0]));
    promoted = owner >= 0 && !(now[static_cast<std::size_t>(owner)].at == dead);
  }
  ASSERT_TRUE(promoted) << "no replica took over";
  sale.join();
  // And after the failover, the rest of the stock, by the same three servers.
  Sell(products, 600000, 1800, tally, 60s);
  EXPECT_EQ(tally.gave_up.load(), 0) << "requests still failing long after the failover";

  // The ledger: the database is the truth (orders + stock = total); once the promoted master's
  // products are rebuilt and unconfirmed holds have expired, Redis agrees with it everywhere.
  for (auto p : products) {
    EXPECT_EQ(Orders(p) + DbStock(p), DbTotal(p)) << "product " << p;
  }
  const auto until = Clock::now() + 60s;
  bool balanced = false;
  while (!balanced && Clock::now() < until) {
    balanced = true;
    for (auto p : products) {
      for (std::size_t s = 0; s < servers_.size(); ++s) {
        if (Available(s, p) != DbStock(p)) balanced = false;
      }
    }
    if (!balanced) std::this_thread::sleep_for(500ms);
  }
  for (auto p : products) {
    for (std::size_t s = 0; s < servers_.size(); ++s) {
      EXPECT_EQ(Available(s, p), DbStock(p)) << "product " << p << " server " << s;
    }
    EXPECT_LE(Orders(p), kStock);
  }
  std::cout << "confirmed " << tally.confirmed << ", sold out " << tally.sold_out
            << ", acknowledged holds lost in the failover (404) " << tally.lost_hold
            << ", holds expired while their confirm was retried (410) " << tally.expired
            << ", other answers " << tally.other << "\n";
  for (auto& s : servers_) EXPECT_TRUE(s->Running());
}

}  // namespace
}  // namespace ticketing::testing
