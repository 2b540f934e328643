// The HTTP side of the abuse defences: the 429 answer and which listener serves which route.
#include "http/api_abuse.hpp"

#include <gtest/gtest.h>

namespace ticketing::http {
namespace {

TEST(RateLimitedAnswer, RetryAfterIsWholeSecondsRoundedUp) {
  for (auto [ms, header] : {std::pair<std::int64_t, const char*>{0, "1"},
                            {1, "1"},
                            {1000, "1"},
                            {1001, "2"},
                            {59'500, "60"}}) {
    auto res = RateLimited(ms);
    EXPECT_EQ(res.result_int(), 429u);
    EXPECT_EQ(res[bhttp::field::retry_after], header) << ms;
    EXPECT_NE(res.body().find("\"RATE_LIMITED\""), std::string::npos);
  }
}

TEST(Listeners, AdminRoutesOnlyOnTheAdminListener) {
  for (const char* t : {"/admin/products", "/admin/products/7?x=1", "//admin//products",
                        "admin/products", "/admin", "/admin/"}) {
    EXPECT_FALSE(Serves(Listener::kPublic, t)) << t;
    EXPECT_TRUE(Serves(Listener::kAdmin, t)) << t;
    EXPECT_TRUE(Serves(Listener::kAll, t)) << t;
  }
  for (const char* t :
       {"/purchase/reserve", "/products/1", "/queue/1/join", "/administrator", "/x/admin",
        "/sale/1", "/demo/login"}) {
    EXPECT_TRUE(Serves(Listener::kPublic, t)) << t;
    EXPECT_FALSE(Serves(Listener::kAdmin, t)) << t;
  }
  for (const char* t : {"/health", "/ready", "/metrics", "/metrics?x", "//health/",
                        "/assets/admin.js", "/assets/style.css"}) {
    EXPECT_TRUE(Serves(Listener::kPublic, t)) << t;
    EXPECT_TRUE(Serves(Listener::kAdmin, t)) << t;
  }
  EXPECT_FALSE(Serves(Listener::kAdmin, "/health/x"));
  EXPECT_FALSE(Serves(Listener::kAdmin, "/"));
}

}  // namespace
}  // namespace ticketing::http
