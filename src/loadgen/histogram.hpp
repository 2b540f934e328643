#pragma once
// A mergeable latency histogram with ~1% relative precision (log buckets of 1.01x), in
// microseconds, cheap to record from a hot loop and to ship between processes as JSON.
#include <boost/json/value.hpp>

#include <cstdint>
#include <vector>

namespace ticketing::loadgen {

class Histogram {
 public:
  Histogram();

  void Record(std::int64_t micros);
  void Merge(const Histogram& other);

  std::uint64_t count() const { return count_; }
  std::int64_t max_micros() const { return max_; }
  // The value below which fraction `q` (0..1) of the samples fall, within ~1%; 0 when empty.
  double QuantileMicros(double q) const;

  // Sparse form: {"n":count,"max":us,"b":[[index,count],...]}. FromJson throws on bad input.
  boost::json::value ToJson() const;
  static Histogram FromJson(const boost::json::value& v);

 private:
  static int Index(std::int64_t micros);
  static double Value(int index);

  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::int64_t max_ = 0;
};

}  // namespace ticketing::loadgen
