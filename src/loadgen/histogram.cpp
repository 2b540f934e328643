#include "loadgen/histogram.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ticketing::loadgen {
namespace {

constexpr int kBuckets = 2200;  // 1.01^2200 us is far beyond any timeout
const double kLogBase = std::log(1.01);

}  // namespace

Histogram::Histogram() : buckets_(kBuckets, 0) {}

int Histogram::Index(std::int64_t micros) {
  if (micros <= 1) return 0;
  int i = static_cast<int>(std::ceil(std::log(static_cast<double>(micros)) / kLogBase));
  return std::clamp(i, 0, kBuckets - 1);
}

double Histogram::Value(int index) { return std::exp(index * kLogBase); }

void Histogram::Record(std::int64_t micros) {
  if (micros < 0) micros = 0;
  ++buckets_[static_cast<std::size_t>(Index(micros))];
  ++count_;
  max_ = std::max(max_, micros);
}

void Histogram::Merge(const Histogram& other) {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

double Histogram::QuantileMicros(double q) const {
  if (count_ == 0) return 0;
  // Rank of the sample at quantile q (1-based), e.g. p99 of 1000 samples is the 990th.
  auto rank = static_cast<std::uint64_t>(std::ceil(std::clamp(q, 0.0, 1.0) * count_));
  rank = std::max<std::uint64_t>(rank, 1);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(Value(static_cast<int>(i)), static_cast<double>(max_));
  }
  return static_cast<double>(max_);
}

boost::json::value Histogram::ToJson() const {
  boost::json::array b;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    if (buckets_[i]) b.push_back(boost::json::array{i, buckets_[i]});
  }
  boost::json::object o;
  o["n"] = count_;
  o["max"] = max_;
  o["b"] = std::move(b);
  return o;
}

Histogram Histogram::FromJson(const boost::json::value& v) {
  Histogram h;
  const auto& o = v.as_object();
  h.count_ = boost::json::value_to<std::uint64_t>(o.at("n"));
  h.max_ = boost::json::value_to<std::int64_t>(o.at("max"));
  for (const auto& pair : o.at("b").as_array()) {
    const auto& p = pair.as_array();
    auto i = boost::json::value_to<std::size_t>(p.at(0));
    if (i >= h.buckets_.size()) throw std::runtime_error("histogram bucket out of range");
    h.buckets_[i] = boost::json::value_to<std::uint64_t>(p.at(1));
  }
  return h;
}

}  // namespace ticketing::loadgen
