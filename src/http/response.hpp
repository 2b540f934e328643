#pragma once
// JSON responses and the one error shape: {"error":{"code":"...","message":"..."}}.
#include "http/server.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace ticketing::http {

Response Json(unsigned status, const boost::json::value& body);
Response Error(unsigned status, std::string_view code, std::string_view message);

// The bytes Beast's serializer writes before a response's body (status line, fields in order,
// blank line), into `out` (cleared first): the server writes them and the body in one gathered
// write, and the event stream writes them as its opening.
void WriteHead(const Response& res, std::string& out);

}  // namespace ticketing::http
