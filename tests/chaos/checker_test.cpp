// The checker must be able to fail: fabricated histories and stores, each with one planted
// broken promise, and a clean one that must pass.
#include "tests/chaos/checker.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace ticketing::chaos {
namespace {

constexpr std::int64_t kT = 1'800'000'000'000;  // some unix ms

Event Reserve(int buyer, const std::string& key, const std::string& rid, int status = 201,
              std::int64_t at = kT) {
  Event e;
  e.buyer = buyer;
  e.op = Op::kReserve;
  e.key = key;
  e.quantity = 1;
  e.sent_ms = at;
  e.answered_ms = at + 5;
  e.status = status;
  e.rid = status == 201 || status == 200 ? rid : "";
  e.expires_at_ms = status == 201 ? at + 2 + 2000 : 0;
  return e;
}

Event After(int buyer, Op op, const std::string& rid, int status, const std::string& code = "",
            std::int64_t at = kT + 100) {
  Event e;
  e.buyer = buyer;
  e.op = op;
  e.key = rid;
  e.sent_ms = at;
  e.answered_ms = at + 5;
  e.status = status;
  e.code = code;
  return e;
}

// Four buyers on 4 units: one confirms (after a transport error and a retry), one cancels, one
// abandons, one is refused as sold out; the stores agree.
struct Fixture {
  History h;
  Snapshot s;
  Fixture() {
    h.seed = 42;
    h.product = 7;
    h.total_stock = 4;
    h.per_user_limit = 1;
    h.hold_seconds = 2;
    for (int i = 0; i < 4; ++i) h.buyers.push_back({i, "u" + std::to_string(i), {}});
    h.buyers[0].events = {Reserve(0, "k0", "7-a"), After(0, Op::kConfirm, "7-a", 0),
                          After(0, Op::kConfirm, "7-a", 200)};
    h.buyers[1].events = {Reserve(1, "k1", "7-b"), After(1, Op::kCancel, "7-b", 200)};
    h.buyers[2].events = {Reserve(2, "k2", "", 0), Reserve(2, "k2", "7-c", 200)};
    h.buyers[3].events = {Reserve(3, "k3", "7-d"),
                          After(3, Op::kConfirm, "7-d", 409, "SOLD_OUT")};
    s.total_stock = 4;
    s.db_stock = 3;
    s.orders = {{"7-a", "u0", 1}};
    s.redis_available = 3;
    s.redis_live_held = 0;
  }
  std::vector<Violation> Run(CheckOptions o = {}) {
    Summary sum;
    auto v = Check(h, s, o, &sum);
    if (!v.empty()) std::cout << Explain(h, s, v);
    return v;
  }
  static bool Has(const std::vector<Violation>& v, const std::string& text) {
    return std::any_of(v.begin(), v.end(),
                       [&](const Violation& x) { return x.what.find(text) != std::string::npos; });
  }
};

TEST(ChaosChecker, CleanHistoryPasses) {
  Fixture f;
  Summary sum;
  EXPECT_TRUE(Check(f.h, f.s, {}, &sum).empty());
  EXPECT_EQ(sum.confirmed, 1);
  EXPECT_EQ(sum.cancelled, 1);
  EXPECT_EQ(sum.abandoned, 1);
  EXPECT_EQ(sum.units_lost, 0);
  EXPECT_EQ(sum.oversold, 0);
}

TEST(ChaosChecker, ConfirmedBuyerWithoutAnOrder) {
  Fixture f;
  f.s.orders.clear();
  f.s.db_stock = 4;
  f.s.redis_available = 4;
  auto v = f.Run();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_TRUE(Fixture::Has(v, "told 'confirmed' but there is no order"));
  EXPECT_EQ(v[0].buyer, 0);
  // The explanation names the seed and shows the buyer's events.
  const std::string text = Explain(f.h, f.s, v);
  EXPECT_NE(text.find("CHAOS_SEED=42"), std::string::npos) << text;
  EXPECT_NE(text.find("confirm rid=7-a -> 200"), std::string::npos) << text;
  EXPECT_NE(text.find("transport error"), std::string::npos) << text;
}

TEST(ChaosChecker, ExtraOrderInTheStores) {
  Fixture f;
  f.s.orders.push_back({"7-zz", "mallory", 1});  // never reserved by anyone
  f.s.db_stock = 2;
  f.s.redis_available = 2;
  auto v = f.Run();
  EXPECT_TRUE(Fixture::Has(v, "no buyer was ever given"));
}

TEST(ChaosChecker, CancelledOrAbandonedOrRefusedButOrdered) {
  Fixture f;
  f.s.orders.push_back({"7-b", "u1", 1});  // told cancelled
  f.s.orders.push_back({"7-c", "u2", 1});  // never confirmed
  f.s.orders.push_back({"7-d", "u3", 1});  // told SOLD_OUT
  f.s.db_stock = 0;
  f.s.redis_available = 0;
  auto v = f.Run();
  EXPECT_TRUE(Fixture::Has(v, "told 'cancelled'"));
  EXPECT_TRUE(Fixture::Has(v, "never confirmed"));
  EXPECT_TRUE(Fixture::Has(v, "told SOLD_OUT"));
}

TEST(ChaosChecker, LedgerMismatchesAndOversell) {
  Fixture f;
  f.s.db_stock = 2;  // a unit vanished from the database
  auto v = f.Run();
  EXPECT_TRUE(Fixture::Has(v, "units in orders"));
  EXPECT_TRUE(Fixture::Has(v, "Redis available"));
  Fixture g;
  g.s.redis_available = 5;  // Redis would sell more than the database has
  Summary sum;
  auto w = Check(g.h, g.s, {}, &sum);
  EXPECT_TRUE(Fixture::Has(w, "Redis available"));
  EXPECT_EQ(sum.oversold, 2);
  Fixture l;
  l.s.redis_available = 1;  // two units not on sale any more
  Check(l.h, l.s, {}, &sum);
  EXPECT_EQ(sum.units_lost, 2);
}

TEST(ChaosChecker, PerBuyerLimitAcrossRedisLoss) {
  Fixture f;
  // After a FLUSHALL the same buyer got a second hold and a second order.
  f.h.buyers[0].events.push_back(Reserve(0, "k0b", "7-e", 201, kT + 500));
  f.h.buyers[0].events.push_back(After(0, Op::kConfirm, "7-e", 201, "", kT + 600));
  f.s.orders.push_back({"7-e", "u0", 1});
  f.s.db_stock = 2;
  f.s.redis_available = 2;
  auto v = f.Run();
  EXPECT_TRUE(Fixture::Has(v, "over the per-buyer limit"));
}

TEST(ChaosChecker, ExpiryDecidedByAnotherClock) {
  Fixture f;
  // A server with its clock 5 minutes ahead expired a hold at once.
  f.h.buyers[3].events.back() = After(3, Op::kConfirm, "7-d", 410, "RESERVATION_EXPIRED");
  EXPECT_TRUE(Fixture::Has(f.Run(), "before the hold's expiry"));
  // Sent before the expiry but answered after it (the request waited on the database): true.
  Fixture slow;
  slow.h.buyers[3].events.back() = After(3, Op::kCancel, "7-d", 410, "RESERVATION_EXPIRED");
  slow.h.buyers[3].events.back().answered_ms = slow.h.buyers[3].events[0].expires_at_ms + 100;
  EXPECT_FALSE(Fixture::Has(slow.Run(), "before the hold's expiry"));
  CheckOptions lossy;
  lossy.expiry_is_exact = false;  // Redis lost data: the hold may be gone for real
  EXPECT_TRUE(f.Run(lossy).empty());
  Fixture g;
  g.h.buyers[1].events[0].expires_at_ms += 300'000;  // expiry from a clock 5 min ahead
  EXPECT_TRUE(Fixture::Has(g.Run(), "not now + holdSeconds"));
  Fixture late;
  late.h.buyers[0].events[1].sent_ms = kT + 5000;  // confirm began after the hold expired
  late.h.buyers[0].events[2].sent_ms = kT + 5100;
  EXPECT_TRUE(Fixture::Has(late.Run(), "expired before its first confirm"));
}

TEST(ChaosChecker, WrongAnswersAreViolations) {
  Fixture f;
  f.h.buyers[3].events.push_back(After(3, Op::kConfirm, "7-d", 500, "INTERNAL"));
  f.h.buyers[2].events.push_back(Reserve(2, "k9", "", 404));
  f.h.buyers[2].events.back().code = "PRODUCT_NOT_FOUND";
  auto v = f.Run();
  EXPECT_TRUE(Fixture::Has(v, "answered 500"));
  EXPECT_TRUE(Fixture::Has(v, "PRODUCT_NOT_FOUND"));
}

}  // namespace
}  // namespace ticketing::chaos
