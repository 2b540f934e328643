// ReconcileProduct (rebuild.hpp) called directly against a real Redis and MariaDB: a stock sync
// in the middle of a sale (an admin's stock change, a voided confirm) must not hold Redis for a
// time that grows with the crowd, and must still find the orders Redis did not hear of.
#include "purchase/rebuild.hpp"

#include "purchase/keys.hpp"
#include "purchase/scripts.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"
#include "tests/support/test_db.hpp"

#include <gtest/gtest.h>

#include <cstdio>

namespace ticketing::purchase {
namespace {

using testing::SharedServices;
using testing::Stores;

class Rebuild : public ::testing::Test {
 protected:
  Rebuild()
      : stores_(SharedServices()),
        db_(testing::TestDbOptions()),
        redis_(SharedServices().Get("REDIS_HOST"),
               static_cast<std::uint16_t>(SharedServices().Port("REDIS_PORT")),
               std::chrono::seconds(10)) {
    db::Migrate(db_);
  }

  std::int64_t CreateProduct(int stock) {
    const auto r = db_.Execute(
        "INSERT INTO products (name, price_cents, total_stock, stock, per_user_limit, "
        "hold_seconds) VALUES ('Rush', 10, ?, ?, 4, 600)",
        {std::int64_t{stock}, std::int64_t{stock}});
    const auto id = static_cast<std::int64_t>(r.insert_id);
    EXPECT_TRUE(Sync(id));
    return id;
  }
  std::optional<StockSync> Sync(std::int64_t id) {
    return db::Transaction(db_, [&] { return ReconcileProduct(db_, redis_, id); });
  }
  // reserve.lua as the server calls it: `user` holds one unit as `rid`.
  void Reserve(const std::string& prefix, const std::string& user, const std::string& rid) {
    auto r = redis_.Eval(Scripts::Get().reserve,
                         {keys::Info(prefix), keys::Available(prefix), keys::Expiry(prefix),
                          keys::User(prefix, user), keys::Hold(prefix, rid)},
                         {user, "1", rid, "600", prefix, "", ""});
    ASSERT_FALSE(r.IsError()) << r.str;
    ASSERT_EQ(r.elements.at(0).str, "OK");
  }
  // The order a committed confirm wrote, with the stock it took.
  void Commit(std::int64_t id, const std::string& rid, const std::string& user) {
    db_.Execute(
        "INSERT INTO orders (reservation_id, product_id, user_id, quantity, unit_price_cents, "
        "total_price_cents) VALUES (?, ?, ?, 1, 10, 10)",
        {rid, id, user});
    db_.Execute("UPDATE products SET stock = stock - 1 WHERE id = ?", {id});
  }

  Stores stores_;
  db::Connection db_;
  redis::BlockingConnection redis_;
};

TEST_F(Rebuild, ASyncMidSaleReadsTheCountersNotEveryLiveHold) {
  const int stock = 20000, holds = kRecountMaxHolds + 100;
  const auto id = CreateProduct(stock);
  const auto prefix = keys::Prefix(id);
  const auto rid = [&](int i) { return std::to_string(id) + "-r" + std::to_string(i); };
  for (int i = 0; i < holds; ++i) Reserve(prefix, "buyer" + std::to_string(i), rid(i));
  // Two buyers bought without Redis hearing of it: buyer0's confirm committed and did not
  // finish (its hold is confirming); buyer1's hold is held again (Redis came back from before
  // its confirm).
  auto begin = redis_.Eval(Scripts::Get().confirm_begin, {keys::Hold(prefix, rid(0))},
                           {prefix, rid(0), "buyer0", "30000", "lid-0"});
  ASSERT_EQ(begin.elements.at(0).str, "OK");
  Commit(id, rid(0), "buyer0");
  Commit(id, rid(1), "buyer1");
  // buyer2's confirm is in flight (not committed): its unit is live. The confirming list also
  // names a hold that ended (a stale entry): not counted, and dropped.
  begin = redis_.Eval(Scripts::Get().confirm_begin, {keys::Hold(prefix, rid(2))},
                      {prefix, rid(2), "buyer2", "30000", "lid-2"});
  ASSERT_EQ(begin.elements.at(0).str, "OK");
  stores_.Redis({"SADD", prefix + ":confirming", std::to_string(id) + "-gone"});

  stores_.Redis({"CONFIG", "RESETSTAT"});
  const auto sync = Sync(id);
  const long long lookups = stores_.KeyLookups();
  ASSERT_TRUE(sync);
  std::printf("the sync read %lld keys for %d live holds\n", lookups, holds);
  EXPECT_LT(lookups, 100) << "the sync read " << lookups << " keys for " << holds << " holds";
  // Both orders are sold, not live: the other holds' units are all that is taken.
  EXPECT_EQ(sync->database_stock, stock - 2);
  EXPECT_EQ(sync->held, holds - 2);
  EXPECT_EQ(sync->after, stock - holds);
  EXPECT_EQ(stores_.Redis({"HGET", keys::Hold(prefix, rid(0)), "state"}), "confirmed");
  EXPECT_EQ(stores_.Redis({"HGET", keys::Hold(prefix, rid(1)), "state"}), "confirmed");
  EXPECT_EQ(stores_.Redis({"HGET", keys::Hold(prefix, rid(2)), "state"}), "confirming");
  EXPECT_EQ(stores_.Redis({"GET", prefix + ":held"}), std::to_string(holds - 3));
  EXPECT_EQ(stores_.Redis({"SMEMBERS", prefix + ":confirming"}), rid(2));
  // The reconciler's walk of every hold agrees: nothing drifted.
  const auto drift = db::Transaction(db_, [&] { return MeasureDrift(db_, redis_, id); });
  ASSERT_TRUE(drift);
  EXPECT_FALSE(drift->Any()) << "units " << drift->units() << ", held counter "
                             << drift->held_counter << " vs " << drift->held_units;
}

}  // namespace
}  // namespace ticketing::purchase
