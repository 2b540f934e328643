#pragma once
// The waiting room on Redis: join/status/info scripts (lua/) over the product's {p:ID} keys.
#include <chrono>
#include <cstdint>

#include "queue/admission.hpp"
#include "queue/service.hpp"
#include "redis/client.hpp"

namespace ticketing::queue {

struct Options {
  std::int64_t max_waiting = 5'000'000;  // per product line; beyond, join -> kQueueFull
  std::chrono::milliseconds retain{std::chrono::hours(24)};  // ticket records live this long
};

// One per I/O thread: `redis` must belong to the calling thread's io_context.
class QueueService final : public Service {
 public:
  QueueService(redis::Client& redis, const AdmissionCodec& codec, Options options)
      : redis_(redis), codec_(codec), options_(options) {}

  net::awaitable<purchase::Result<Place>> Join(std::string user, std::int64_t product_id) override;
  net::awaitable<purchase::Result<Place>> JoinWithProof(std::string user, std::int64_t product_id,
                                                        JoinProof proof,
                                                        purchase::RateChecks limits) override;
  net::awaitable<purchase::Result<Place>> Status(std::string user, std::int64_t product_id,
                                                 std::string ticket) override;
  net::awaitable<purchase::Result<LineInfo>> Info(std::int64_t product_id) override;
  std::optional<std::string> VerifyAdmission(std::string_view token, std::string_view user,
                                             std::int64_t product_id) const override;

 private:
  // A place from a describe() reply of join.lua / status.lua.
  Place ToPlace(const redis::Value& reply, std::int64_t product_id, std::string_view user) const;

  redis::Client& redis_;
  const AdmissionCodec& codec_;
  Options options_;
};

}  // namespace ticketing::queue
