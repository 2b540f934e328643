#include "purchase/sold_out.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace ticketing::purchase {
namespace {

using namespace std::chrono_literals;
using Clock = SoldOutBoard::Clock;

TEST(SoldOutBoard, KnowsNothingAtFirst) {
  SoldOutBoard board;
  EXPECT_FALSE(board.CannotReserve(1, 1));
  EXPECT_FALSE(board.IsSoldOut(1));
}

TEST(SoldOutBoard, TheTickersFlagHoldsUntilCleared) {
  SoldOutBoard board;
  board.Set(1, true);
  EXPECT_TRUE(board.CannotReserve(1, 1, Clock::now() + 1h));
  EXPECT_FALSE(board.CannotReserve(2, 1));
  board.Set(1, false);
  EXPECT_FALSE(board.CannotReserve(1, 1));
}

TEST(SoldOutBoard, ASeenAvailableCountAnswersLargerReservesForItsTtlOnly) {
  SoldOutBoard board(100ms);
  const auto t0 = Clock::now();
  board.SeenAvailable(1, 2, t0);
  EXPECT_FALSE(board.CannotReserve(1, 2, t0 + 10ms));  // 2 of 2 may still succeed
  EXPECT_TRUE(board.CannotReserve(1, 3, t0 + 10ms));
  EXPECT_TRUE(board.CannotReserve(1, 3, t0 + 24ms));
  EXPECT_FALSE(board.CannotReserve(1, 3, t0 + 60ms));  // past a quarter: one renews it
  EXPECT_TRUE(board.CannotReserve(1, 3, t0 + 60ms));   // the others do not
  EXPECT_TRUE(board.CannotReserve(1, 3, t0 + 84ms));   // until the next quarter
  EXPECT_FALSE(board.CannotReserve(1, 3, t0 + 100ms));  // too old: ask Redis again
  board.SeenAvailable(1, 0, t0 + 150ms);
  EXPECT_TRUE(board.CannotReserve(1, 1, t0 + 160ms));
  board.SeenAvailable(1, 5, t0 + 210ms);  // a newer reply with units clears it
  EXPECT_FALSE(board.CannotReserve(1, 1, t0 + 220ms));
}

// A stampede on a product whose fact says sold out: a reserve every 0.1 ms for a second, each
// one that goes on to Redis learned `reply_after` later (its SOLD_OUT reply). Returns how many
// went to Redis.
int ToRedisInAStampede(std::chrono::milliseconds reply_after) {
  SoldOutBoard board(100ms);
  const auto t0 = Clock::now();
  board.SeenAvailable(1, 0, t0);
  std::vector<Clock::time_point> in_flight;  // when each was sent
  int to_redis = 0;
  for (auto t = t0; t < t0 + 1s; t += 100us) {
    std::erase_if(in_flight, [&](Clock::time_point sent) {
      if (t < sent + reply_after) return false;
      board.SeenAvailable(1, 0, sent);
      return true;
    });
    if (!board.CannotReserve(1, 1, t)) {
      ++to_redis;
      in_flight.push_back(t);
    }
  }
  return to_redis;
}

// Replies learned 5 ms later. Before, the fact ran out every ttl and every reserve of the next
// 5 ms went to Redis (~50 each time, ~500 in the second; in bench (a), ~17,000 of 100,000
// reserves). Now one per quarter-ttl renews it before it runs out.
TEST(SoldOutBoard, UnderAStampedeOneReservePerQuarterTtlRenewsTheFact) {
  const int to_redis = ToRedisInAStampede(5ms);
  EXPECT_LE(to_redis, 41);  // one per 25 ms
  EXPECT_GE(to_redis, 36);  // and the fact is renewed, not kept past its ttl
}

// The same stampede on a loaded server: a reply is learned 60 ms after its reserve went to
// Redis (the I/O thread reads it behind every handler ready before it; bench (a), 2,000
// connections). Renewals sent only from the fact's second half came back after it had run
// out, and in each gap every reserve went to Redis: 14-18% of bench (a)'s 100,000 reserves.
TEST(SoldOutBoard, UnderAStampedeWithSlowRepliesTheFactDoesNotRunOut) {
  EXPECT_LE(ToRedisInAStampede(60ms), 41);  // one per 25 ms
}

// A renewal that is never answered (Redis down, the reply lost) does not keep the fact alive:
// another reserve tries after a quarter-ttl, and past the ttl every one goes to Redis.
TEST(SoldOutBoard, AnUnansweredRenewalLetsTheFactRunOut) {
  SoldOutBoard board(100ms);
  const auto t0 = Clock::now();
  board.SeenAvailable(1, 0, t0);
  EXPECT_FALSE(board.CannotReserve(1, 1, t0 + 50ms));
  EXPECT_TRUE(board.CannotReserve(1, 1, t0 + 51ms));
  EXPECT_TRUE(board.CannotReserve(1, 1, t0 + 74ms));
  EXPECT_FALSE(board.CannotReserve(1, 1, t0 + 75ms));
  EXPECT_TRUE(board.CannotReserve(1, 1, t0 + 99ms));
  EXPECT_FALSE(board.CannotReserve(1, 1, t0 + 100ms));
  EXPECT_FALSE(board.CannotReserve(1, 1, t0 + 100ms));
}

TEST(SoldOutBoard, AnOlderReplyDoesNotOverwriteANewerOne) {
  SoldOutBoard board(100ms);
  const auto t0 = Clock::now();
  board.SeenAvailable(1, 4, t0 + 20ms);
  board.SeenAvailable(1, 0, t0 + 10ms);  // sent earlier, answered later
  EXPECT_FALSE(board.CannotReserve(1, 1, t0 + 30ms));
}

TEST(SoldOutBoard, AReturnForgetsWhatWasSeenAndRefusesOlderReplies) {
  SoldOutBoard board(100ms);
  const auto t0 = Clock::now();
  board.SeenAvailable(1, 0, t0);
  board.Set(1, true);
  board.Returned(1, t0 + 5ms);
  EXPECT_FALSE(board.CannotReserve(1, 1, t0 + 6ms));
  EXPECT_FALSE(board.IsSoldOut(1));
  // A command sent before the return may still answer "0 available": not learned.
  board.SeenAvailable(1, 0, t0 + 4ms);
  EXPECT_FALSE(board.CannotReserve(1, 1, t0 + 7ms));
  // One sent after it is.
  board.SeenAvailable(1, 0, t0 + 8ms);
  EXPECT_TRUE(board.CannotReserve(1, 1, t0 + 9ms));
}

TEST(SoldOutBoard, AZeroTtlLearnsNothingFromReplies) {
  SoldOutBoard board(0ms);
  board.SeenAvailable(1, 0, Clock::now());
  EXPECT_FALSE(board.CannotReserve(1, 1));
  board.Set(1, true);
  EXPECT_TRUE(board.CannotReserve(1, 1));
}

}  // namespace
}  // namespace ticketing::purchase

