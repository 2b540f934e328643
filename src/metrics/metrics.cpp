#include "metrics/metrics.hpp"

#include <charconv>
#include <cmath>

namespace ticketing::metrics {
namespace {

constexpr std::array<std::string_view, static_cast<int>(Event::kCount)> kEventNames = {
    "hold_created",      "hold_cancelled",   "hold_expired",     "confirm_committed",
    "confirm_retaken",   "confirm_voided",   "settled_confirmed", "settled_released",
    "settled_restored",  "redis_unavailable", "db_unavailable",   "internal_error",
    "queue_admitted",    "queue_dropped",     "sold_out_flag_hit", "overloaded",
    "rate_limited",      "pow_refused",       "reserve_calls",    "reserves_in_batches"};

constexpr std::array<unsigned, 15> kStatuses = {200, 201, 204, 304, 400, 401, 403, 404,
                                                405, 409, 410, 413, 428, 429, 503};

// A label value as the exposition format wants it: \, " and newline escaped.
std::string Escape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

void AppendNumber(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  // The shortest form that reads back as `v`: fixed notation ("0.0005", where the shortest of
  // all would be "5e-04") unless that would be very long.
  char buf[64];
  const double a = std::fabs(v);
  const auto format = a == 0 || (a >= 1e-6 && a < 1e21) ? std::chars_format::fixed
                                                          : std::chars_format::general;
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, format);
  out.append(buf, ec == std::errc() ? end : buf);
}

std::string_view EventName(Event e) { return kEventNames[static_cast<int>(e)]; }

void Histogram::Observe(double value) {
  std::size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

void Histogram::Render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string_view sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out.append(name).append("_bucket{").append(labels).append(sep).append("le=\"");
    if (i < bounds_.size()) AppendNumber(out, bounds_[i]);
    else out += "+Inf";
    out += "\"} " + std::to_string(cumulative) + "\n";
  }
  out.append(name).append("_sum");
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out += " ";
  AppendNumber(out, sum_.load(std::memory_order_relaxed));
  out += "\n";
  out.append(name).append("_count");
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out += " " + std::to_string(count_.load(std::memory_order_relaxed)) + "\n";
}

CounterVec::CounterVec(std::string name, std::string help, std::string label,
                       std::vector<std::string> values)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_(std::move(label)),
      values_(std::move(values)),
      counters_(new Counter[values_.size()]) {}

void CounterVec::Render(std::string& out) const {
  out += "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " counter\n";
  for (std::size_t i = 0; i < values_.size(); ++i) {
    out += name_ + "{" + label_ + "=\"" + Escape(values_[i]) + "\"} " +
           std::to_string(counters_[i].Get()) + "\n";
  }
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

void Registry::SetRoutes(const std::vector<std::pair<std::string, std::string>>& routes) {
  std::lock_guard lock(mu_);
  if (route_count_.load() > 0) return;  // one table per process; several Apis share it
  route_names_ = routes;
  if (route_names_.size() > kMaxRoutes) route_names_.resize(kMaxRoutes);
  route_count_.store(static_cast<int>(route_names_.size()));
}

void Registry::ObserveRequest(int route, unsigned status, double seconds) {
  if (route < 0 || route >= kMaxRoutes) route = kMaxRoutes;  // the "unmatched" slot
  auto& series = routes_[route];
  series.requests[StatusSlot(status)].Inc();
  series.latency.Observe(seconds);
}

void Registry::AddGaugeCallback(std::string name, std::string help, std::function<double()> read,
                                std::string labels) {
  std::lock_guard lock(mu_);
  callbacks_.push_back({std::move(name), std::move(help), std::move(labels), std::move(read)});
}

void Registry::Add(const Collector* c) {
  std::lock_guard lock(mu_);
  collectors_.push_back(c);
}

void Registry::Remove(const Collector* c) {
  std::lock_guard lock(mu_);
  std::erase(collectors_, c);
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  const int n = route_count_.load();
  auto route_labels = [&](int r) {
    if (r >= n) return std::string("method=\"\",route=\"unmatched\"");
    return "method=\"" + Escape(route_names_[r].first) + "\",route=\"" +
           Escape(route_names_[r].second) + "\"";
  };
  std::string out;
  out.reserve(32768);
  out += "# HELP ticketing_http_requests_total HTTP requests answered, by route template and "
         "status.\n";
  out += "# TYPE ticketing_http_requests_total counter\n";
  for (int r = 0; r <= kMaxRoutes; ++r) {
    if (r >= n && r != kMaxRoutes) continue;
    for (int s = 0; s < kStatusSlots; ++s) {
      auto count = routes_[r].requests[s].Get();
      if (count == 0) continue;
      unsigned status = s < static_cast<int>(kStatuses.size()) ? kStatuses[s] : 500;
      out += "ticketing_http_requests_total{" + route_labels(r) + ",status=\"" +
             std::to_string(status) + "\"} " + std::to_string(count) + "\n";
    }
  }
  out += "# HELP ticketing_http_request_duration_seconds Time to answer a request, by route "
         "template.\n";
  out += "# TYPE ticketing_http_request_duration_seconds histogram\n";
  for (int r = 0; r <= kMaxRoutes; ++r) {
    if (r >= n && r != kMaxRoutes) continue;
    routes_[r].latency.Render(out, "ticketing_http_request_duration_seconds", route_labels(r));
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
  // Series of one name must be adjacent: each name once, with all its callbacks.
  for (std::size_t i = 0; i < callbacks_.size(); ++i) {
    const auto& name = callbacks_[i].name;
    bool seen = false;
    for (std::size_t j = 0; j < i && !seen; ++j) seen = callbacks_[j].name == name;
    if (seen) continue;
    out += "# HELP " + name + " " + callbacks_[i].help + "\n# TYPE " + name + " gauge\n";
    for (std::size_t j = i; j < callbacks_.size(); ++j) {
      const auto& cb = callbacks_[j];
      if (cb.name != name) continue;
      out += name;
      if (!cb.labels.empty()) out += "{" + cb.labels + "}";
      out += " ";
      AppendNumber(out, cb.read());
      out += "\n";
    }
  }
  for (const auto* c : collectors_) c->Render(out);
  return out;
}

}  // namespace ticketing::metrics
