// Micro-benchmarks of the server's in-process hot path for one reserve: HTTP parse, JWT verify,
// JSON response build and serialization, and the whole Api::Handle with an in-memory purchase
// service (no Redis), so the figures show what one request costs before any I/O.
#include "abuse/guard.hpp"
#include "auth/jwt.hpp"
#include "config/config.hpp"
#include "http/api.hpp"
#include "http/response.hpp"
#include "purchase/service.hpp"

#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <chrono>

namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
namespace json = boost::json;
using namespace ticketing;

const std::string kSecret = "bench-secret-bench-secret-bench-secret-0";

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const std::string& Token() {
  static const std::string t = auth::JwtCodec(kSecret).Sign({"buyer-123456", false}, Now() + 3600);
  return t;
}

std::string RawReserve() {
  const std::string body = R"({"productId":42,"quantity":1})";
  return "POST /purchase/reserve HTTP/1.1\r\nHost: 127.0.0.1:3000\r\nAuthorization: Bearer " +
         Token() + "\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

http::Request Parse(const std::string& raw) {
  bhttp::request_parser<bhttp::string_body> p;
  p.eager(true);
  boost::beast::error_code ec;
  p.put(net::buffer(raw), ec);
  if (ec || !p.is_done()) throw std::runtime_error("parse failed");
  return p.release();
}

void BM_HttpParse(benchmark::State& state) {
  const std::string raw = RawReserve();
  for (auto _ : state) benchmark::DoNotOptimize(Parse(raw));
}
BENCHMARK(BM_HttpParse);

void BM_JwtVerify(benchmark::State& state) {
  auth::JwtCodec jwt(kSecret);
  const auto now = Now();
  for (auto _ : state) benchmark::DoNotOptimize(jwt.Verify(Token(), now));
}
BENCHMARK(BM_JwtVerify);
BENCHMARK(BM_JwtVerify)->Name("Fixed/JwtVerify")->Iterations(10000);

void BM_JwtSign(benchmark::State& state) {
  auth::JwtCodec jwt(kSecret);
  const auto exp = Now() + 3600;
  for (auto _ : state) benchmark::DoNotOptimize(jwt.Sign({"buyer-123456", false}, exp));
}
BENCHMARK(BM_JwtSign);

void BM_RequestBodyParse(benchmark::State& state) {
  const std::string body = R"({"productId":42,"quantity":1})";
  for (auto _ : state) benchmark::DoNotOptimize(json::parse(body));
}
BENCHMARK(BM_RequestBodyParse);

std::string Wire(const http::Response& res) {
  std::ostringstream out;
  out << res;
  return out.str();
}

void BM_JsonResponseBuild(benchmark::State& state) {
  for (auto _ : state) {
    auto res = http::Json(201, {{"reservationId", "42-0123456789abcdef0123456789abcdef"},
                                {"productId", 42},
                                {"quantity", 1},
                                {"expiresAt", "2026-11-24T10:00:00.000Z"},
                                {"expiresIn", 300}});
    res.set(bhttp::field::server, "ticketing");
    res.prepare_payload();
    benchmark::DoNotOptimize(Wire(res));
  }
}
BENCHMARK(BM_JsonResponseBuild);

void BM_ErrorResponseBuild(benchmark::State& state) {
  for (auto _ : state) {
    auto res = http::Error(409, "SOLD_OUT", "no units left");
    res.prepare_payload();
    benchmark::DoNotOptimize(Wire(res));
  }
}
BENCHMARK(BM_ErrorResponseBuild);

// A purchase service that answers at once from memory.
class InstantService : public purchase::Service {
 public:
  bool sold_out = false;
  net::awaitable<purchase::Result<purchase::Reservation>> Reserve(std::string user,
                                                                  std::int64_t product_id,
                                                                  int quantity) override {
    purchase::Result<purchase::Reservation> r;
    if (sold_out) {
      r.outcome = purchase::Outcome::kSoldOut;
      co_return r;
    }
    r.value.id = "42-0123456789abcdef0123456789abcdef";
    r.value.product_id = product_id;
    r.value.quantity = quantity;
    r.value.state = "held";
    r.value.now_ms = 1'790'000'000'000;
    r.value.expires_at_ms = r.value.now_ms + 300'000;
    (void)user;
    co_return r;
  }
  net::awaitable<purchase::ConfirmResult> Confirm(std::string, std::string) override {
    co_return purchase::ConfirmResult{};
  }
  net::awaitable<purchase::Outcome> Cancel(std::string, std::string) override {
    co_return purchase::Outcome::kOk;
  }
  net::awaitable<purchase::Result<purchase::Reservation>> GetReservation(std::string,
                                                                         std::string) override {
    co_return purchase::Result<purchase::Reservation>{};
  }
  net::awaitable<purchase::Result<purchase::Product>> CreateProduct(
      purchase::NewProduct) override {
    co_return purchase::Result<purchase::Product>{};
  }
  net::awaitable<purchase::Result<purchase::Product>> GetProduct(std::int64_t) override {
    co_return purchase::Result<purchase::Product>{};
  }
  net::awaitable<purchase::Result<purchase::StockSync>> SyncStock(std::int64_t) override {
    co_return purchase::Result<purchase::StockSync>{};
  }
  net::awaitable<purchase::Readiness> CheckReady() override { co_return purchase::Readiness{}; }
};

std::string RawHealth() { return "GET /health HTTP/1.1\r\nHost: 127.0.0.1:3000\r\n\r\n"; }

// Parse + route + JWT verify + body parse + (instant) domain call + JSON response + wire bytes.
// Every iteration presents the same token, as one buyer's keep-alive connection does.
// `limited`: with the default per-buyer rate limits (the checks are built and handed to the
// service, which here ignores them: their Redis side is bench/reserve_script_bench).
void RunApi(benchmark::State& state, bool sold_out, const std::string& raw = RawReserve(),
            bool limited = false) {
  InstantService service;
  service.sold_out = sold_out;
  auth::JwtCodec jwt(kSecret);
  net::io_context ioc;
  config::Config defaults;
  const auto options = abuse::Options::From(defaults);
  abuse::PowCodec pow(kSecret);
  abuse::Guard guard(options, pow);
  http::Api api(service, jwt, [] { return Now(); }, nullptr, limited ? &guard : nullptr);
  for (auto _ : state) {
    net::co_spawn(
        ioc,
        [&]() -> net::awaitable<void> {
          auto req = Parse(raw);
          auto res = co_await api.Handle(req);
          res.prepare_payload();
          benchmark::DoNotOptimize(Wire(res));
        },
        net::detached);
    ioc.run();
    ioc.restart();
  }
}
void BM_ApiReserveHold(benchmark::State& state) { RunApi(state, false); }
void BM_ApiReserveHoldLimited(benchmark::State& state) {
  RunApi(state, false, RawReserve(), true);
}
void BM_ApiReserveSoldOut(benchmark::State& state) { RunApi(state, true); }
void BM_ApiHealth(benchmark::State& state) { RunApi(state, false, RawHealth()); }
BENCHMARK(BM_ApiReserveHold);
BENCHMARK(BM_ApiReserveHoldLimited);
BENCHMARK(BM_ApiReserveSoldOut);
BENCHMARK(BM_ApiHealth);
// Fixed iteration counts, for instruction counts under callgrind (run with
// --benchmark_filter=Fixed; instructions per request = Ir of RunApi / 10000).
BENCHMARK(BM_ApiReserveHold)->Name("Fixed/ApiReserveHold")->Iterations(10000);
BENCHMARK(BM_ApiReserveHoldLimited)->Name("Fixed/ApiReserveHoldLimited")->Iterations(10000);
BENCHMARK(BM_ApiReserveSoldOut)->Name("Fixed/ApiReserveSoldOut")->Iterations(10000);
BENCHMARK(BM_ApiHealth)->Name("Fixed/ApiHealth")->Iterations(10000);

}  // namespace

BENCHMARK_MAIN();
