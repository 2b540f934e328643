#pragma once
// The HTTP side of the abuse defences (src/abuse): the 429 answer, and which listener serves
// which routes when ADMIN_LISTEN puts the admin routes on a listener of their own.
#include <cstdint>
#include <string_view>

#include "http/server.hpp"

namespace ticketing::http {

// 429 RATE_LIMITED with Retry-After in whole seconds, rounded up (at least 1).
Response RateLimited(std::int64_t retry_after_ms);

enum class Listener {
  kAll,     // no ADMIN_LISTEN: every route
  kPublic,  // with ADMIN_LISTEN: every route but /admin/...
  kAdmin,   // the ADMIN_LISTEN listener: /admin/..., /health, /ready, /metrics
};
// Whether `listener` serves the request target.
bool Serves(Listener listener, std::string_view target);
// The 404 of a route this listener does not serve (the same answer as an unknown route).
Response NotServed(std::string_view path);

}  // namespace ticketing::http
