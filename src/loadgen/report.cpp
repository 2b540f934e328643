#include "loadgen/report.hpp"

#include "loadgen/engine.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace ticketing::loadgen {
namespace {

namespace json = boost::json;

double Ms(double micros) { return std::round(micros) / 1000.0; }

json::object Latency(const Histogram& h) {
  return {{"p50", Ms(h.QuantileMicros(0.50))},  {"p90", Ms(h.QuantileMicros(0.90))},
          {"p99", Ms(h.QuantileMicros(0.99))},  {"p999", Ms(h.QuantileMicros(0.999))},
          {"max", Ms(static_cast<double>(h.max_micros()))}};
}

json::object Counts(const std::map<int, std::uint64_t>& m) {
  json::object o;
  for (const auto& [k, v] : m) o[std::to_string(k)] = v;
  return o;
}

json::value MsOrNull(std::int64_t us) {
  if (us < 0) return nullptr;
  return Ms(static_cast<double>(us));
}

double Num(const json::object& o, const char* k) {
  const auto& v = o.at(k);
  return v.is_null() ? -1 : v.to_number<double>();
}

}  // namespace

json::object JsonReport(const Options& o, const RunInfo& info, const RunStats& s,
                        const std::vector<Check>& checks) {
  json::object r;
  bool ok = true;
  json::array checks_json;
  for (const auto& c : checks) {
    ok = ok && c.ok;
    checks_json.push_back(json::object{{"name", c.name}, {"ok", c.ok}, {"detail", c.detail}});
  }
  const double seconds = std::max(1e-6, static_cast<double>(s.elapsed_us) / 1e6);
  // Every HTTP answer, whatever it was for (the waiting room's joins and polls are no Op).
  std::uint64_t answered = 0, transport = 0;
  for (const auto& [code, n] : s.status) answered += n;
  json::object transport_kinds;
  for (const auto& [k, n] : s.transport) {
    transport += n;
    transport_kinds[k] = n;
  }
  json::object errors;
  for (const auto& [k, n] : s.errors) errors[k] = n;
  r["ok"] = ok;
  r["verified"] = info.verified;
  r["mode"] = o.mode == Mode::kGet ? "get" : "buyers";
  // "closed": latencyMs is each request from its send. "open" (--rate): latencyMs is each
  // arrival from its due time (coordinated omission corrected), serviceLatencyMs the same
  // requests from their send (what a closed-loop tool would report).
  r["loop"] = o.rate > 0 ? "open" : "closed";
  if (o.rate > 0) {
    r["rate"] = o.rate;
    r["arrivals"] = s.arrivals;
    r["serviceLatencyMs"] = Latency(s.service_latency);
    r["lateStarts"] = s.late_starts;
    r["startLagMs"] = Latency(s.start_lag);
  }
  r["url"] = o.url;
  r["productId"] = info.product_id;
  r["stock"] = info.stock;
  r["buyers"] = s.buyers;
  r["buyersAnswered"] = s.buyers_answered;
  r["connections"] = o.connections;
  r["processes"] = o.processes;
  r["threads"] = info.threads;
  r["peakOpenConnections"] = info.peak_open;
  r["requests"] = s.requests;
  r["answered"] = answered;
  r["durationMs"] = Ms(static_cast<double>(s.elapsed_us));
  r["reqPerSec"] = std::round(static_cast<double>(answered) / seconds);
  r["latencyMs"] = Latency(s.latency);
  r["status"] = Counts(s.status);
  r["errors"] = std::move(errors);
  r["transportErrors"] = transport;
  r["transport"] = std::move(transport_kinds);
  r["unitsTaken"] = s.units_taken;
  r["confirms"] = s.confirms_ok;
  r["cancels"] = s.cancels_ok;
  r["soldOut"] = s.first_sold_out_us >= 0;
  r["firstSoldOutMs"] = MsOrNull(s.first_sold_out_us);
  r["lastTakenMs"] = MsOrNull(s.last_taken_us);
  // When the stock present at the start had all been taken (units returned later by expiry
  // or cancel and taken again do not move it); null if it never was.
  r["sellOutMs"] = MsOrNull(s.sell_out_us);
  r["allAnsweredMs"] =
      s.buyers_answered == s.buyers ? MsOrNull(s.last_buyer_answer_us) : json::value(nullptr);
  json::object ops;
  for (std::size_t i = 0; i < s.ops.size(); ++i) {
    const auto& op = s.ops[i];
    if (op.sent == 0) continue;
    ops[kOpNames[i]] = json::object{{"sent", op.sent},
                                    {"answered", op.answered},
                                    {"perSec", std::round(static_cast<double>(op.answered) / seconds)},
                                    {"latencyMs", Latency(op.latency)},
                                    {"status", Counts(op.status)}};
  }
  r["ops"] = std::move(ops);
  json::array timeline;
  for (std::size_t i = 0; i < s.timeline.size(); ++i) {
    const auto& slot = s.timeline[i];
    timeline.push_back(json::object{
        {"t", static_cast<double>(i * kSlotMicros) / 1e6},
        {"reqPerSec", static_cast<double>(slot.answered) * 1e6 / kSlotMicros},
        {"p99Ms", Ms(slot.latency.QuantileMicros(0.99))}});
  }
  r["timeline"] = std::move(timeline);
  r["checks"] = std::move(checks_json);
  return r;
}

