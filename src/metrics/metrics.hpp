#pragma once
// Process-wide Prometheus metrics: lock-free counters and histograms, rendered as the text
// exposition format for GET /metrics.
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
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
  void Set(std::int64_t n) { value.store(n, std::memory_order_relaxed); }
  std::int64_t Get() const { return value.load(std::memory_order_relaxed); }
};

// Appends `v` in its shortest exact decimal form ("0.0005", not "0.00050000000000000001").
void AppendNumber(std::string& out, double v);

// Histogram with fixed bucket bounds (upper bounds, ascending; at most kMaxBuckets).
class Histogram {
 public:
  static constexpr std::size_t kMaxBuckets = 16;
  // Latency in seconds.
  static constexpr std::array<double, 14> kSeconds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                                      5,      10};
  Histogram() : bounds_(kSeconds) {}
  explicit Histogram(std::span<const double> bounds) : bounds_(bounds) {}
  void Observe(double value);
  // `labels` without braces ("route=\"x\""), may be empty.
  void Render(std::string& out, std::string_view name, std::string_view labels) const;

 private:
  std::span<const double> bounds_;
  std::array<std::atomic<std::uint64_t>, kMaxBuckets + 1> buckets_{};
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

// Something that renders its own series (HELP, TYPE and samples) into /metrics.
class Collector {
 public:
  virtual ~Collector() = default;
  virtual void Render(std::string& out) const = 0;
};

// One counter per value of one label, the values fixed at construction (no allocation or lock
// when counting).
class CounterVec : public Collector {
 public:
  CounterVec(std::string name, std::string help, std::string label,
             std::vector<std::string> values);
  void Inc(std::size_t i, std::uint64_t n = 1) { counters_[i].Inc(n); }
  void Render(std::string& out) const override;

 private:
  std::string name_, help_, label_;
  std::vector<std::string> values_;
  std::unique_ptr<Counter[]> counters_;
};

// Groups of routes (the route table's column). The HTTP series are labelled by each route's
// method and path template instead (Registry::SetRoutes).
enum class Route : int {
  kReserve, kConfirm, kCancel, kReservation, kProduct, kAdminProducts, kAdminProduct,
  kAdminSync, kQueueJoin, kQueueStatus, kQueueInfo, kHealth, kReady, kMetrics, kAdminRead,
  kAdminStock, kAdminPause, kAdminRefund, kDocs, kOther, kCount
};

// Domain events worth counting. Keep kEventNames in step.
enum class Event : int {
  kHoldCreated, kHoldCancelled, kHoldExpired, kConfirmCommitted, kConfirmRetaken,
  kConfirmVoided, kSettledConfirmed, kSettledReleased, kSettledRestored, kRedisUnavailable,
  kDbUnavailable, kInternalError, kQueueAdmitted, kQueueDropped, kSoldOutFlagHit,
  kOverloaded,  // answered 503 OVERLOADED at once: too many requests in progress
  kRateLimited,  // answered 429 RATE_LIMITED (reserve, confirm, queue join)
  kPowRefused,   // queue join answered 428 for a missing, wrong, stale or replayed proof of work
  kReserveCall,      // a reserve script call sent to Redis (one reserve, or a batch of them)
  kReserveInBatch,   // a reserve sent in a batch of two or more (purchase/reserve_batcher.hpp)
  kCount
};
std::string_view EventName(Event e);

class Registry {
 public:
  static constexpr int kMaxRoutes = 64;  // route table entries; one more slot for "unmatched"

  static Registry& Get();

  // Names the route table's entries (method, path template) once, at start-up; index i of
  // ObserveRequest is entry i. Calling it again with the same table changes nothing.
  void SetRoutes(const std::vector<std::pair<std::string, std::string>>& routes);
  // `route`: an index from SetRoutes, or -1 for a request no route matched.
  void ObserveRequest(int route, unsigned status, double seconds);
  void Count(Event e, std::uint64_t n = 1) { events_[static_cast<int>(e)].Inc(n); }
  Gauge& open_connections() { return open_connections_; }
  // A gauge read when /metrics is rendered (e.g. the database pool's queue length). `labels`
  // without braces ("node=\"a:1\""); several callbacks may share a name (one HELP/TYPE).
  void AddGaugeCallback(std::string name, std::string help, std::function<double()> read,
                        std::string labels = "");
  // Renders `c` in /metrics from now on; `c` must outlive the registry's use (static, or
  // Remove()d before it goes).
  void Add(const Collector* c);
  void Remove(const Collector* c);

  std::string Render() const;

 private:
  static constexpr int kStatusSlots = 16;  // see StatusSlot()
  static int StatusSlot(unsigned status);

  struct RouteSeries {
    std::array<Counter, kStatusSlots> requests{};
    Histogram latency;
  };
  std::array<RouteSeries, kMaxRoutes + 1> routes_{};
  std::atomic<int> route_count_{0};
  std::vector<std::pair<std::string, std::string>> route_names_;  // set before route_count_
  std::array<Counter, static_cast<int>(Event::kCount)> events_{};
  Gauge open_connections_;
  struct Callback {
    std::string name, help, labels;
    std::function<double()> read;
  };
  mutable std::mutex mu_;  // callbacks_ and collectors_: changed at start-up and shutdown only
  std::vector<Callback> callbacks_;
  std::vector<const Collector*> collectors_;
};

}  // namespace ticketing::metrics
