#pragma once
// The HTTP API: routes, authentication, input validation, and the one mapping from domain
// outcomes to statuses and error codes. A pure function of the request and the injected
// services, so it is unit-tested without sockets.
#include "auth/jwt.hpp"
#include "http/server.hpp"
#include "purchase/service.hpp"
#include "queue/service.hpp"

#include <cstdint>
#include <functional>

namespace ticketing::http {

class Api {
 public:
  // `queue` may be null: then the waiting-room routes answer 404 and admission tokens are
  // refused.
  Api(purchase::Service& purchase, const auth::JwtCodec& jwt,
      std::function<std::int64_t()> now_seconds, queue::Service* queue = nullptr);

  // Never throws: infrastructure failures become 503, bugs 500 (logged). Call it from one
  // thread at a time (one Api per I/O thread): it remembers the tokens it verified.
  net::awaitable<Response> Handle(Request& req);

 private:
  // Not a coroutine: picks the route and does its synchronous checks, so that a request
  // allocates only its own route's small coroutine frame. Throws ClientError (-> 4xx).
  net::awaitable<Response> Select(Request& req, int& route);
  // The hot route's coroutine: the reserve itself, after validation.
  net::awaitable<Response> Reserve(std::string user, std::int64_t product_id, int quantity,
                                   std::string ticket, std::string idempotency_key);
  // The other routes.
  net::awaitable<Response> Dispatch(Request& req, int& route);
  // The bearer token's identity; throws ClientError 401 (or 403 when `admin` is needed).
  const auth::Identity& Identify(const Request& req, bool admin);

  purchase::Service& purchase_;
  queue::Service* queue_;
  const auth::JwtCodec& jwt_;
  auth::TokenCache tokens_;
  std::function<std::int64_t()> now_seconds_;
};

}  // namespace ticketing::http
