#pragma once
// The trace context of the request being served: W3C trace id and this server's span id, plus
// the caller's X-Request-Id. Header-only, so every component's log lines can carry it (see
// src/metrics/README.md for how it follows a request across coroutine suspensions).
#include <array>
#include <cstddef>
#include <string_view>

namespace ticketing::trace {

struct Context {
  bool valid = false;               // false: no request (the fields below mean nothing)
  std::array<char, 32> trace_id{};  // lowercase hex
  std::array<char, 16> span_id{};   // lowercase hex: this server's span (the traceparent sent back)
  std::array<char, 2> flags{'0', '1'};  // trace flags, as the caller sent them
  std::array<char, 64> request_id{};    // the caller's X-Request-Id, if it was printable and short
  std::size_t request_id_size = 0;

  std::string_view TraceId() const { return {trace_id.data(), trace_id.size()}; }
  std::string_view SpanId() const { return {span_id.data(), span_id.size()}; }
  std::string_view RequestId() const { return {request_id.data(), request_id_size}; }
};

namespace detail {
inline thread_local const Context* t_current = nullptr;
}  // namespace detail

// The context of the request whose work runs on this thread right now, or nullptr.
inline const Context* Current() {
  const Context* c = detail::t_current;
  return c && c->valid ? c : nullptr;
}

// Makes `c` current on this thread for the scope (nullptr: none), then restores the previous.
class Scope {
 public:
  explicit Scope(const Context* c) : previous_(detail::t_current) { detail::t_current = c; }
  ~Scope() { detail::t_current = previous_; }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const Context* previous_;
};

}  // namespace ticketing::trace
