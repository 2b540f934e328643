// What the pages need from the server: embedded assets with ETag, Cache-Control and a strict
// CSP; the demo sign-in switch; CORS and preflights; the waiting page's poll pace; the
// dashboard's event stream over a real socket (cap, first bytes, new samples, the end on stop).
#include "http/api.hpp"
#include "http/api_test_support.hpp"
#include "http/events.hpp"
#include "http/fake_services.hpp"
#include "http/static_files.hpp"
#include "http/web.hpp"
#include "metrics/metrics.hpp"
#include "queue/admission.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <set>
#include <thread>

namespace ticketing::http {
namespace {

namespace json = boost::json;
const std::string kSecret(32, 'k');
constexpr std::int64_t kNow = 1'800'000'000;

class WebTest : public ::testing::Test {
 protected:
  WebTest()
      : jwt_(kSecret),
        admission_(kSecret),
        queue_(admission_, kNow * 1000),
        api_(fake_, jwt_, [] { return kNow; }, &queue_) {}
  Response Get(std::string target, std::vector<std::pair<std::string, std::string>> h = {},
               std::string token = "") {
    return CallApi(api_, bhttp::verb::get, std::move(target), "", token, h);
  }
  FakePurchase fake_;
  auth::JwtCodec jwt_;
  queue::AdmissionCodec admission_;
  FakeQueue queue_;
  Api api_;
};

TEST_F(WebTest, PagesAndAssetsCarryEtagCacheControlAndAStrictPolicy) {
  for (std::string target : {"/sale/7", "/admin", "/assets/sale.js", "/assets/style.css",
                             "/assets/admin.js", "/assets/pow_worker.js"}) {
    auto r = Get(target);
    ASSERT_EQ(r.result_int(), 200) << target;
    EXPECT_FALSE(r.body().empty()) << target;
    EXPECT_EQ(r[bhttp::field::cache_control], "no-cache") << target;
    const std::string etag(r[bhttp::field::etag]);
    EXPECT_EQ(etag.size(), 22u) << target;
    const std::string csp(r["Content-Security-Policy"]);
    EXPECT_NE(csp.find("default-src 'self'"), std::string::npos);
    EXPECT_NE(csp.find("script-src 'self';"), std::string::npos);
    EXPECT_NE(csp.find("worker-src 'self'"), std::string::npos);
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_EQ(csp.find("unsafe"), std::string::npos);
    EXPECT_EQ(r["X-Content-Type-Options"], "nosniff");
    // Revalidation: the same ETag is a 304 without a body.
    auto again = Get(target, {{"If-None-Match", etag}});
    EXPECT_EQ(again.result_int(), 304) << target;
    EXPECT_TRUE(again.body().empty());
    EXPECT_EQ(Get(target, {{"If-None-Match", "\"other\""}}).result_int(), 200);
  }
  EXPECT_NE(Get("/sale/7")[bhttp::field::content_type].find("text/html"), std::string::npos);
  // A revalidation is counted as what it is, not as a 500.
  EXPECT_NE(metrics::Registry::Get().Render().find("route=\"/sale/{id}\",status=\"304\""),
            std::string::npos)
      << metrics::Registry::Get().Render();
  EXPECT_NE(Get("/assets/sale.js")[bhttp::field::content_type].find("text/javascript"),
            std::string::npos);
}

TEST_F(WebTest, NothingButEmbeddedAssetsIsServed) {
  for (std::string target : {"/assets/nope.js", "/assets/..%2fCMakeLists.txt", "/assets/",
                             "/assets/sale.html", "/sale/abc", "/sale/0", "/assets/a/b.js"}) {
    auto r = Get(target);
    EXPECT_EQ(r.result_int(), 404) << target;
    EXPECT_EQ(ErrorCode(r), "NOT_FOUND") << target;
  }
}

// No inline script or style anywhere, nothing from another origin.
TEST_F(WebTest, AssetsNeedNothingFromOutsideAndNothingInline) {
  for (const auto& a : EmbeddedAssets()) {
    std::string body(a.body);
    for (std::size_t at; (at = body.find("http://www.w3.org/")) != std::string::npos;) {
      body.erase(at, 18);  // an SVG's namespace is a name, not a fetch
    }
    const std::string_view b = body;
    EXPECT_EQ(b.find("http://"), std::string_view::npos) << a.name;
    EXPECT_EQ(b.find("https://"), std::string_view::npos) << a.name;
    if (a.name.ends_with(".html")) {
      EXPECT_EQ(b.find("<style"), std::string_view::npos) << a.name;
      EXPECT_EQ(b.find(" style="), std::string_view::npos) << a.name;
      for (auto handler : {" onclick=", " onload=", " onsubmit=", " oninput=", " onchange="}) {
        EXPECT_EQ(b.find(handler), std::string_view::npos) << a.name << handler;
      }
      for (std::size_t at = b.find("<script"); at != std::string_view::npos;
           at = b.find("<script", at + 1)) {
        EXPECT_NE(b.substr(at, 60).find(" src="), std::string_view::npos) << a.name;
      }
    }
  }
}

TEST_F(WebTest, FrameAncestorsIsConfigurable) {
  WebOptions web;
  web.frame_ancestors = "'self' https://shop.example";
  api_.Configure(web);
  EXPECT_NE(std::string(Get("/sale/7")["Content-Security-Policy"])
                .find("frame-ancestors 'self' https://shop.example"),
            std::string::npos);
}

TEST_F(WebTest, DemoLoginOnlyWhenTurnedOn) {
  auto off = CallApi(api_, bhttp::verb::post, "/demo/login", R"({"nickname":"minji"})");
  EXPECT_EQ(off.result_int(), 404);
  EXPECT_EQ(ErrorCode(off), "NOT_FOUND");

  WebOptions web;
  web.demo_login = true;
  api_.Configure(web);
  auto on = CallApi(api_, bhttp::verb::post, "/demo/login", R"({"nickname":"민지"})");
  ASSERT_EQ(on.result_int(), 200) << on.body();
  auto body = ResponseJson(on).as_object();
  EXPECT_EQ(body.at("user").as_string(), "demo:민지");
  const auto who = jwt_.Verify(body.at("token").as_string(), kNow);
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->user, "demo:민지");
  EXPECT_FALSE(who->admin);
  EXPECT_FALSE(jwt_.Verify(body.at("token").as_string(), kNow + 3601).has_value());