std::string TextReport(const json::object& r) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1);
  const auto& lat = r.at("latencyMs").as_object();
  out << "requests      " << r.at("requests").as_uint64() << " sent, " << r.at("answered").as_uint64()
      << " answered in " << Num(r, "durationMs") / 1000 << " s = " << Num(r, "reqPerSec")
      << " req/s\n";
  out << "connections   " << r.at("connections").as_int64() << " (peak open "
      << r.at("peakOpenConnections").as_int64() << ", " << r.at("processes").as_int64()
      << " process(es) x " << r.at("threads").as_int64() << " thread(s))\n";
  out << std::setprecision(2);
  const auto line = [&out](const char* label, const json::object& l) {
    out << label << "p50 " << Num(l, "p50") << "  p90 " << Num(l, "p90") << "  p99 "
        << Num(l, "p99") << "  p99.9 " << Num(l, "p999") << "  max " << Num(l, "max") << "\n";
  };
  if (r.at("loop").as_string() == "open") {
    out << "open loop     " << std::setprecision(0) << Num(r, "rate") << " arrivals/s offered, "
        << r.at("arrivals").as_uint64() << " arrivals; " << r.at("lateStarts").as_uint64()
        << " found no free connection when due (start lag p99 " << std::setprecision(2)
        << Num(r.at("startLagMs").as_object(), "p99") << " ms)\n";
    line("latency ms    (from due time, CO-corrected)  ", lat);
    line("service ms    (from send, as closed loop)    ", r.at("serviceLatencyMs").as_object());
  } else {
    line("latency ms    (closed loop, from send)  ", lat);
  }
  out << "status        ";
  for (const auto& [k, v] : r.at("status").as_object()) out << k << ": " << v.as_uint64() << "  ";
  out << "\nerrors        ";
  for (const auto& [k, v] : r.at("errors").as_object()) out << k << ": " << v.as_uint64() << "  ";
  out << "\ntransport     " << r.at("transportErrors").as_uint64() << " errors  ";
  for (const auto& [k, v] : r.at("transport").as_object()) out << k << ": " << v.as_uint64() << "  ";
  out << "\n";
  for (const auto& [name, v] : r.at("ops").as_object()) {
    const auto& op = v.as_object();
    const auto& l = op.at("latencyMs").as_object();
    out << "  " << std::left << std::setw(8) << std::string(name) << std::right
        << op.at("answered").as_uint64() << " answered, " << std::setprecision(0)
        << Num(op, "perSec") << "/s, p50 " << std::setprecision(2) << Num(l, "p50") << " ms, p99 "
        << Num(l, "p99") << " ms\n";
  }
  if (r.at("mode").as_string() == "buyers") {
    out << "buyers        " << r.at("buyers").as_uint64() << " started, "
        << r.at("buyersAnswered").as_uint64() << " answered; units taken "
        << r.at("unitsTaken").as_uint64() << ", confirms " << r.at("confirms").as_uint64()
        << ", cancels " << r.at("cancels").as_uint64() << "\n";
    out << "sell-out      ";
    if (r.at("sellOutMs").is_null()) out << "not sold out";
    else out << "last unit taken at " << Num(r, "sellOutMs") << " ms";
    if (!r.at("firstSoldOutMs").is_null()) {
      out << " (first SOLD_OUT at " << Num(r, "firstSoldOutMs") << " ms)";
    }
    out << "; every buyer answered ";
    if (r.at("allAnsweredMs").is_null()) out << "never (some buyers got no answer)";
    else out << "at " << Num(r, "allAnsweredMs") << " ms";
    out << "\n";
  }
  return out.str();
}