namespace ticketing::purchase {
namespace {

// A request waiting to be written may be answered from any reply to a command written after it
// arrived, however old that reply is by now: that was the state at a moment since its arrival.
TEST(SoldOutBoard, AWaitingRequestIsAnsweredOnlyFromWhatWasSeenAfterItArrived) {
  using namespace std::chrono_literals;
  SoldOutBoard board(100ms);
  const auto arrived = SoldOutBoard::Clock::now();
  board.SeenAvailable(1, 0, arrived - 1ms);  // written before it arrived: not enough
  EXPECT_FALSE(board.SeenSoldOutSince(1, 1, arrived));
  board.SeenAvailable(1, 0, arrived + 5ms);
  EXPECT_TRUE(board.SeenSoldOutSince(1, 1, arrived));
  EXPECT_FALSE(board.SeenSoldOutSince(1, 1, arrived + 6ms));  // a later arrival
  EXPECT_FALSE(board.CannotReserve(1, 1, arrived + 1s));        // long past the ttl...
  EXPECT_TRUE(board.SeenSoldOutSince(1, 1, arrived));           // ...still true for this one
  board.SeenAvailable(1, 3, arrived + 10ms);                    // then units were seen
  EXPECT_FALSE(board.SeenSoldOutSince(1, 1, arrived));
  EXPECT_TRUE(board.SeenSoldOutSince(1, 4, arrived));
}

}  // namespace
}  // namespace ticketing::purchase
