#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

namespace ticketing::metrics {
namespace {

TEST(Metrics, NumbersInShortestForm) {
  std::string out;
  AppendNumber(out, 0.0005);
  EXPECT_EQ(out, "0.0005");
  out.clear();
  AppendNumber(out, 2.5);
  EXPECT_EQ(out, "2.5");
  out.clear();
  AppendNumber(out, 10);
  EXPECT_EQ(out, "10");
  out.clear();
  AppendNumber(out, 1e-7);
  EXPECT_EQ(out, "1e-07");
}

TEST(Metrics, HistogramBucketsAreCumulativeWithReadableBounds) {
  Histogram h;
  h.Observe(0.0004);
  h.Observe(0.0005);  // on a bound: in that bucket (le = less or equal)
  h.Observe(0.003);
  h.Observe(60);
  std::string out;
  h.Render(out, "x_seconds", "route=\"/a/{id}\"");
  EXPECT_NE(out.find("x_seconds_bucket{route=\"/a/{id}\",le=\"0.0005\"} 2\n"), std::string::npos)
      << out;
  EXPECT_NE(out.find("x_seconds_bucket{route=\"/a/{id}\",le=\"0.005\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{route=\"/a/{id}\",le=\"10\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{route=\"/a/{id}\",le=\"+Inf\"} 4\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_count{route=\"/a/{id}\"} 4\n"), std::string::npos);
  EXPECT_EQ(out.find("0.00050000000000000001"), std::string::npos);

  static constexpr std::array<double, 3> kSizes = {1, 2, 4};
  Histogram sizes{kSizes};
  sizes.Observe(3);
  out.clear();
  sizes.Render(out, "batch", "");
  EXPECT_NE(out.find("batch_bucket{le=\"4\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("batch_sum 3\n"), std::string::npos);
  EXPECT_NE(out.find("batch_count 1\n"), std::string::npos);
}

TEST(Metrics, CounterVecRendersEveryValue) {
  CounterVec v("t_outcomes_total", "Outcomes.", "outcome", {"OK", "SOLD_OUT"});
  v.Inc(1, 3);
  std::string out;
  v.Render(out);
  EXPECT_EQ(out,
            "# HELP t_outcomes_total Outcomes.\n# TYPE t_outcomes_total counter\n"
            "t_outcomes_total{outcome=\"OK\"} 0\nt_outcomes_total{outcome=\"SOLD_OUT\"} 3\n");
}

TEST(Metrics, RegistryLabelsRoutesByTemplateAndGroupsGauges) {
  Registry& r = Registry::Get();
  r.SetRoutes({{"GET", "/items/{id}"}, {"POST", "/items"}});
  r.SetRoutes({{"GET", "/other"}});  // ignored: one table per process
  r.ObserveRequest(0, 404, 0.001);
  r.ObserveRequest(-1, 404, 0.001);
  r.AddGaugeCallback(
      "t_in_flight", "In flight.", [] { return 2.0; }, "node=\"a:1\"");
  r.AddGaugeCallback("t_other", "Other.", [] { return 1.0; });
  r.AddGaugeCallback(
      "t_in_flight", "In flight.", [] { return 3.0; }, "node=\"b:2\"");
  const auto page = r.Render();
  EXPECT_NE(page.find("ticketing_http_requests_total{method=\"GET\",route=\"/items/{id}\","
                      "status=\"404\"} 1\n"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("ticketing_http_requests_total{method=\"\",route=\"unmatched\","
                      "status=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(page.find("/other"), std::string::npos);
  EXPECT_NE(page.find("# TYPE t_in_flight gauge\nt_in_flight{node=\"a:1\"} 2\n"
                      "t_in_flight{node=\"b:2\"} 3\n"),
            std::string::npos)
      << page;
}

}  // namespace
}  // namespace ticketing::metrics
