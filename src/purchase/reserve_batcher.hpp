#pragma once
// Reserves of one product go to Redis as one reserve_batch.lua call instead of one reserve.lua
// call each, when Redis is busy with this thread's earlier ones. Redis then reads the product,
// its sale and TIME once for the batch and runs one command instead of N, which is much of what
// a reserve costs it beyond the hold's own writes (bench/batch-cost).
//
// Group commit, without a timer: while fewer than kCallsInFlight of this thread's reserve calls
// are in flight, a reserve goes at once, alone, as without batching. Beyond that, reserves of a
// product gather in one batch, which goes as soon as one of those calls is answered (or at once
// when it holds max_batch). So batches form only under load, and a reserve waits for one at
// most as long as a call already in flight takes. A batch of one is sent as reserve.lua. Each
// reserve gets its own reply, as if it had been its own call; a failure of the call (timeout,
// lost connection) is each one's failure.
//
// A batch is withdrawn (redis::Withdrawn, not run) only if every reserve in it would have been
// withdrawn on its own (its StillWanted said no); otherwise it is sent whole, and Redis answers
// each reserve itself.
//
// One ReserveBatcher per I/O thread (like redis::Client): not thread-safe.
#include "redis/client.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <vector>

namespace ticketing::purchase {

namespace net = boost::asio;

class ReserveBatcher {
 public:
  // max_batch 1: every reserve is its own reserve.lua call (batching off).
  ReserveBatcher(redis::Client& redis, std::size_t max_batch);
  ~ReserveBatcher();
  ReserveBatcher(const ReserveBatcher&) = delete;
  ReserveBatcher& operator=(const ReserveBatcher&) = delete;

  // One reserve, with reserve.lua's keys and arguments (KEYS[1..3] the product's, the rest the
  // reserve's); returns reserve.lua's reply for it. Throws what redis::Client::Eval throws. The
  // caller keeps still_wanted's context alive until this returns.
  net::awaitable<redis::Value> Reserve(std::int64_t product_id, std::vector<std::string> keys,
                                       std::vector<std::string> args,
                                       redis::StillWanted still_wanted);

  struct Stats {
    std::uint64_t calls = 0;     // script calls (batches and single reserves)
    std::uint64_t reserves = 0;  // reserves in them
  };
  Stats GetStats() const { return stats_; }

  // reserve_batch.lua's keys and arguments for reserves given as reserve.lua's (exposed for
  // tests), all of one product. Moves the strings out of `keys` and `args`, which are left
  // unspecified: a batch copies none of its reserves' keys and arguments.
  struct Call {
    std::vector<std::string> keys, args;
  };
  static Call BatchCall(const std::vector<std::vector<std::string>*>& keys,
                        const std::vector<std::vector<std::string>*>& args);

 private:
  struct Batch;
  using Handler = net::any_completion_handler<void(std::exception_ptr, redis::Value)>;
  void Join(std::int64_t product_id, const net::any_io_executor& ex,
            std::vector<std::string>* keys, std::vector<std::string>* args,
            redis::StillWanted still_wanted, Handler handler);
  void Send(std::shared_ptr<Batch> batch);
  void Sending(std::size_t reserves);  // a call of `reserves` goes to Redis
  void Answered();                     // one has its reply (or failed)
  net::awaitable<void> Run(std::shared_ptr<Batch> batch);

  redis::Client& redis_;
  std::size_t max_batch_;
  // The batches still open (a few products at most): product id, batch.
  std::vector<std::shared_ptr<Batch>> open_;
  std::size_t in_flight_ = 0;  // reserve calls sent and not answered yet
  // Reserves go at once, alone, while fewer of this thread's calls are in flight; beyond, they
  // wait in a batch for one of those to be answered.
  static constexpr std::size_t kCallsInFlight = 2;
  Stats stats_;
};

}  // namespace ticketing::purchase
