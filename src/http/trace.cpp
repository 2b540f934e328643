#include "http/trace.hpp"

#include "http/fields.hpp"

#include <algorithm>
#include <cstdint>
#include <random>

namespace ticketing::http {
namespace {

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool AllZero(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == '0'; });
}

// splitmix64 per thread, seeded once: ids need to be unique, not secret.
std::uint64_t NextRandom() {
  thread_local std::uint64_t state = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

template <std::size_t N>
void RandomHex(std::array<char, N>& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < N; i += 16) {
    std::uint64_t r = NextRandom();
    for (std::size_t j = i; j < std::min(N, i + 16); ++j, r >>= 4) out[j] = kHex[r & 15];
  }
}

// "00-<32 hex trace>-<16 hex parent>-<2 hex flags>"; later versions may append fields.
bool ParseTraceParent(std::string_view v, trace::Context& ctx) {
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  const auto version = v.substr(0, 2);
  const auto id = v.substr(3, 32);
  const auto parent = v.substr(36, 16);
  const auto f = v.substr(53, 2);
  if (!IsLowerHex(version) || version == "ff" || !IsLowerHex(id) || !IsLowerHex(parent) ||
      !IsLowerHex(f) || AllZero(id) || AllZero(parent)) {
    return false;
  }
  if (version == "00" && v.size() != 55) return false;
  if (version != "00" && v.size() > 55 && v[55] != '-') return false;
  std::copy(id.begin(), id.end(), ctx.trace_id.begin());
  ctx.flags = {f[0], f[1]};
  return true;
}

// A request id that is a trace id already: 32 hex digits, or a UUID (8-4-4-4-12).
bool TraceIdFromRequestId(std::string_view v, trace::Context& ctx) {
  std::array<char, 32> id{};
  std::size_t n = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '-' && v.size() == 36 && (i == 8 || i == 13 || i == 18 || i == 23)) continue;
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n == id.size()) return false;
    id[n++] = c;
  }
  if (n != id.size() || AllZero({id.data(), n})) return false;
  ctx.trace_id = id;
  return true;
}

}  // namespace

void BeginTrace(const Request& req, trace::Context& ctx) {
  ctx.flags = {'0', '1'};
  ctx.request_id_size = 0;
  const auto rid = FieldOf(req, "X-Request-Id");
  if (!rid.empty() && rid.size() <= ctx.request_id.size() &&
      std::all_of(rid.begin(), rid.end(),
                  [](char c) { return c > ' ' && c < 127 && c != '"' && c != '\\'; })) {
    std::copy(rid.begin(), rid.end(), ctx.request_id.begin());
    ctx.request_id_size = rid.size();
  }
  const auto parent = FieldOf(req, "traceparent");
  if (!ParseTraceParent(parent, ctx) &&
      !(ctx.request_id_size > 0 && TraceIdFromRequestId(ctx.RequestId(), ctx))) {
    RandomHex(ctx.trace_id);
  }
  RandomHex(ctx.span_id);
  ctx.valid = true;
}

namespace {

// "00-<trace id>-<span id>-<flags>": this server's span as the parent.
std::array<char, 55> TraceParent(const trace::Context& ctx) {
  std::array<char, 55> value;
  std::string_view id = ctx.TraceId(), span = ctx.SpanId();
  value[0] = '0';
  value[1] = '0';
  value[2] = '-';
  std::copy(id.begin(), id.end(), value.begin() + 3);
  value[35] = '-';
  std::copy(span.begin(), span.end(), value.begin() + 36);
  value[52] = '-';
  value[53] = ctx.flags[0];
  value[54] = ctx.flags[1];
  return value;
}

}  // namespace

void SetTraceHeaders(const trace::Context& ctx, Response& res) {
  const auto value = TraceParent(ctx);
  res.set("traceparent", std::string_view(value.data(), value.size()));
  if (ctx.request_id_size > 0) res.set("X-Request-Id", ctx.RequestId());
}

void AppendTraceFields(const trace::Context& ctx, std::string& head) {
  const auto value = TraceParent(ctx);
  head += "traceparent: ";
  head.append(value.data(), value.size());
  head += "\r\n";
  if (ctx.request_id_size > 0) {
    head += "X-Request-Id: ";
    head += ctx.RequestId();
    head += "\r\n";
  }
}

}  // namespace ticketing::http
