// The purchase scripts run on a real Redis, driven step by step where a whole server could not
// be stopped at the moment that matters.
#include "purchase/scripts.hpp"

#include "purchase/keys.hpp"
#include "tests/support/services.hpp"
#include "tests/support/stores.hpp"

#include <gtest/gtest.h>

namespace ticketing::purchase {
namespace {

using testing::SharedServices;
using testing::Stores;

std::string Eval(Stores& s, const redis::Script& script, const std::vector<std::string>& keys,
                 const std::vector<std::string>& args) {
  std::vector<std::string> cmd{"EVAL", script.source, std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  return s.Redis(cmd);
}

// Issue 7, defect 5: a confirm commits, then a stock sync runs (available := database stock -
// live holds, already without this order's units), then the confirm's finish finds its hold
// not confirming (Redis came back from before the confirm: here 'expired'). The finish used to
// take the units from available once more: sold once in the database, twice in Redis.
TEST(ScriptsTest, FinishAfterASyncDoesNotTakeTheUnitsTwice) {
  Stores s(SharedServices());
  const std::int64_t product = 9200001;
  const auto prefix = keys::Prefix(product);
  const std::string rid = "9200001-late";
  const auto hold = keys::Hold(prefix, rid);
  // Database stock after the commit: 4 of 5 (the order took 1); the sync set available to it.
  s.Redis({"SET", keys::Available(prefix), "4"});
  s.Redis({"SET", prefix + ":held", "0"});
  s.Redis({"HSET", hold, "user", "late", "qty", "1", "state", "expired", "exp", "1", "ended", "1"});
  auto out = Eval(s, Scripts::Get().confirm_finish, {hold}, {prefix, rid, "77", "1000"});
  EXPECT_EQ(out, "RETAKEN");
  EXPECT_EQ(s.HoldState(rid), "confirmed");
  EXPECT_EQ(s.Available(product), 4) << "the finish took the order's units from Redis again";
  EXPECT_EQ(s.Redis({"GET", prefix + ":u:late"}), "1") << "the buyer's purchase is not counted";
}

}  // namespace
}  // namespace ticketing::purchase
