#pragma once
// The OpenAPI 3.1 document of the API, generated from the route table (Routes() in api.hpp:
// paths, methods, access, summaries, body and response schema names, query parameters) and
// the schemas in openapi.cpp; and a small page that renders it (no CDN, no external script).
#include <string>
#include <string_view>

namespace ticketing::http {

// The document as JSON text (built once). Throws std::logic_error if a route names a schema
// that openapi.cpp does not define (openapi_test catches that).
const std::string& OpenApiJson();

// GET /docs: plain HTML and JavaScript that fetch /openapi.json and list every operation.
std::string_view DocsHtml();

}  // namespace ticketing::http
