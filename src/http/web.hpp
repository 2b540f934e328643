#pragma once
// What the browser pages need from the API besides the routes: CORS for a buyer page on the
// seller's own site, the demo sign-in switch, and the pace at which a waiting page polls.
#include "http/server.hpp"
#include "queue/service.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ticketing::http {

class EventHub;

struct WebOptions {
  bool demo_login = false;                // POST /demo/login answers (else 404)
  std::vector<std::string> cors_origins;  // "*" or exact origins; empty: no CORS
  std::string frame_ancestors = "'none'";
  int poll_timeout_seconds = 30;  // QUEUE_POLL_TIMEOUT_SECONDS: a waiter silent longer drops
  EventHub* events = nullptr;     // /admin/events (null: the route answers an empty stream)
};

// Whether `origin` may call the API from a browser (never for /admin routes: the dashboard is
// served by this server itself).
bool CorsAllows(const WebOptions& web, std::string_view origin, std::string_view path);

// Adds Access-Control-Allow-Origin (and Vary, the headers a page may read) when the request's
// Origin is allowed for its path.
void AddCorsHeaders(const WebOptions& web, const Request& req, Response& res);

// The answer to an OPTIONS request (a CORS preflight): 204 with the allowed methods and
// headers, or 403 CORS_ORIGIN_NOT_ALLOWED. `allow`: the methods of the routes at this path.
Response Preflight(const WebOptions& web, const Request& req, std::string_view allow);

// How long a waiting page should wait before its next status poll: about a second near the
// front of the line, longer further back (at most 5 s, and well within the poll timeout so it
// never loses its place), ±20 % by `random` so a crowd does not poll in step.
std::int64_t PollAfterMs(const queue::Place& place, int poll_timeout_seconds,
                         std::uint32_t random);

// A demo nickname: 1-32 characters, no control characters, no quotes or backslashes.
bool ValidNickname(std::string_view nickname);

}  // namespace ticketing::http
