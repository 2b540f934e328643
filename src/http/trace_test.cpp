#include "http/trace.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>
#include <vector>

namespace ticketing::http {
namespace {

Request With(std::vector<std::pair<std::string, std::string>> fields) {
  Request req{bhttp::verb::get, "/health", 11};
  for (auto& [k, v] : fields) req.set(k, v);
  return req;
}

std::string TraceOf(const Request& req) {
  trace::Context ctx;
  BeginTrace(req, ctx);
  EXPECT_TRUE(ctx.valid);
  return std::string(ctx.TraceId());
}

TEST(Trace, KeepsAValidTraceParentAndAnswersWithItsOwnSpan) {
  trace::Context ctx;
  BeginTrace(With({{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}}),
             ctx);
  EXPECT_EQ(ctx.TraceId(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(ctx.SpanId(), "00f067aa0ba902b7");
  Response res{bhttp::status::ok, 11};
  SetTraceHeaders(ctx, res);
  EXPECT_EQ(std::string(res["traceparent"]),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-" + std::string(ctx.SpanId()) + "-00");
  EXPECT_EQ(res["X-Request-Id"], "");
}

TEST(Trace, RefusesMalformedTraceParents) {
  const std::string good = "4bf92f3577b34da6a3ce929d0e0e4736";
  const std::vector<std::string> bads = {
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
      "00-" + good + "-0000000000000000-01",                      // zero parent
      "ff-" + good + "-00f067aa0ba902b7-01",                      // version ff
      "00-" + good + "-00f067aa0ba902b7-01-extra",                // version 00 is 55 chars
      "00-" + good + "-00f067aa0ba902b7",
      "garbage"};
  for (const auto& bad : bads) {
    EXPECT_NE(TraceOf(With({{"traceparent", bad}})), good) << bad;
  }
  // A later version may carry more fields.
  EXPECT_EQ(TraceOf(With({{"traceparent", "01-" + good + "-00f067aa0ba902b7-01-more"}})), good);
}

TEST(Trace, UsesAndEchoesXRequestId) {
  trace::Context ctx;
  BeginTrace(With({{"X-Request-Id", "123E4567-E89B-12D3-A456-426614174000"}}), ctx);
  EXPECT_EQ(ctx.TraceId(), "123e4567e89b12d3a456426614174000");
  Response res{bhttp::status::ok, 11};
  SetTraceHeaders(ctx, res);
  EXPECT_EQ(res["X-Request-Id"], "123E4567-E89B-12D3-A456-426614174000");

  BeginTrace(With({{"X-Request-Id", "checkout-42"}}), ctx);
  EXPECT_EQ(ctx.RequestId(), "checkout-42");
  EXPECT_EQ(ctx.TraceId().size(), 32u);
  // Not printable, or too long: neither echoed nor logged.
  BeginTrace(With({{"X-Request-Id", "a\"b"}}), ctx);
  EXPECT_EQ(ctx.RequestId(), "");
  BeginTrace(With({{"X-Request-Id", std::string(65, 'x')}}), ctx);
  EXPECT_EQ(ctx.RequestId(), "");
  // traceparent wins over a request id.
  BeginTrace(With({{"X-Request-Id", "0af7651916cd43dd8448eb211c80319c"},
                   {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}),
             ctx);
  EXPECT_EQ(ctx.TraceId(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST(Trace, FreshIdsDiffer) { EXPECT_NE(TraceOf(With({})), TraceOf(With({}))); }

// Two "connections" on one thread, each suspended many times in the middle of its request:
// after every resumption the current context is its own, never the other's.
TEST(Trace, ExecutorKeepsEachCoroutinesContextAcrossSuspensions) {
  net::io_context io;
  std::vector<std::string> mismatches;
  int steps = 0;
  auto run = [&](std::string id) {
    auto slot = std::make_shared<TraceSlot>();
    std::copy(id.begin(), id.end(), slot->ctx.trace_id.begin());
    slot->ctx.valid = true;
    net::co_spawn(
        TracedExecutor(io.get_executor(), slot),
        [&, id]() -> net::awaitable<void> {
          net::steady_timer t(co_await net::this_coro::executor);
          for (int i = 0; i < 50; ++i) {
            t.expires_after(std::chrono::microseconds(i % 3));
            co_await t.async_wait(net::use_awaitable);
            co_await net::post(net::use_awaitable);  // through the executor again
            const auto* now = trace::Current();
            if (!now || now->TraceId() != id) mismatches.push_back(id);
            ++steps;
          }
        },
        net::detached);
  };
  run(std::string(32, 'a'));
  run(std::string(32, 'b'));
  io.run();
  EXPECT_EQ(steps, 100);
  EXPECT_TRUE(mismatches.empty()) << mismatches.size() << " resumptions saw another context";
  EXPECT_EQ(trace::Current(), nullptr);  // nothing left current once the handlers are done
}

}  // namespace
}  // namespace ticketing::http
