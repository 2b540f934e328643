#pragma once
// JSON responses and the one error shape: {"error":{"code":"...","message":"..."}}.
#include "common/trace.hpp"
#include "http/server.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace ticketing::http {

// Every answer's Server field.
inline constexpr std::string_view kServerName = "ticketing";

Response Json(unsigned status, const boost::json::value& body);
Response Error(unsigned status, std::string_view code, std::string_view message);

// The bytes Beast's serializer writes before a response's body (status line, fields in order,
// blank line), into `out` (cleared first): the event stream writes them as its opening.
void WriteHead(const Response& res, std::string& out);
// The same without the blank line, so that more fields can follow (the server's own, which it
// writes into every answer's head instead of setting them as fields: no allocation each).
void BeginHead(const Response& res, std::string& out);
// "Content-Length: <body size>\r\n", unless the status has no body (1xx, 204, 304: as Beast's
// prepare_payload) or the response already has a Content-Length or Transfer-Encoding.
void AppendContentLength(const Response& res, std::string& out);
// The whole head the server writes before `res`'s body, into `out` (cleared first): BeginHead,
// then Server, the trace fields of `trace` and Content-Length, then the blank line.
void WriteServerHead(const Response& res, const trace::Context& trace, std::string& out);

}  // namespace ticketing::http
