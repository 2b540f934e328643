#pragma once
// The HTTP API: routes, authentication, input validation, and the one mapping from domain
// outcomes to statuses and error codes. A pure function of the request and the injected
// services, so it is unit-tested without sockets.
#include "auth/jwt.hpp"
#include "http/server.hpp"
#include "purchase/service.hpp"
#include "queue/service.hpp"

#include <array>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace ticketing::http {

// Who may call a route.
enum class Access { kPublic, kBuyer, kAdmin };

// A route as the OpenAPI document and the tests see it (the table itself is in api.cpp).
struct RouteInfo {
  bhttp::verb method;
  std::string_view path;  // "/admin/products/{id}": {id} a positive integer, {rid} a string
  Access access;
  bool needs_queue;  // answered only when the server runs the waiting room
  std::string_view summary;
  // For the OpenAPI document (openapi.cpp has the schemas):
  std::string_view request;   // schema of the JSON body ("" none)
  unsigned status;            // the success status
  std::string_view response;  // schema of the success body ("text", "html": not JSON)
  std::string_view query;     // query parameters, comma-separated ("cursor,limit")
};

// Every route, in the order they are matched.
std::vector<RouteInfo> Routes();

class Api {
 public:
  // `queue` may be null: then the waiting-room routes answer 404 and admission tokens are
  // refused.
  Api(purchase::Service& purchase, const auth::JwtCodec& jwt,
      std::function<std::int64_t()> now_seconds, queue::Service* queue = nullptr);

  // Never throws: infrastructure failures become 503, bugs 500 (logged). Call it from one
  // thread at a time (one Api per I/O thread): it remembers the tokens it verified.
  net::awaitable<Response> Handle(Request& req);

  // A matched route's path parameters ({id}, in order) and the caller (routes with access).
  struct Match {
    std::array<std::string_view, 2> params{};
    auth::Identity who;
  };
  // The route handlers (api.cpp, where the route table names them), each a function of (api,
  // request, match): the routes that must be fast (reserve, health) are plain functions, the
  // others coroutines.
  struct Handlers;

 private:
  // Not a coroutine: picks the route from the table and does its synchronous checks (method,
  // token), so that a request allocates only its own route's small coroutine frame. Throws
  // ClientError (-> 4xx).
  net::awaitable<Response> Select(Request& req, int& route);
  // The hot route's coroutine: the reserve itself, after validation.
  net::awaitable<Response> Reserve(std::string user, std::int64_t product_id, int quantity,
                                   std::string ticket, std::string idempotency_key);
  // The bearer token's identity; throws ClientError 401 (or 403 when `admin` is needed).
  const auth::Identity& Identify(const Request& req, bool admin);

  purchase::Service& purchase_;
  queue::Service* queue_;
  const auth::JwtCodec& jwt_;
  auth::TokenCache tokens_;
  std::function<std::int64_t()> now_seconds_;
};

}  // namespace ticketing::http
