#include "http/web.hpp"

#include "http/fields.hpp"
#include "http/response.hpp"

#include <algorithm>

namespace ticketing::http {

bool CorsAllows(const WebOptions& web, std::string_view origin, std::string_view path) {
  if (origin.empty() || web.cors_origins.empty()) return false;
  const auto first = path.find_first_not_of('/');
  if (first != std::string_view::npos && path.substr(first).starts_with("admin")) return false;
  return std::any_of(web.cors_origins.begin(), web.cors_origins.end(),
                     [&](const std::string& o) { return o == "*" || o == origin; });
}

void AddCorsHeaders(const WebOptions& web, const Request& req, Response& res) {
  if (web.cors_origins.empty()) return;
  const std::string_view target = req.target();
  const auto origin = FieldOf(req, bhttp::field::origin);
  res.set(bhttp::field::vary, "Origin");
  if (!CorsAllows(web, origin, target.substr(0, target.find('?')))) return;
  res.set(bhttp::field::access_control_allow_origin, origin);
  res.set(bhttp::field::access_control_expose_headers, "Retry-After, ETag");
}

Response Preflight(const WebOptions& web, const Request& req, std::string_view allow) {
  const std::string_view target = req.target();
  const auto origin = FieldOf(req, bhttp::field::origin);
  if (!CorsAllows(web, origin, target.substr(0, target.find('?')))) {
    auto res = Error(403, "CORS_ORIGIN_NOT_ALLOWED",
                     "this origin may not call the API from a browser (CORS_ORIGINS)");
    res.set(bhttp::field::allow, std::string(allow) + ", OPTIONS");
    return res;
  }
  Response res{bhttp::status::no_content, 11};
  res.set(bhttp::field::access_control_allow_origin, origin);
  res.set(bhttp::field::access_control_allow_methods, std::string(allow) + ", OPTIONS");
  res.set(bhttp::field::access_control_allow_headers,
          "Authorization, Content-Type, Idempotency-Key, X-Admission-Token, X-Pow-Challenge, "
          "X-Pow-Nonce");
  res.set(bhttp::field::access_control_max_age, "600");
  res.set(bhttp::field::vary, "Origin");
  return res;
}

std::int64_t PollAfterMs(const queue::Place& place, int poll_timeout_seconds,
                         std::uint32_t random) {
  std::int64_t base = 1000;
  if (place.state == "admitted" || place.state == "expired") {
    base = 1000;  // nothing to wait for: the page acts (reserves or re-joins) now
  } else if (place.state == "soldout") {
    base = 3000;  // keep waiting for returned units, gently
  } else if (place.pre_queue) {
    base = 5000;  // the order is drawn at the start; the page counts down itself
  } else {
    base = std::clamp<std::int64_t>(1000 + place.eta_seconds * 100, 1000, 5000);
  }
  // Never so slow that the server takes the waiter for gone (three polls per timeout at least).
  base = std::min<std::int64_t>(base, std::max<std::int64_t>(200, poll_timeout_seconds * 1000 / 3));
  const std::int64_t spread = base / 5;  // ±20 %
  return base - spread + static_cast<std::int64_t>(random % static_cast<std::uint32_t>(2 * spread + 1));
}

bool ValidNickname(std::string_view nickname) {
  if (nickname.empty() || nickname.size() > 96) return false;  // 32 Hangul are 96 bytes
  std::size_t chars = 0;
  for (unsigned char c : nickname) {
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') return false;
    if ((c & 0xC0) != 0x80) ++chars;
  }
  return chars <= 32;
}

}  // namespace ticketing::http
