#pragma once
// JSON responses and the one error shape: {"error":{"code":"...","message":"..."}}.
#include "http/server.hpp"

#include <boost/json/value.hpp>

#include <string_view>

namespace ticketing::http {

Response Json(unsigned status, const boost::json::value& body);
Response Error(unsigned status, std::string_view code, std::string_view message);

}  // namespace ticketing::http
