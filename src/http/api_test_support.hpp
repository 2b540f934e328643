#pragma once
// Runs one request through Api::Handle on a private io_context, for API unit tests (no socket).
#include "http/api.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>

#include <string>
#include <utility>
#include <vector>

namespace ticketing::http {

inline Response CallApi(Api& api, bhttp::verb method, std::string target, std::string body = "",
                        const std::string& token = "",
                        const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  Request req{method, target, 11};
  if (!token.empty()) req.set(bhttp::field::authorization, "Bearer " + token);
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::move(body);
  net::io_context ctx;
  auto fut = net::co_spawn(ctx, api.Handle(req), net::use_future);
  ctx.run();
  return fut.get();
}

inline boost::json::value ResponseJson(const Response& r) { return boost::json::parse(r.body()); }

// error.code of an error response.
inline std::string ErrorCode(const Response& r) {
  return std::string(ResponseJson(r).at("error").at("code").as_string());
}

}  // namespace ticketing::http
