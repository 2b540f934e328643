#include "loadgen/stats.hpp"

#include "loadgen/engine.hpp"

#include <sys/mman.h>

#include <boost/json.hpp>

#include <algorithm>
#include <new>
#include <system_error>

namespace ticketing::loadgen {
namespace json = boost::json;

namespace {

template <class K>
void MergeMap(std::map<K, std::uint64_t>& into, const std::map<K, std::uint64_t>& from) {
  for (const auto& [k, v] : from) into[k] += v;
}

std::int64_t Later(std::int64_t a, std::int64_t b) { return std::max(a, b); }
std::int64_t Earlier(std::int64_t a, std::int64_t b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return std::min(a, b);
}

json::object StatusJson(const std::map<int, std::uint64_t>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[std::to_string(k)] = v;
  return o;
}

std::map<int, std::uint64_t> StatusFromJson(const json::value& v) {
  std::map<int, std::uint64_t> m;
  for (const auto& [k, n] : v.as_object()) m[std::stoi(std::string(k))] = json::value_to<std::uint64_t>(n);
  return m;
}

std::uint64_t U(const json::object& o, const char* k) { return json::value_to<std::uint64_t>(o.at(k)); }
std::int64_t I(const json::object& o, const char* k) { return json::value_to<std::int64_t>(o.at(k)); }

}  // namespace

void Progress::Opened() {
  auto now = open.fetch_add(1, std::memory_order_relaxed) + 1;
  auto peak = peak_open.load(std::memory_order_relaxed);
  while (now > peak && !peak_open.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

Progress* MapSharedProgress() {
  void* p = mmap(nullptr, sizeof(Progress), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "mmap");
  return new (p) Progress();
}

void RunStats::SetSellOut(std::int64_t stock_at_start, int quantity) {
  sell_out_us = -1;
  if (stock_at_start <= 0 || quantity <= 0) return;
  const auto reserves = static_cast<std::size_t>((stock_at_start + quantity - 1) / quantity);
  if (taken_us.size() < reserves) return;
  std::nth_element(taken_us.begin(), taken_us.begin() + static_cast<std::ptrdiff_t>(reserves - 1),
                   taken_us.end());
  sell_out_us = taken_us[reserves - 1];
}

Second& RunStats::At(std::int64_t us) {
  auto i = static_cast<std::size_t>(std::max<std::int64_t>(0, us / kSlotMicros));
  if (timeline.size() <= i) timeline.resize(i + 1);
  return timeline[i];
}

void RunStats::Merge(const RunStats& o) {
  for (std::size_t i = 0; i < ops.size(); ++i) {
    ops[i].sent += o.ops[i].sent;
    ops[i].answered += o.ops[i].answered;
    ops[i].latency.Merge(o.ops[i].latency);
    MergeMap(ops[i].status, o.ops[i].status);
  }
  latency.Merge(o.latency);
  service_latency.Merge(o.service_latency);
  start_lag.Merge(o.start_lag);
  arrivals += o.arrivals;
  late_starts += o.late_starts;
  MergeMap(status, o.status);
  MergeMap(errors, o.errors);
  MergeMap(transport, o.transport);
  requests += o.requests;
  buyers += o.buyers;
  buyers_answered += o.buyers_answered;
  units_taken += o.units_taken;
  confirms_ok += o.confirms_ok;
  cancels_ok += o.cancels_ok;
  connects += o.connects;
  first_sold_out_us = Earlier(first_sold_out_us, o.first_sold_out_us);
  last_taken_us = Later(last_taken_us, o.last_taken_us);
  last_buyer_answer_us = Later(last_buyer_answer_us, o.last_buyer_answer_us);
  last_answer_us = Later(last_answer_us, o.last_answer_us);
  elapsed_us = std::max(elapsed_us, o.elapsed_us);
  taken_us.insert(taken_us.end(), o.taken_us.begin(), o.taken_us.end());
  if (timeline.size() < o.timeline.size()) timeline.resize(o.timeline.size());
  for (std::size_t i = 0; i < o.timeline.size(); ++i) {
    timeline[i].answered += o.timeline[i].answered;
    timeline[i].latency.Merge(o.timeline[i].latency);
  }
}

json::value RunStats::ToJson() const {
  json::object o;
  json::array ops_json;
  for (const auto& op : ops) {
    ops_json.push_back(json::object{{"sent", op.sent},
                                    {"answered", op.answered},
                                    {"latency", op.latency.ToJson()},
                                    {"status", StatusJson(op.status)}});
  }
  o["ops"] = std::move(ops_json);
  o["latency"] = latency.ToJson();
  o["serviceLatency"] = service_latency.ToJson();
  o["startLag"] = start_lag.ToJson();
  o["arrivals"] = arrivals;
  o["lateStarts"] = late_starts;
  o["status"] = StatusJson(status);
  json::object errs, trans;
  for (const auto& [k, v] : errors) errs[k] = v;
  for (const auto& [k, v] : transport) trans[k] = v;
  o["errors"] = std::move(errs);
  o["transport"] = std::move(trans);
  o["requests"] = requests;
  o["buyers"] = buyers;
  o["buyersAnswered"] = buyers_answered;
  o["unitsTaken"] = units_taken;
  o["confirmsOk"] = confirms_ok;
  o["cancelsOk"] = cancels_ok;
  o["connects"] = connects;
  o["firstSoldOut"] = first_sold_out_us;
  o["lastTaken"] = last_taken_us;
  o["lastBuyerAnswer"] = last_buyer_answer_us;
  o["lastAnswer"] = last_answer_us;
  o["elapsed"] = elapsed_us;
  o["taken"] = json::value_from(taken_us);
  json::array tl;
  for (const auto& s : timeline) {
    tl.push_back(json::object{{"n", s.answered}, {"h", s.latency.ToJson()}});
  }
  o["timeline"] = std::move(tl);
  return o;
}

RunStats RunStats::FromJson(const json::value& v) {
  RunStats r;
  const auto& o = v.as_object();
  const auto& ops_json = o.at("ops").as_array();
  for (std::size_t i = 0; i < r.ops.size() && i < ops_json.size(); ++i) {
    const auto& op = ops_json[i].as_object();
    r.ops[i].sent = U(op, "sent");
    r.ops[i].answered = U(op, "answered");
    r.ops[i].latency = Histogram::FromJson(op.at("latency"));
    r.ops[i].status = StatusFromJson(op.at("status"));
  }
  r.latency = Histogram::FromJson(o.at("latency"));
  r.service_latency = Histogram::FromJson(o.at("serviceLatency"));
  r.start_lag = Histogram::FromJson(o.at("startLag"));
  r.arrivals = U(o, "arrivals");
  r.late_starts = U(o, "lateStarts");
  r.status = StatusFromJson(o.at("status"));
  for (const auto& [k, n] : o.at("errors").as_object()) r.errors[std::string(k)] = json::value_to<std::uint64_t>(n);
  for (const auto& [k, n] : o.at("transport").as_object()) r.transport[std::string(k)] = json::value_to<std::uint64_t>(n);
  r.requests = U(o, "requests");
  r.buyers = U(o, "buyers");
  r.buyers_answered = U(o, "buyersAnswered");
  r.units_taken = U(o, "unitsTaken");
  r.confirms_ok = U(o, "confirmsOk");
  r.cancels_ok = U(o, "cancelsOk");
  r.connects = U(o, "connects");
  r.first_sold_out_us = I(o, "firstSoldOut");
  r.last_taken_us = I(o, "lastTaken");
  r.last_buyer_answer_us = I(o, "lastBuyerAnswer");
  r.last_answer_us = I(o, "lastAnswer");
  r.elapsed_us = I(o, "elapsed");
  r.taken_us = json::value_to<std::vector<std::int64_t>>(o.at("taken"));
  for (const auto& s : o.at("timeline").as_array()) {
    Second sec;
    sec.answered = U(s.as_object(), "n");
    sec.latency = Histogram::FromJson(s.as_object().at("h"));
    r.timeline.push_back(std::move(sec));
  }
  return r;
}

}  // namespace ticketing::loadgen
