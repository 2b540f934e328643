#include "purchase/reserve_batcher.hpp"

#include "metrics/metrics.hpp"
#include "purchase/scripts.hpp"

#include <boost/asio/append.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace ticketing::purchase {

struct ReserveBatcher::Batch {
  struct Item {
    std::vector<std::string>* keys;  // in the waiting Reserve's frame
    std::vector<std::string>* args;
    redis::StillWanted still_wanted;
    Handler handler;
  };
  std::int64_t product_id = 0;
  net::any_io_executor executor;
  std::vector<Item> items;
  bool sent = false;

  // Withdrawn only if every reserve in it would have been on its own.
  static bool AnyStillWanted(const void* context) {
    const auto* batch = static_cast<const Batch*>(context);
    return std::any_of(batch->items.begin(), batch->items.end(),
                       [](const Item& i) { return i.still_wanted(); });
  }
  redis::StillWanted StillWanted() const {
    const bool all = std::all_of(items.begin(), items.end(),
                                 [](const Item& i) { return static_cast<bool>(i.still_wanted); });
    if (!all) return {};
    return {&Batch::AnyStillWanted, this};
  }
};

ReserveBatcher::ReserveBatcher(redis::Client& redis, std::size_t max_batch)
    : redis_(redis), max_batch_(std::max<std::size_t>(1, max_batch)) {}

ReserveBatcher::~ReserveBatcher() = default;

net::awaitable<redis::Value> ReserveBatcher::Reserve(std::int64_t product_id,
                                                     std::vector<std::string> keys,
                                                     std::vector<std::string> args,
                                                     redis::StillWanted still_wanted) {
  if (max_batch_ == 1 || in_flight_ < kCallsInFlight) {
    // Redis has few of this thread's reserves to work on: this one goes at once, alone, from
    // this frame (no batch is open then: Answered sends every open batch below the bound).
    Sending(1);
    redis::Value reply;
    std::exception_ptr error;
    try {
      reply = co_await redis_.Eval(Scripts::Get().reserve, keys, args, still_wanted);
    } catch (...) {
      error = std::current_exception();
    }
    Answered();
    if (error) std::rethrow_exception(error);
    co_return reply;
  }
  const auto executor = co_await net::this_coro::executor;
  // keys and args stay in this frame, which waits here until the batch's reply is handed out.
  co_return co_await net::async_initiate<decltype(net::use_awaitable),
                                         void(std::exception_ptr, redis::Value)>(
      [this, product_id, &executor, &keys, &args, still_wanted](Handler handler) {
        Join(product_id, executor, &keys, &args, still_wanted, std::move(handler));
      },
      net::use_awaitable);
}

void ReserveBatcher::Join(std::int64_t product_id, const net::any_io_executor& ex,
                          std::vector<std::string>* keys, std::vector<std::string>* args,
                          redis::StillWanted still_wanted, Handler handler) {
  auto it = std::find_if(open_.begin(), open_.end(),
                         [product_id](const auto& b) { return b->product_id == product_id; });
  std::shared_ptr<Batch> batch;
  if (it == open_.end()) {
    batch = std::make_shared<Batch>();
    batch->product_id = product_id;
    batch->executor = ex;
    batch->items.reserve(std::min<std::size_t>(max_batch_, 16));
    // Redis is busy with this thread's earlier calls: the batch goes when one of them is
    // answered (Run), with every reserve of the product that arrived meanwhile.
    open_.push_back(batch);
  } else {
    batch = *it;
  }
  batch->items.push_back({keys, args, still_wanted, std::move(handler)});
  if (batch->items.size() >= max_batch_) Send(std::move(batch));
}

void ReserveBatcher::Send(std::shared_ptr<Batch> batch) {
  if (batch->sent) return;
  batch->sent = true;
  open_.erase(std::remove(open_.begin(), open_.end(), batch), open_.end());
  Sending(batch->items.size());
  auto ex = batch->executor;
  net::co_spawn(ex, Run(std::move(batch)), net::detached);
}

