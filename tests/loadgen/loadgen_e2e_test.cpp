// A small flash sale end to end: the real server, Redis and MariaDB, and the real
// ticketing-loadgen binary; every check of its verification must pass.
#include "tests/loadgen/loadgen_harness.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ticketing::testing {
namespace {

TEST(LoadgenEndToEnd, TwoThousandBuyersFiftyUnitsOneSecondHolds) {
  const auto& services = SharedServices();
  ServerProcess server(services, {{"SWEEP_INTERVAL_MS", "100"}});
  server.Start();
  const std::string plot = services.dir + "/e2e.png";
  auto run = RunLoadgen(services, server,
                        {"--buyers", "2000", "--stock", "50", "--hold-seconds", "1",
                         "--connections", "2000", "--max-wait", "30", "--plot", plot},
                        "e2e");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto& r = run.report;
  ASSERT_FALSE(r.empty()) << run.output;
  EXPECT_TRUE(r.at("ok").as_bool());
  EXPECT_EQ(r.at("buyers").to_number<std::uint64_t>(), 2000u);
  EXPECT_EQ(r.at("transportErrors").to_number<std::uint64_t>(), 0u);
  // Every unit was taken at least once (expired and cancelled units are taken again).
  EXPECT_GE(r.at("unitsTaken").to_number<std::uint64_t>(), 50u);
  EXPECT_GT(r.at("status").as_object().at("201").to_number<std::uint64_t>(), 0u);
  EXPECT_GT(r.at("status").as_object().at("409").to_number<std::uint64_t>(), 0u);
  EXPECT_GT(r.at("errors").as_object().at("SOLD_OUT").to_number<std::uint64_t>(), 0u);
  EXPECT_GT(r.at("reqPerSec").to_number<double>(), 0);
  for (const char* k : {"p50", "p90", "p99", "p999", "max"}) {
    EXPECT_TRUE(r.at("latencyMs").as_object().contains(k)) << k;
  }
  EXPECT_FALSE(r.at("sellOutMs").is_null());
  EXPECT_FALSE(r.at("allAnsweredMs").is_null());
  // Connections run buyers as soon as they are open, so fewer than 2,000 may be open at once.
  EXPECT_GT(r.at("peakOpenConnections").to_number<std::int64_t>(), 0);
  for (const char* name :
       {"all_buyers_answered", "no_transport_errors", "no_server_errors", "expected_statuses",
        "api_product_readable", "orders_equal_confirms", "sold_within_stock", "no_unit_leaked",
        "abandoned_holds_expired", "db_stock_plus_sold_equals_total",
        "redis_available_plus_live_equals_db_stock"}) {
    EXPECT_TRUE(run.Check(name)) << name << "\n" << run.output;
  }
  if (access("/usr/bin/gnuplot", X_OK) == 0) {
    struct stat st {};
    EXPECT_EQ(stat(plot.c_str(), &st), 0) << run.output;
    EXPECT_GT(st.st_size, 1000);
  }
}

// Through the waiting room: a pre-queue (the sale opens 1 s after creation), an admission rate
// and an active cap; every admitted buyer reserves with its token and confirms; exactly the
// stock is sold and everyone else is told "sold out".
TEST(LoadgenEndToEnd, QueueModeSellsExactlyTheStockThroughTheWaitingRoom) {
  const auto& services = SharedServices();
  ServerProcess server(services, {{"SWEEP_INTERVAL_MS", "100"}, {"QUEUE_TICK_MS", "50"}});
  server.Start();
  auto run = RunLoadgen(services, server,
                        {"--queue", "--buyers", "3000", "--stock", "100", "--admit-per-second",
                         "200", "--max-active", "50", "--admission-ttl", "30",
                         "--sale-starts-in", "1", "--connections", "300", "--max-wait", "30"},
                        "queue");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto& r = run.report;
  ASSERT_FALSE(r.empty()) << run.output;
  EXPECT_TRUE(r.at("ok").as_bool()) << run.output;
  const auto& q = r.at("queue").as_object();
  EXPECT_EQ(q.at("joined").to_number<std::uint64_t>(), 3000u) << run.output;
  const auto& outcomes = q.at("outcomes").as_object();
  EXPECT_EQ(outcomes.at("confirmed").to_number<std::uint64_t>(), 100u) << run.output;
  EXPECT_EQ(outcomes.at("soldout").to_number<std::uint64_t>(), 2900u) << run.output;
  EXPECT_FALSE(outcomes.contains("error")) << run.output;
  EXPECT_GT(q.at("joinsPerSecond").to_number<double>(), 0);
  // 100 admissions at 200/s after a 1 s pre-queue: the last admitted buyer waited >= 1 s.
  EXPECT_GE(q.at("waitMs").as_object().at("max").to_number<double>(), 1000.0) << run.output;
  for (const char* name : {"orders_equal_confirms", "sold_within_stock", "no_unit_leaked",
                           "db_stock_plus_sold_equals_total",
                           "redis_available_plus_live_equals_db_stock", "no_server_errors",
                           "expected_statuses"}) {
    EXPECT_TRUE(run.Check(name)) << name << "\n" << run.output;
  }
}

// A line that asks for a proof of work: every buyer solves the join's challenge and still
// gets through; the stock is sold exactly.
TEST(LoadgenEndToEnd, QueueModeSolvesTheJoinProofOfWork) {
  const auto& services = SharedServices();
  ServerProcess server(services, {{"SWEEP_INTERVAL_MS", "100"}, {"QUEUE_TICK_MS", "50"}});
  server.Start();
  auto run = RunLoadgen(services, server,
                        {"--queue", "--pow-difficulty", "12", "--buyers", "300", "--stock", "20",
                         "--admit-per-second", "200", "--max-active", "50", "--admission-ttl",
                         "30", "--connections", "50", "--max-wait", "30"},
                        "queue-pow");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto& r = run.report;
  ASSERT_FALSE(r.empty()) << run.output;
  EXPECT_TRUE(r.at("ok").as_bool()) << run.output;
  const auto& q = r.at("queue").as_object();
  EXPECT_EQ(q.at("joined").to_number<std::uint64_t>(), 300u) << run.output;
  EXPECT_EQ(q.at("powSolved").to_number<std::uint64_t>(), 300u) << run.output;
  const auto& outcomes = q.at("outcomes").as_object();
  EXPECT_EQ(outcomes.at("confirmed").to_number<std::uint64_t>(), 20u) << run.output;
  EXPECT_FALSE(outcomes.contains("error")) << run.output;
  for (const char* name : {"orders_equal_confirms", "sold_within_stock", "no_unit_leaked",
                           "no_server_errors", "expected_statuses"}) {
    EXPECT_TRUE(run.Check(name)) << name << "\n" << run.output;
  }
}

TEST(LoadgenEndToEnd, MultiProcessWithSourceAddressesAndConnectFirst) {
  const auto& services = SharedServices();
  ServerProcess server(services, {{"SWEEP_INTERVAL_MS", "100"}});
  server.Start();
  auto run = RunLoadgen(services, server,
                        {"--buyers", "1500", "--stock", "20", "--hold-seconds", "1",
                         "--connections", "600", "--processes", "3", "--threads", "1",
                         "--source-addresses", "127.0.0.1,127.0.0.2,127.0.0.3",
                         "--connect-first", "--max-wait", "30"},
                        "multi");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_EQ(run.report.at("buyers").to_number<std::uint64_t>(), 1500u);
  EXPECT_EQ(run.report.at("peakOpenConnections").to_number<std::int64_t>(), 600) << run.output;
  EXPECT_TRUE(run.Check("no_unit_leaked"));
}

double P99(const boost::json::object& report, const char* key = "latencyMs") {
  return report.at(key).as_object().at("p99").to_number<double>();
}

// Open loop against a server slowed on purpose: every request waits 50 ms, and 4 connections
// can carry at most ~80 requests/s. Closed loop, the same 4 connections report ~50 ms: each
// waits for its previous answer, so the tool slows down with the server and never sees a
// queue. Open loop at 200/s, arrivals keep coming on schedule, queue for a free connection,
// and their latency from the due time grows to seconds; the service time stays ~50 ms. At
// 20/s (well under capacity) the open-loop p99 stays near the delay: the growth is queueing.
TEST(LoadgenEndToEnd, OpenLoopP99ShowsTheQueueThatClosedLoopHides) {
  const auto& services = SharedServices();
  ServerProcess server(services, {{"TICKETING_FAULT", "delay_all_requests:50"}});
  server.Start();
  const std::vector<std::string> get = {"--mode", "get", "--path", "/health", "--connections",
                                        "4", "--no-verify"};
  auto with = [&get](std::vector<std::string> extra) {
    extra.insert(extra.begin(), get.begin(), get.end());
    return extra;
  };
  auto closed = RunLoadgen(services, server, with({"--duration", "2"}), "closed-slow");
  ASSERT_EQ(closed.exit_code, 0) << closed.output;
  ASSERT_FALSE(closed.report.empty()) << closed.output;
  EXPECT_EQ(closed.report.at("loop").as_string(), "closed");
  EXPECT_FALSE(closed.report.contains("serviceLatencyMs"));
  const double closed_p99 = P99(closed.report);
  EXPECT_GE(closed_p99, 50.0) << closed.output;  // the delay is real

  auto open = RunLoadgen(services, server, with({"--rate", "200", "--duration", "2"}), "open-slow");
  ASSERT_EQ(open.exit_code, 0) << open.output;
  const auto& r = open.report;
  ASSERT_FALSE(r.empty()) << open.output;
  EXPECT_EQ(r.at("loop").as_string(), "open");
  EXPECT_EQ(r.at("rate").to_number<double>(), 200.0);
  EXPECT_EQ(r.at("arrivals").to_number<std::uint64_t>(), 400u);
  EXPECT_EQ(r.at("status").as_object().at("200").to_number<std::uint64_t>(), 400u) << open.output;
  EXPECT_EQ(r.at("transportErrors").to_number<std::uint64_t>(), 0u) << open.output;
  const double open_p99 = P99(r), service_p99 = P99(r, "serviceLatencyMs");
  // 400 arrivals at ~80/s take ~5 s: the last ones are sent ~3 s after they were due.
  EXPECT_GE(open_p99, 1000.0) << open.output;
  EXPECT_GE(open_p99, 5 * closed_p99) << open.output << "\nclosed:\n" << closed.output;
  EXPECT_GE(service_p99, 50.0) << open.output;
  EXPECT_LE(service_p99 * 3, open_p99) << open.output;
  EXPECT_GT(r.at("lateStarts").to_number<std::uint64_t>(), 100u) << open.output;
  EXPECT_GE(P99(r, "startLagMs"), 500.0) << open.output;
  EXPECT_NE(open.output.find("from due time"), std::string::npos) << open.output;

  auto calm = RunLoadgen(services, server, with({"--rate", "20", "--duration", "2"}), "open-calm");
  ASSERT_EQ(calm.exit_code, 0) << calm.output;
  EXPECT_EQ(calm.report.at("arrivals").to_number<std::uint64_t>(), 40u);
  EXPECT_GE(P99(calm.report), 50.0) << calm.output;
  EXPECT_LE(P99(calm.report), 1000.0) << calm.output;
  EXPECT_LE(P99(calm.report) * 2, open_p99) << calm.output;
}

// Open loop with real buyers (reserve, then confirm/cancel/abandon) and the books verified.
TEST(LoadgenEndToEnd, OpenLoopBuyersPassEveryCheck) {
  const auto& services = SharedServices();
  ServerProcess server(services, {{"SWEEP_INTERVAL_MS", "100"}});
  server.Start();
  auto run = RunLoadgen(services, server,
                        {"--rate", "300", "--duration", "2", "--stock", "40", "--hold-seconds",
                         "1", "--connections", "100", "--max-wait", "30"},
                        "open-buyers");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto& r = run.report;
  ASSERT_FALSE(r.empty()) << run.output;
  EXPECT_EQ(r.at("loop").as_string(), "open");
  EXPECT_EQ(r.at("buyers").to_number<std::uint64_t>(), 600u);
  EXPECT_EQ(r.at("arrivals").to_number<std::uint64_t>(), 600u);
  EXPECT_EQ(r.at("buyersAnswered").to_number<std::uint64_t>(), 600u);
  EXPECT_GT(r.at("errors").as_object().at("SOLD_OUT").to_number<std::uint64_t>(), 0u);
  for (const char* k : {"p50", "p99", "max"}) {
    EXPECT_TRUE(r.at("serviceLatencyMs").as_object().contains(k)) << k;
    EXPECT_TRUE(r.at("startLagMs").as_object().contains(k)) << k;
  }
  for (const char* name : {"all_buyers_answered", "no_server_errors", "expected_statuses",
                           "orders_equal_confirms", "no_unit_leaked",
                           "redis_available_plus_live_equals_db_stock"}) {
    EXPECT_TRUE(run.Check(name)) << name << "\n" << run.output;
  }
}

}  // namespace
}  // namespace ticketing::testing
