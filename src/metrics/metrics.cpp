#include "metrics/metrics.hpp"

#include <cstdio>

namespace ticketing::metrics {
namespace {

constexpr std::array<std::string_view, static_cast<int>(Route::kCount)> kRouteNames = {
    "reserve",    "confirm",      "cancel",      "reservation", "product",
    "admin_products", "admin_product", "admin_sync", "queue_join", "queue_status",
    "queue_info", "health",       "ready",       "metrics",     "admin_read",
    "admin_stock", "admin_pause", "admin_refund", "docs",       "other"};

constexpr std::array<std::string_view, static_cast<int>(Event::kCount)> kEventNames = {
    "hold_created",      "hold_cancelled",   "hold_expired",     "confirm_committed",
    "confirm_retaken",   "confirm_voided",   "settled_confirmed", "settled_released",
    "settled_restored",  "redis_unavailable", "db_unavailable",   "internal_error",
    "queue_admitted",    "queue_dropped",     "sold_out_flag_hit", "overloaded",
    "rate_limited",      "pow_refused"};

constexpr std::array<unsigned, 13> kStatuses = {200, 201, 400, 401, 403, 404, 405,
                                                409, 410, 413, 428, 429, 503};

void AppendNumber(std::string& out, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  out += buf;
}

}  // namespace

std::string_view RouteName(Route r) { return kRouteNames[static_cast<int>(r)]; }
std::string_view EventName(Event e) { return kEventNames[static_cast<int>(e)]; }

void Histogram::Observe(double seconds) {
  std::size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::Render(std::string& out, std::string_view name, std::string_view labels) const {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out.append(name).append("_bucket{").append(labels).append(",le=\"");
    if (i < kBounds.size()) AppendNumber(out, kBounds[i]);
    else out += "+Inf";
    out += "\"} " + std::to_string(cumulative) + "\n";
  }
  out.append(name).append("_sum{").append(labels).append("} ");
  AppendNumber(out, static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6);
  out += "\n";
  out.append(name).append("_count{").append(labels).append("} ");
  out += std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

Registry& Registry::Get() {
  static Registry registry;
  return registry;
}

int Registry::StatusSlot(unsigned status) {
  for (std::size_t i = 0; i < kStatuses.size(); ++i) {
    if (kStatuses[i] == status) return static_cast<int>(i);
  }
  return kStatusSlots - 1;  // any other status is reported as 500
}

void Registry::ObserveRequest(Route route, unsigned status, double seconds) {
  int r = static_cast<int>(route);
  requests_[r][StatusSlot(status)].Inc();
  latency_[r].Observe(seconds);
}

void Registry::AddGaugeCallback(std::string name, std::string help, std::function<double()> read) {
  callbacks_.push_back({std::move(name), std::move(help), std::move(read)});
}

std::string Registry::Render() const {
  std::string out;
  out.reserve(16384);
  out += "# HELP ticketing_http_requests_total HTTP requests answered, by route and status.\n";
  out += "# TYPE ticketing_http_requests_total counter\n";
  for (int r = 0; r < static_cast<int>(Route::kCount); ++r) {
    for (int s = 0; s < kStatusSlots; ++s) {
      auto n = requests_[r][s].Get();
      if (n == 0) continue;
      unsigned status = s < static_cast<int>(kStatuses.size()) ? kStatuses[s] : 500;
      out += "ticketing_http_requests_total{route=\"";
      out.append(kRouteNames[r]).append("\",status=\"").append(std::to_string(status));
      out += "\"} " + std::to_string(n) + "\n";
    }
  }
  out += "# HELP ticketing_http_request_duration_seconds Time to answer a request, by route.\n";
  out += "# TYPE ticketing_http_request_duration_seconds histogram\n";
  for (int r = 0; r < static_cast<int>(Route::kCount); ++r) {
    std::string labels = "route=\"" + std::string(kRouteNames[r]) + "\"";
    latency_[r].Render(out, "ticketing_http_request_duration_seconds", labels);
  }
  out += "# HELP ticketing_events_total Purchase-flow and infrastructure events.\n";
  out += "# TYPE ticketing_events_total counter\n";
  for (int e = 0; e < static_cast<int>(Event::kCount); ++e) {
    out += "ticketing_events_total{event=\"";
    out.append(kEventNames[e]).append("\"} ").append(std::to_string(events_[e].Get()));
    out += "\n";
  }
  out += "# HELP ticketing_open_connections HTTP connections open now.\n";
  out += "# TYPE ticketing_open_connections gauge\n";
  out += "ticketing_open_connections " + std::to_string(open_connections_.Get()) + "\n";
  for (const auto& cb : callbacks_) {
    out += "# HELP " + cb.name + " " + cb.help + "\n# TYPE " + cb.name + " gauge\n" + cb.name + " ";
    AppendNumber(out, cb.read());
    out += "\n";
  }
  return out;
}

}  // namespace ticketing::metrics