ReserveBatcher::Call ReserveBatcher::BatchCall(const std::vector<std::vector<std::string>*>& keys,
                                               const std::vector<std::vector<std::string>*>& args) {
  if (keys.empty() || keys.size() != args.size()) {
    throw std::invalid_argument("ReserveBatcher: a batch needs as many key lists as argument lists");
  }
  Call call;
  std::size_t nkeys = 3, nargs = 3;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (keys[i]->size() < 5 || args[i]->size() < 7) {
      throw std::invalid_argument("ReserveBatcher: not reserve.lua's keys and arguments");
    }
    nkeys += keys[i]->size() - 3;
    nargs += args[i]->size() - 1;
  }
  call.keys.reserve(nkeys);
  call.args.reserve(nargs);
  auto& first_keys = *keys.front();
  std::move(first_keys.begin(), first_keys.begin() + 3, std::back_inserter(call.keys));
  auto& first_args = *args.front();
  call.args.push_back(std::move(first_args[3]));  // default hold seconds
  call.args.push_back(std::move(first_args[4]));  // prefix
  call.args.push_back(std::to_string(keys.size()));
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto& k = *keys[i];
    auto& a = *args[i];
    std::move(k.begin() + 3, k.end(), std::back_inserter(call.keys));
    // user, quantity, rid, admission ticket, idempotency key, n limits, their specs
    for (std::size_t j : {0, 1, 2, 5, 6}) call.args.push_back(std::move(a[j]));
    call.args.push_back(a.size() > 7 ? std::move(a[7]) : std::string("0"));
    if (a.size() > 8) std::move(a.begin() + 8, a.end(), std::back_inserter(call.args));
  }
  return call;
}

void ReserveBatcher::Sending(std::size_t reserves) {
  ++in_flight_;  // until Answered
  ++stats_.calls;
  stats_.reserves += reserves;
  auto& registry = metrics::Registry::Get();
  registry.Count(metrics::Event::kReserveCall);
  if (reserves > 1) registry.Count(metrics::Event::kReserveInBatch, reserves);
}

void ReserveBatcher::Answered() {
  --in_flight_;
  // The reserves that waited for a call to be answered go now, one batch per product.
  while (in_flight_ < kCallsInFlight && !open_.empty()) Send(open_.front());
}

net::awaitable<void> ReserveBatcher::Run(std::shared_ptr<Batch> batch) {
  const std::size_t n = batch->items.size();
  std::exception_ptr error;
  redis::Value reply;
  try {
    if (n == 1) {
      const auto& item = batch->items.front();
      reply = co_await redis_.Eval(Scripts::Get().reserve, *item.keys, *item.args,
                                   batch->StillWanted());
    } else {
      std::vector<std::vector<std::string>*> keys, args;
      keys.reserve(n);
      args.reserve(n);
      for (const auto& item : batch->items) {
        keys.push_back(item.keys);
        args.push_back(item.args);
      }
      auto call = BatchCall(keys, args);
      reply = co_await redis_.Eval(Scripts::Get().reserve_batch, call.keys, call.args,
                                   batch->StillWanted());
    }
  } catch (...) {
    error = std::current_exception();
  }
  Answered();
  // One reply per reserve, each marked as written when the batch was; anything else (an error
  // reply, a reply of another shape) goes to every reserve as it is.
  const bool split = !error && n > 1 && reply.type == redis::Value::Type::kArray &&
                     reply.elements.size() == n;
  for (std::size_t i = 0; i < n; ++i) {
    redis::Value mine;
    if (!error) {
      if (split) {
        mine = std::move(reply.elements[i]);
        mine.written_at = reply.written_at;
      } else if (i + 1 == n) {
        mine = std::move(reply);
      } else {
        mine = reply;
      }
    }
    net::post(batch->executor,
              net::append(std::move(batch->items[i].handler), error, std::move(mine)));
  }
}

}  // namespace ticketing::purchase