  for (std::string bad : {R"({})", R"({"nickname":""})", R"({"nickname":7})",
                          R"({"nickname":"a\"b"})", R"({"nickname":"line\nbreak"})",
                          R"({"nickname":"123456789012345678901234567890123"})", "nope"}) {
    auto r = CallApi(api_, bhttp::verb::post, "/demo/login", bad);
    EXPECT_EQ(r.result_int(), 400) << bad;
    EXPECT_EQ(ErrorCode(r), "INVALID_REQUEST") << bad;
  }
}

TEST_F(WebTest, CorsOnlyForListedOriginsAndNeverForAdminRoutes) {
  // Off by default: no CORS headers, and a preflight is refused.
  auto r = Get("/products/7", {{"Origin", "https://shop.example"}});
  EXPECT_EQ(r[bhttp::field::access_control_allow_origin], "");
  auto pre = CallApi(api_, bhttp::verb::options, "/purchase/reserve", "", "",
                     {{"Origin", "https://shop.example"},
                      {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(pre.result_int(), 403);
  EXPECT_EQ(ErrorCode(pre), "CORS_ORIGIN_NOT_ALLOWED");

  WebOptions web;
  web.cors_origins = {"https://shop.example"};
  api_.Configure(web);
  r = Get("/products/7", {{"Origin", "https://shop.example"}});
  EXPECT_EQ(r[bhttp::field::access_control_allow_origin], "https://shop.example");
  EXPECT_EQ(r[bhttp::field::vary], "Origin");
  EXPECT_NE(std::string(r[bhttp::field::access_control_expose_headers]).find("Retry-After"),
            std::string::npos);
  r = Get("/products/7", {{"Origin", "https://evil.example"}});
  EXPECT_EQ(r[bhttp::field::access_control_allow_origin], "");

  pre = CallApi(api_, bhttp::verb::options, "/purchase/reserve", "", "",
                {{"Origin", "https://shop.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(pre.result_int(), 204);
  EXPECT_EQ(pre[bhttp::field::access_control_allow_origin], "https://shop.example");
  EXPECT_EQ(pre[bhttp::field::access_control_allow_methods], "POST, OPTIONS");
  const std::string headers(pre[bhttp::field::access_control_allow_headers]);
  for (auto h : {"Authorization", "Idempotency-Key", "X-Admission-Token", "X-Pow-Nonce"}) {
    EXPECT_NE(headers.find(h), std::string::npos) << h;
  }
  // No token is needed for a preflight (browsers send none), and an unknown path is still 404.
  EXPECT_EQ(CallApi(api_, bhttp::verb::options, "/queue/7/join", "", "",
                    {{"Origin", "https://shop.example"}})
                .result_int(),
            204);
  EXPECT_EQ(CallApi(api_, bhttp::verb::options, "/nowhere", "", "",
                    {{"Origin", "https://shop.example"}})
                .result_int(),
            404);
  // Admin routes are never open to other origins.
  pre = CallApi(api_, bhttp::verb::options, "/admin/products", "", "",
                {{"Origin", "https://shop.example"}});
  EXPECT_EQ(pre.result_int(), 403);
  r = CallApi(api_, bhttp::verb::get, "/admin/products", "", jwt_.Sign({"ops", true}, kNow + 60),
              {{"Origin", "https://shop.example"}});
  EXPECT_EQ(r[bhttp::field::access_control_allow_origin], "");

  web.cors_origins = {"*"};
  api_.Configure(web);
  r = Get("/products/7", {{"Origin", "https://anyone.example"}});
  EXPECT_EQ(r[bhttp::field::access_control_allow_origin], "https://anyone.example");
}

TEST(PollAfterMs, PacedByPlaceJitteredAndWithinThePollTimeout) {
  queue::Place p;
  p.state = "waiting";
  p.eta_seconds = 0;
  std::set<std::int64_t> seen;
  for (std::uint32_t r = 0; r < 2000; r += 7) {
    auto ms = PollAfterMs(p, 30, r);
    EXPECT_GE(ms, 800);
    EXPECT_LE(ms, 1200);
    seen.insert(ms);
  }
  EXPECT_GT(seen.size(), 100u);  // jittered, not one value
  p.eta_seconds = 600;           // far back: slower, but at most 5 s (+20 %)
  EXPECT_GE(PollAfterMs(p, 30, 0), 4000);
  EXPECT_LE(PollAfterMs(p, 30, ~0u), 6000);
  // A short poll timeout wins: three polls per timeout at least.
  EXPECT_LE(PollAfterMs(p, 3, ~0u), 1200);
  p.state = "soldout";
  EXPECT_LE(PollAfterMs(p, 30, ~0u), 3600);
}

TEST_F(WebTest, QueueAnswersCarryPollAfterMs) {
  const auto token = jwt_.Sign({"bob", false}, kNow + 60);
  auto r = CallApi(api_, bhttp::verb::post, "/queue/7/join", "", token);
  ASSERT_EQ(r.result_int(), 200) << r.body();
  auto ms = ResponseJson(r).at("pollAfterMs").as_int64();  // 1 s to go: about 1.1 s
  EXPECT_GE(ms, 800);
  EXPECT_LE(ms, 1400);
}

TEST(EventHub, OpeningHasTheHistoryAndTheLatestSample) {
  EventHub hub;
  EXPECT_EQ(hub.Opening(), "retry: 3000\n\nevent: history\ndata: []\n\n");
  hub.Publish({{"n", 1}});
  hub.Publish({{"n", 2}});
  EXPECT_EQ(hub.Opening(),
            "retry: 3000\n\nevent: history\ndata: [{\"n\":1},{\"n\":2}]\n\n"
            "event: snapshot\ndata: {\"n\":2}\n\n");
  EventHubOptions small;
  small.history = 2;
  EventHub bounded(small);
  for (int i = 0; i < 5; ++i) bounded.Publish({{"n", i}});
  EXPECT_NE(bounded.Opening().find("[{\"n\":3},{\"n\":4}]"), std::string::npos);
}

TEST(EventHub, RequestTotalsFromTheMetricsPage) {
  auto t = EventHub::RequestTotals(
      "# HELP ticketing_http_requests_total x\n"
      "ticketing_http_requests_total{route=\"reserve\",status=\"201\"} 10\n"
      "ticketing_http_requests_total{route=\"reserve\",status=\"503\"} 3\n"
      "ticketing_http_requests_total{route=\"other\",status=\"500\"} 1\n"
      "ticketing_other_total{status=\"500\"} 99\n");
  EXPECT_EQ(t.requests, 14);
  EXPECT_EQ(t.errors_5xx, 4);
}

// The stream over a real socket: the opening, a new sample, the cap, and the end on stop.
TEST(EventHub, StreamsOverARealSocketBoundedByTheCap) {
  EventHubOptions options;
  options.max_subscribers = 1;
  EventHub hub(options);
  hub.Publish({{"n", 1}});
  FakePurchase fake;
  auth::JwtCodec jwt(kSecret);
  Api api(fake, jwt, [] { return kNow; });
  WebOptions web;
  web.events = &hub;
  api.Configure(web);

  net::io_context ctx;
  ServerOptions so;
  so.address = "127.0.0.1";
  so.port = 0;
  so.stream = [&hub](beast::tcp_stream& s, Response head, const std::atomic<bool>& stopping) {
    return hub.Serve(s, std::move(head), stopping);
  };
  Server server({&ctx}, so, [&api](std::size_t) -> Handler {
    return [&api](Request& req, const net::ip::address& peer) { return api.Handle(req, peer); };
  });
  server.Start();
  std::thread io([&] { ctx.run(); });

  const std::string request = "GET /admin/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                              jwt.Sign({"ops", true}, kNow + 600) + "\r\n\r\n";
  auto open = [&](net::io_context& c) {
    net::ip::tcp::socket s(c);
    s.connect({net::ip::make_address("127.0.0.1"), server.port()});
    net::write(s, net::buffer(request));
    return s;
  };
  // Reads until `needle` shows up (or the connection ends); returns what was read.
  auto read_until = [](net::ip::tcp::socket& s, std::string_view needle) {
    std::string got;
    char buf[4096];
    boost::system::error_code ec;
    while (got.find(needle) == std::string::npos) {
      auto n = s.read_some(net::buffer(buf), ec);
      if (ec) break;
      got.append(buf, n);
    }
    return got;
  };
  net::io_context client;
  auto first = open(client);
  auto got = read_until(first, "{\"n\":1}\n\n");
  EXPECT_NE(got.find("HTTP/1.1 200"), std::string::npos) << got;
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos) << got;
  EXPECT_NE(got.find("Cache-Control: no-store"), std::string::npos) << got;
  EXPECT_EQ(got.find("Content-Length"), std::string::npos) << got;
  EXPECT_NE(got.find("event: history\ndata: [{\"n\":1}]"), std::string::npos) << got;
  for (int i = 0; i < 100 && hub.subscribers() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(hub.subscribers(), 1);

  // Past the cap: 503 with the JSON error, connection closed.
  auto second = open(client);
  auto refused = read_until(second, "\x01never");
  EXPECT_NE(refused.find("HTTP/1.1 503"), std::string::npos) << refused;
  EXPECT_NE(refused.find("TOO_MANY_SUBSCRIBERS"), std::string::npos) << refused;

  hub.Publish({{"n", 2}});
  got = read_until(first, "event: snapshot\ndata: {\"n\":2}\n\n");
  EXPECT_NE(got.find("{\"n\":2}"), std::string::npos) << got;

  // Without a token it is an ordinary 401, not a stream.
  net::ip::tcp::socket anon(client);
  anon.connect({net::ip::make_address("127.0.0.1"), server.port()});
  net::write(anon, net::buffer(std::string("GET /admin/events HTTP/1.1\r\nHost: x\r\n\r\n")));
  EXPECT_NE(read_until(anon, "}}").find("HTTP/1.1 401"), std::string::npos);

  // Stopping the server ends the stream (the read sees the end) and frees the slot.
  server.Stop();
  got = read_until(first, "\x01never");
  for (int i = 0; i < 200 && hub.subscribers() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(hub.subscribers(), 0);
  ctx.stop();
  io.join();
}

}  // namespace
}  // namespace ticketing::http
