#pragma once
// Trace context for HTTP requests: W3C `traceparent` (or `X-Request-Id`) read from the request
// or made up, sent back, and made current (common/trace.hpp) whenever the request's coroutine
// runs, through an executor that wraps the connection's: every log line written while serving
// the request carries it, across any number of suspensions. See src/metrics/README.md.
#include <boost/asio/execution.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/require.hpp>
#include <memory>
#include <string>
#include <utility>

#include "common/trace.hpp"
#include "http/server.hpp"

namespace ticketing::http {

// Fills `ctx` for a new request: the trace id of a valid `traceparent` (else of an
// `X-Request-Id` that is 32 hex digits or a UUID, else a random one), a fresh span id, and the
// X-Request-Id itself when it is 1-64 printable characters without quotes or backslashes; the
// trace flags are the caller's ("01" when it sent none).
void BeginTrace(const Request& req, trace::Context& ctx);

// Adds `traceparent` (this server's span as the parent) and, if the caller sent one,
// `X-Request-Id` to `res`.
void SetTraceHeaders(const trace::Context& ctx, Response& res);
// The same two fields as header lines ("name: value\r\n"), appended to `head`.
void AppendTraceFields(const trace::Context& ctx, std::string& head);

// A connection's current request. Shared by the copies of the connection's executor.
struct TraceSlot {
  trace::Context ctx;
};

// Runs every handler of one connection with that connection's trace context current on the
// thread (restoring the previous one after), so code that logs needs no context argument and
// a coroutine suspended in the middle of a request does not leak its context to another.
template <class Inner>
class TracedExecutor {
 public:
  TracedExecutor(Inner inner, std::shared_ptr<TraceSlot> slot) noexcept
      : inner_(std::move(inner)), slot_(std::move(slot)) {}

  template <class Property>
  auto query(const Property& p) const
      -> decltype(boost::asio::query(std::declval<const Inner&>(), p)) {
    return boost::asio::query(inner_, p);
  }

  template <class Property>
  auto require(const Property& p) const -> TracedExecutor<
      std::decay_t<decltype(boost::asio::require(std::declval<const Inner&>(), p))>> {
    return {boost::asio::require(inner_, p), slot_};
  }

  template <class Property>
  auto prefer(const Property& p) const -> TracedExecutor<
      std::decay_t<decltype(boost::asio::prefer(std::declval<const Inner&>(), p))>> {
    return {boost::asio::prefer(inner_, p), slot_};
  }

  template <class F>
  void execute(F&& f) const {
    inner_.execute([slot = slot_, f = std::forward<F>(f)]() mutable {
      trace::Scope scope(&slot->ctx);
      std::move(f)();
    });
  }

  friend bool operator==(const TracedExecutor& a, const TracedExecutor& b) noexcept {
    return a.inner_ == b.inner_ && a.slot_ == b.slot_;
  }
  friend bool operator!=(const TracedExecutor& a, const TracedExecutor& b) noexcept {
    return !(a == b);
  }

 private:
  template <class>
  friend class TracedExecutor;
  Inner inner_;
  std::shared_ptr<TraceSlot> slot_;
};

}  // namespace ticketing::http
