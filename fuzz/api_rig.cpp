#include "fuzz/api_rig.hpp"

#include "common/iso_time.hpp"
#include "http/response.hpp"
#include "http/trace.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <sstream>

namespace ticketing::fuzz {
namespace {

namespace json = boost::json;
namespace bhttp = http::bhttp;
namespace net = http::net;
using purchase::Outcome;

const std::string kTicket = "7-" + std::string(32, 'c');

[[noreturn]] void Fail(const char* what, const http::Request& req, const http::Response& res) {
  std::ostringstream out;
  out << "fuzz invariant broken: " << what << "\n--- request\n"
      << req << "\n--- response\n"
      << res << "\n";
  std::fputs(out.str().c_str(), stderr);
  std::abort();
}

// The non-empty path segments' first one and count, as Api's router splits the target.
std::pair<std::string_view, std::size_t> FirstSegment(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  std::string_view first;
  std::size_t n = 0;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    auto slash = path.find('/');
    if (n++ == 0) first = path.substr(0, slash);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return {first, n};
}

// Every "...At" string in `v` (at any depth) is a time ParseIsoUtcMs reads, as clients (and the
// load generator) read it.
bool TimesReadBack(const json::value& v) {
  if (const auto* a = v.if_array()) {
    for (const auto& e : *a) {
      if (!TimesReadBack(e)) return false;
    }
  }
  if (const auto* o = v.if_object()) {
    for (const auto& [key, e] : *o) {
      if (key.ends_with("At") && e.is_string() && !ParseIsoUtcMs(e.as_string())) return false;
      if (!TimesReadBack(e)) return false;
    }
  }
  return true;
}

}  // namespace

ApiRig::ApiRig()
    : jwt_(kSecret),
      admission_(kSecret),
      queue_(admission_, kNow * 1000),
      api_(
          purchase_, jwt_, [] { return kNow; }, &queue_),
      buyer_(jwt_.Sign({"alice", false}, kNow + 3600)),
      admin_(jwt_.Sign({"ops", true}, kNow + 3600)),
      admitted_(admission_.Sign(7, "alice", kTicket, kNow * 1000 + 60'000)) {
  spdlog::set_level(spdlog::level::off);  // the Api logs every 503; the fuzzer needs no lines
}

void ApiRig::Configure(std::uint8_t mode) {
  const int pick = mode % 16;
  for (auto* fake : {&purchase_.throw_unavailable, &queue_.throw_unavailable}) *fake = pick == 15;
  const auto outcome = pick == 15 ? Outcome::kOk : static_cast<Outcome>(pick);
  purchase_.next = outcome;
  queue_.next = outcome;
  purchase_.ready =
      mode / 16 % 2 ? purchase::Readiness{true, false} : purchase::Readiness{true, true};
  purchase_.declared_unavailable = false;
  queue_.declared_unavailable = false;
  purchase_.last_user.clear();
  queue_.last_user.clear();
}

void ApiRig::Authorize(http::Request& req, Auth auth) const {
  switch (auth) {
    case Auth::kNone:
      return;
    case Auth::kBuyer:
      req.set(bhttp::field::authorization, "Bearer " + buyer_);
      return;
    case Auth::kAdmin:
      req.set(bhttp::field::authorization, "Bearer " + admin_);
      return;
    case Auth::kBuyerAdmitted:
      req.set(bhttp::field::authorization, "Bearer " + buyer_);
      req.set("X-Admission-Token", admitted_);
      return;
  }
}

http::Response ApiRig::Handle(http::Request& req) {
  static net::io_context ctx;
  std::optional<http::Response> out;
  std::exception_ptr thrown;
  ctx.restart();
  net::co_spawn(ctx, api_.Handle(req), [&](std::exception_ptr e, http::Response r) {
    thrown = e;
    out = std::move(r);
  });
  ctx.run();
  if (thrown || !out) {
    std::fputs("fuzz invariant broken: Api::Handle threw or did not finish\n", stderr);
    std::abort();
  }
  return std::move(*out);
}

void ApiRig::Check(const http::Request& req, http::Response& res) {
  const unsigned status = res.result_int();
  if (bhttp::int_to_status(status) == bhttp::status::unknown || status < 200) {
    Fail("status is not a known final status code", req, res);
  }
  if (status >= 500) {
    if (status != 503) Fail("5xx other than 503", req, res);
    if (!purchase_.declared_unavailable && !queue_.declared_unavailable) {
      Fail("503 though no service declared itself unavailable", req, res);
    }
  }

  const bool is_json = res[bhttp::field::content_type] == "application/json";
  if (status >= 400 && !is_json) Fail("error response is not application/json", req, res);
  if (is_json) {
    boost::system::error_code ec;
    json::value body = json::parse(res.body(), ec);
    if (ec) Fail("JSON response body does not parse", req, res);
    if (status >= 400) {
      const json::object* o = body.if_object();
      const json::value* err = o ? o->if_contains("error") : nullptr;
      const json::object* e = err ? err->if_object() : nullptr;
      const json::value* code = e ? e->if_contains("code") : nullptr;
      const json::value* message = e ? e->if_contains("message") : nullptr;
      if (!code || !code->is_string() || code->as_string().empty() || !message ||
          !message->is_string()) {
        Fail("error body lacks error.code / error.message strings", req, res);
      }
    }
    if (!TimesReadBack(body)) Fail("a time (a \"...At\" string) does not read back", req, res);
  }

  // Authorization: a 2xx from an admin route needs the admin token, from a buyer's route one
  // of the two valid tokens (no other exists); whatever user reached the fakes is one they name.
  if (status < 300) {
    auto [first, n] = FirstSegment(req.target());
    const auto presented = req[bhttp::field::authorization];
    const bool admin = presented == "Bearer " + admin_;
    const bool buyer = admin || presented == "Bearer " + buyer_;
    // GET /admin itself is the dashboard's page: static HTML, public like /sale/{id}; it asks
    // for the token in the browser and shows nothing without it.
    const bool dashboard_page =
        n == 1 && res[bhttp::field::content_type].starts_with("text/html");
    if (first == "admin" && !admin && !dashboard_page) {
      Fail("admin route answered 2xx to a non-admin", req, res);
    }
    if ((first == "purchase" || (first == "queue" && n == 3)) && !buyer) {
      Fail("buyer route answered 2xx without a valid token", req, res);
    }
  }
  for (const std::string* user : {&purchase_.last_user, &queue_.last_user}) {
    if (!user->empty() && *user != "alice" && *user != "ops") {
      Fail("a service was called for a user no valid token names", req, res);
    }
  }

  // The bytes on the wire, as the server writes them (WriteServerHead, then the body): they
  // must read back as the same response, with a Content-Length that is the body's size and
  // the server's own fields once each.
  res.keep_alive(req.keep_alive());
  trace::Context trace;
  http::BeginTrace(req, trace);
  std::string bytes;
  http::WriteServerHead(res, trace, bytes);
  const std::size_t head_size = bytes.size();
  bytes += res.body();
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(boost::none);
  parser.header_limit(1u << 20);
  parser.eager(true);  // header and body in one put
  boost::system::error_code ec;
  parser.put(net::buffer(bytes), ec);
  if (ec || !parser.is_done()) Fail("serialized response does not parse back", req, res);
  const auto& back = parser.get();
  if (back.result_int() != status || back.body() != res.body()) {
    Fail("serialized response reads back different", req, res);
  }
  if (back[bhttp::field::content_length] != std::to_string(res.body().size())) {
    Fail("Content-Length is not the body's size", req, res);
  }
  if (back.count(bhttp::field::server) != 1 || back[bhttp::field::server] != "ticketing") {
    Fail("not one Server: ticketing on the wire", req, res);
  }
  if (back.count("traceparent") != 1 || back.count(bhttp::field::content_length) != 1) {
    Fail("traceparent or Content-Length not there once", req, res);
  }
  if (bytes.compare(head_size - 4, 4, "\r\n\r\n") != 0) Fail("head does not end", req, res);
}

bool ReadRequest(std::string_view& bytes, http::Request& out) {
  const http::ServerOptions options;  // the limits the server uses by default
  bhttp::request_parser<bhttp::string_body> parser;
  parser.body_limit(options.max_body_bytes);
  parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
  boost::system::error_code ec;
  while (!parser.is_done()) {
    if (bytes.empty()) return false;  // end of stream mid-request: the server closes
    const std::size_t n = parser.put(net::buffer(bytes.data(), bytes.size()), ec);
    bytes.remove_prefix(n);
    if (ec == bhttp::error::need_more) {
      if (n == 0) return false;  // the rest is not a whole header or chunk: same
      continue;
    }
    if (ec) return false;  // 400/413/431 from the server itself, Api is not called
  }
  out = parser.release();
  return true;
}

}  // namespace ticketing::fuzz
