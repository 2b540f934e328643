#pragma once
// The HTTP API: routes, authentication, input validation, and the one mapping from domain
// outcomes to statuses and error codes. A pure function of the request and the injected
// services, so it is unit-tested without sockets.
#include "abuse/guard.hpp"
#include "auth/jwt.hpp"
#include "http/server.hpp"
#include "http/web.hpp"
#include "purchase/service.hpp"
#include "queue/service.hpp"

#include <boost/json/object.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
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
  // refused. `guard` may be null: then no rate limits and no proof of work (src/abuse).
  Api(purchase::Service& purchase, const auth::JwtCodec& jwt,
      std::function<std::int64_t()> now_seconds, queue::Service* queue = nullptr,
      abuse::Guard* guard = nullptr);

  // The pages' settings (demo sign-in, CORS, the dashboard's events); defaults: all off.
  void Configure(WebOptions web) { web_ = std::move(web); }

  // The answer to `req`: at once when no I/O was needed (a sold-out reserve, /health, a 4xx),
  // else the coroutine that answers. Neither throws: infrastructure failures become 503, bugs
  // 500 (logged). Call it from one thread at a time (one Api per I/O thread): it remembers the
  // tokens it verified. `peer`: the TCP peer (the client, or a proxy whose X-Forwarded-For may
  // be trusted). The server's handler; `req` must live until the answer is there.
  Reply Serve(Request& req, net::ip::address peer = {});
  // The same answer, always as a coroutine (tests).
  net::awaitable<Response> Handle(Request& req, net::ip::address peer = {});

  // A matched route's path parameters ({id}, in order) and the caller (routes with access).
  struct Match {
    std::array<std::string_view, 2> params{};
    auth::Identity who;
    std::string_view token;  // the bearer token (unverified) of a route that is not public
    net::ip::address peer;
  };
  // The route handlers (api.cpp, where the route table names them), each a function of (api,
  // request, match): the routes that must be fast (reserve, health) are plain functions, the
  // others coroutines.
  struct Handlers;

 private:
  // Not a coroutine: picks the route from the table, does its synchronous checks (method,
  // token) and calls its handler, so that a request allocates at most its own route's small
  // coroutine frame, and none when the answer needs no I/O. Throws ClientError (-> 4xx).
  Reply Select(Request& req, int& route, const net::ip::address& peer);
  // The hot route's coroutine: the reserve itself, after validation.
  net::awaitable<Response> Reserve(std::string user, std::int64_t product_id, int quantity,
                                   std::string ticket, std::string idempotency_key,
                                   purchase::RateChecks limits);

  // Abuse defences (api_abuse.cpp). The rate limits on `action` for this caller and product
  // (none for admins or without a guard).
  purchase::RateChecks Limits(abuse::Action action, const auth::Identity& who,
                              std::int64_t product_id, const Request& req,
                              const net::ip::address& peer) const;
  // POST /queue/{id}/join after authentication: rate limit, proof of work, the join. Sets
  // `refused` (429, or 428 with a fresh challenge) instead when the defences say no.
  net::awaitable<purchase::Result<queue::Place>> Join(auth::Identity who, std::int64_t product_id,
                                                      const Request& req,
                                                      const net::ip::address& peer,
                                                      std::optional<Response>& refused);
  // A place in line as the join and status routes answer it, with the pace of the next poll.
  boost::json::object Paced(const queue::Place& place);
  // The identity of a bearer token; throws ClientError 401 (or 403 when `admin` is needed).
  const auth::Identity& Identify(std::string_view token, bool admin);
  // The request's bearer token, unverified; throws ClientError 401 when there is none.
  static std::string_view BearerToken(const Request& req);

  purchase::Service& purchase_;
  queue::Service* queue_;
  abuse::Guard* guard_;
  const auth::JwtCodec& jwt_;
  auth::TokenCache tokens_;
  std::function<std::int64_t()> now_seconds_;
  WebOptions web_;
  std::minstd_rand poll_jitter_{std::random_device{}()};
};

}  // namespace ticketing::http
