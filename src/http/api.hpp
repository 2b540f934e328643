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

  // Never throws: infrastructure failures become 503, bugs 500 (logged).
  net::awaitable<Response> Handle(Request& req);

 private:
  net::awaitable<Response> Dispatch(Request& req, int& route);

  purchase::Service& purchase_;
  queue::Service* queue_;
  const auth::JwtCodec& jwt_;
  std::function<std::int64_t()> now_seconds_;
};

}  // namespace ticketing::http