std::string ChecksText(const std::vector<Check>& checks) {
  std::ostringstream out;
  int failed = 0;
  for (const auto& c : checks) {
    out << (c.ok ? "  ok    " : "  FAIL  ") << c.name << ": " << c.detail << "\n";
    if (!c.ok) ++failed;
  }
  out << (failed ? "CHECKS FAILED: " + std::to_string(failed) + " of " + std::to_string(checks.size())
                 : "all " + std::to_string(checks.size()) + " checks passed")
      << "\n";
  return out.str();
}

bool WritePlot(const RunStats& s, const std::string& png, std::string* error) {
  const std::string data = png + ".dat", script = png + ".gp";
  {
    std::ofstream d(data);
    for (std::size_t i = 0; i < s.timeline.size(); ++i) {
      const auto& slot = s.timeline[i];
      d << static_cast<double>(i * kSlotMicros + kSlotMicros / 2) / 1e6 << " "
        << static_cast<double>(slot.answered) * 1e6 / kSlotMicros << " "
        << slot.latency.QuantileMicros(0.99) / 1000.0 << "\n";
    }
  }
  {
    std::ofstream g(script);
    g << "set terminal pngcairo size 1200,600\n"
      << "set output '" << png << "'\n"
      << "set title 'ticketing-loadgen: requests/s and p99 latency per " << kSlotMicros / 1000
      << " ms'\n"
      << "set xlabel 'seconds since start'\nset ylabel 'requests/s'\nset y2label 'p99 ms'\n"
      << "set ytics nomirror\nset y2tics\nset grid\nset key top right\n"
      << "set yrange [0:*]\nset y2range [0:*]\n";
    if (s.sell_out_us >= 0) {
      const double t = static_cast<double>(s.sell_out_us) / 1e6;
      g << "set arrow from " << t << ", graph 0 to " << t
        << ", graph 1 nohead lc rgb 'red' dt 2 lw 2\n"
        << "set label 'sold out' at " << t << ", graph 0.95 offset 0.5,0 tc rgb 'red'\n";
    }
    g << "plot '" << data << "' using 1:2 axes x1y1 with lines lw 2 title 'req/s', '" << data
      << "' using 1:3 axes x1y2 with lines lw 2 title 'p99 ms'\n";
  }
  const std::string cmd = "gnuplot '" + script + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    if (error) *error = "cannot run gnuplot";
    return false;
  }
  std::string out;
  char buf[512];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = pclose(p);
  if (status != 0) {
    if (error) *error = "gnuplot failed (is gnuplot-nox installed?): " + out;
    return false;
  }
  std::remove(data.c_str());
  std::remove(script.c_str());
  return true;
}

}  // namespace ticketing::loadgen
