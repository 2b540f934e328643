#pragma once
// Process-wide Prometheus metrics: lock-free counters and histograms, rendered as the text
// exposition format for GET /metrics.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace ticketing::metrics {

struct Counter {
  std::atomic<std::uint64_t> value{0};
  void Inc(std::uint64_t n = 1) { value.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t Get() const { return value.load(std::memory_order_relaxed); }
};

struct Gauge {
  std::atomic<std::int64_t> value{0};
  void Add(std::int64_t n) { value.fetch_add(n, std::memory_order_relaxed); }
  std::int64_t Get() const { return value.load(std::memory_order_relaxed); }
};

// Latency histogram with fixed buckets in seconds.
class Histogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                                     5,      10};
  void Observe(double seconds);
  void Render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_micros_{0};
  std::atomic<std::uint64_t> count_{0};
};

// HTTP routes, for per-route series. Keep kRouteNames in step.
enum class Route : int {
  kReserve, kConfirm, kCancel, kReservation, kProduct, kAdminProducts, kAdminProduct,
  kAdminSync, kQueueJoin, kQueueStatus, kQueueInfo, kHealth, kReady, kMetrics, kAdminRead,
  kAdminStock, kAdminPause, kAdminRefund, kDocs, kOther, kCount
};
std::string_view RouteName(Route r);

// Domain events worth counting. Keep kEventNames in step.
enum class Event : int {
  kHoldCreated, kHoldCancelled, kHoldExpired, kConfirmCommitted, kConfirmRetaken,
  kConfirmVoided, kSettledConfirmed, kSettledReleased, kSettledRestored, kRedisUnavailable,
  kDbUnavailable, kInternalError, kQueueAdmitted, kQueueDropped, kSoldOutFlagHit,
  kOverloaded,  // answered 503 OVERLOADED at once: too many requests in progress
  kRateLimited,  // answered 429 RATE_LIMITED (reserve, confirm, queue join)
  kPowRefused,   // queue join answered 428 for a missing, wrong, stale or replayed proof of work
  kCount
};
std::string_view EventName(Event e);

class Registry {
 public:
  static Registry& Get();

  void ObserveRequest(Route route, unsigned status, double seconds);
  void Count(Event e, std::uint64_t n = 1) { events_[static_cast<int>(e)].Inc(n); }
  Gauge& open_connections() { return open_connections_; }
  // A gauge read when /metrics is rendered (e.g. the database pool's queue length).
  void AddGaugeCallback(std::string name, std::string help, std::function<double()> read);

  std::string Render() const;

 private:
  static constexpr int kStatusSlots = 14;  // see StatusSlot()
  static int StatusSlot(unsigned status);

  std::array<std::array<Counter, kStatusSlots>, static_cast<int>(Route::kCount)> requests_{};
  std::array<Histogram, static_cast<int>(Route::kCount)> latency_{};
  std::array<Counter, static_cast<int>(Event::kCount)> events_{};
  Gauge open_connections_;
  struct Callback {
    std::string name, help;
    std::function<double()> read;
  };
  std::vector<Callback> callbacks_;  // registered at start-up only
};

}  // namespace ticketing::metrics
