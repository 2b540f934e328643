#include "http/openapi.hpp"

#include "http/api.hpp"

#include <boost/json.hpp>

#include <stdexcept>

namespace ticketing::http {
namespace {

namespace json = boost::json;

// JSON Schema 2020-12, as OpenAPI 3.1 takes it. Keep in step with the handlers in api.cpp
// (openapi_test checks real answers of every route against these).
constexpr std::string_view kSchemas = R"json({
  "Error": {"type": "object", "required": ["error"], "properties": {
    "error": {"type": "object", "required": ["code", "message"], "properties": {
      "code": {"type": "string"}, "message": {"type": "string"}}}}},
  "Health": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}},
  "Readiness": {"type": "object", "required": ["redis", "database"], "properties": {
    "redis": {"enum": ["ok", "unavailable"]}, "database": {"enum": ["ok", "unavailable"]},
    "error": {"type": "object"}}},
  "OpenApi": {"type": "object", "required": ["openapi", "paths"]},
  "Time": {"type": "string", "description": "ISO-8601 UTC, e.g. 2026-11-24T18:00:00.000Z"},
  "Money": {"type": "number", "minimum": 0, "description": "currency units, two decimals at most"},
  "QueueSettings": {"type": "object", "additionalProperties": false, "properties": {
    "enabled": {"type": "boolean"},
    "admitPerSecond": {"type": "integer", "minimum": 1, "maximum": 100000},
    "maxActive": {"type": "integer", "minimum": 1, "maximum": 10000000},
    "admissionTtlSeconds": {"type": "integer", "minimum": 1, "maximum": 3600},
    "powDifficulty": {"type": "integer", "minimum": 0, "maximum": 32,
                      "description": "leading zero bits a join's proof of work needs; 0: none"}}},
  "Product": {"type": "object",
    "required": ["id", "name", "price", "totalStock", "available", "perUserLimit"],
    "properties": {
      "id": {"type": "integer"}, "name": {"type": "string"},
      "price": {"$ref": "#/components/schemas/Money"},
      "totalStock": {"type": "integer"}, "available": {"type": "integer", "minimum": 0},
      "perUserLimit": {"type": "integer"}, "holdSeconds": {"type": "integer"},
      "saleStartsAt": {"$ref": "#/components/schemas/Time"},
      "queue": {"$ref": "#/components/schemas/QueueSettings"},
      "paused": {"type": "boolean"}}},
  "AdminProduct": {"allOf": [{"$ref": "#/components/schemas/Product"},
                             {"type": "object", "required": ["paused"]}]},
  "NewProduct": {"type": "object", "required": ["name", "price", "stock"], "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "price": {"$ref": "#/components/schemas/Money"},
    "stock": {"type": "integer", "minimum": 0, "maximum": 100000000},
    "perUserLimit": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 1},
    "holdSeconds": {"type": ["integer", "null"], "minimum": 1, "maximum": 86400},
    "saleStartsAt": {"type": ["string", "null"]},
    "queue": {"$ref": "#/components/schemas/QueueSettings"}}},
  "ProductPatch": {"type": "object", "additionalProperties": false, "properties": {
    "saleStartsAt": {"type": ["string", "null"]},
    "queue": {"$ref": "#/components/schemas/QueueSettings"}}},
  "ReserveRequest": {"type": "object", "required": ["productId"], "properties": {
    "productId": {"type": "integer", "minimum": 1},
    "quantity": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 1}}},
  "Reservation": {"type": "object",
    "required": ["reservationId", "productId", "quantity", "expiresAt", "expiresIn"],
    "properties": {
      "reservationId": {"type": "string"}, "productId": {"type": "integer"},
      "quantity": {"type": "integer"}, "expiresAt": {"$ref": "#/components/schemas/Time"},
      "expiresIn": {"type": "integer", "minimum": 0},
      "state": {"type": "string", "description": "only on a repeat with the same Idempotency-Key"}}},
  "ReservationRef": {"type": "object", "required": ["reservationId"], "properties": {
    "reservationId": {"type": "string", "minLength": 1, "maxLength": 64}}},
  "HoldState": {"enum": ["held", "confirming", "confirmed", "cancelled", "expired"]},
  "ReservationState": {"type": "object",
    "required": ["reservationId", "productId", "quantity", "state", "expiresAt"],
    "properties": {
      "reservationId": {"type": "string"}, "productId": {"type": "integer"},
      "quantity": {"type": "integer"}, "state": {"$ref": "#/components/schemas/HoldState"},
      "expiresAt": {"type": ["string", "null"]}}},
  "ReservationList": {"type": "object", "required": ["reservations"], "properties": {
    "reservations": {"type": "array", "items": {"$ref": "#/components/schemas/ReservationState"}}}},
  "Order": {"type": "object",
    "required": ["orderId", "reservationId", "productId", "quantity", "totalPrice"],
    "properties": {
      "orderId": {"type": "integer"}, "reservationId": {"type": "string"},
      "productId": {"type": "integer"}, "quantity": {"type": "integer"},
      "totalPrice": {"$ref": "#/components/schemas/Money"}}},
  "Cancelled": {"type": "object", "required": ["reservationId", "state"], "properties": {
    "reservationId": {"type": "string"}, "state": {"const": "cancelled"}}},
  "Place": {"type": "object",
    "required": ["ticket", "state", "position", "aheadOfYou", "etaSeconds", "lineLength"],
    "properties": {
      "ticket": {"type": "string"},
      "state": {"enum": ["waiting", "admitted", "expired", "soldout"]},
      "position": {"type": "integer"}, "aheadOfYou": {"type": "integer"},
      "etaSeconds": {"type": "integer"}, "lineLength": {"type": "integer"},
      "preQueue": {"type": "boolean"}, "used": {"type": "boolean"},
      "queueEnabled": {"type": "boolean"}, "admissionToken": {"type": "string"},
      "pollAfterMs": {"type": "integer", "minimum": 0,
                      "description": "when to ask for the status again (jittered)"},
      "admissionExpiresAt": {"$ref": "#/components/schemas/Time"}}},
  "LineInfo": {"type": "object",
    "required": ["productId", "enabled", "length", "admitted", "active", "soldOut"],
    "properties": {
      "productId": {"type": "integer"}, "enabled": {"type": "boolean"},
      "length": {"type": "integer"}, "admitted": {"type": "integer"},
      "active": {"type": "integer"}, "dropped": {"type": "integer"},
      "admitPerSecond": {"type": "integer"}, "maxActive": {"type": "integer"},
      "admissionTtlSeconds": {"type": "integer"}, "soldOut": {"type": "boolean"},
      "saleStartsAt": {"type": ["string", "null"]}}},
  "StockSync": {"type": "object",
    "required": ["productId", "before", "after", "databaseStock", "held"],
    "properties": {
      "productId": {"type": "integer"}, "before": {"type": "integer"},
      "after": {"type": "integer"}, "databaseStock": {"type": "integer"},
      "held": {"type": "integer"}}},
  "StockRequest": {"type": "object", "minProperties": 1, "maxProperties": 1,
    "additionalProperties": false, "properties": {
      "add": {"type": "integer", "minimum": 1, "maximum": 100000000},
      "remove": {"type": "integer", "minimum": 1, "maximum": 100000000}}},
  "StockChange": {"type": "object",
    "required": ["productId", "totalStock", "databaseStock", "available"],
    "properties": {
      "productId": {"type": "integer"}, "totalStock": {"type": "integer"},
      "databaseStock": {"type": "integer"}, "available": {"type": "integer"},
      "repeated": {"type": "boolean",
        "description": "an earlier call with the same Idempotency-Key made this change"}}},
  "Cursor": {"type": ["string", "null"], "description": "pass as ?cursor= for the next page; null on the last"},
  "ProductPage": {"type": "object", "required": ["items", "nextCursor"], "properties": {
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/AdminProduct"}},
    "nextCursor": {"$ref": "#/components/schemas/Cursor"}}},
  "ProductFigures": {"allOf": [{"$ref": "#/components/schemas/AdminProduct"}, {"type": "object",
    "required": ["databaseStock", "sold", "orders", "refunded", "held", "confirming",
                 "holdsExpired", "holdsCancelled", "line"],
    "properties": {
      "databaseStock": {"type": "integer"}, "sold": {"type": "integer"},
      "orders": {"type": "integer"}, "refunded": {"type": "integer"},
      "held": {"type": "integer"}, "confirming": {"type": "integer"},
      "holdsExpired": {"type": "integer"}, "holdsCancelled": {"type": "integer"},
      "line": {"type": ["object", "null"], "properties": {
        "length": {"type": "integer"}, "admitted": {"type": "integer"},
        "active": {"type": "integer"}, "dropped": {"type": "integer"}}}}}]},
  "Hold": {"type": "object",
    "required": ["reservationId", "user", "quantity", "state", "expiresAt", "createdAt"],
    "properties": {
      "reservationId": {"type": "string"}, "user": {"type": "string"},
      "quantity": {"type": "integer"}, "state": {"enum": ["held", "confirming"]},
      "expiresAt": {"$ref": "#/components/schemas/Time"},
      "createdAt": {"$ref": "#/components/schemas/Time"}}},
  "HoldPage": {"type": "object", "required": ["items", "nextCursor"], "properties": {
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Hold"}},
    "nextCursor": {"$ref": "#/components/schemas/Cursor"}}},
  "AdminOrder": {"allOf": [{"$ref": "#/components/schemas/Order"}, {"type": "object",
    "required": ["user", "createdAt", "state", "refundedAt"], "properties": {
      "user": {"type": "string"}, "createdAt": {"$ref": "#/components/schemas/Time"},
      "state": {"enum": ["paid", "refunded"]}, "refundedAt": {"type": ["string", "null"]}}}]},
  "OrderPage": {"type": "object", "required": ["items", "nextCursor"], "properties": {
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/AdminOrder"}},
    "nextCursor": {"$ref": "#/components/schemas/Cursor"}}},
  "Refund": {"allOf": [{"$ref": "#/components/schemas/AdminOrder"}, {"type": "object",
    "required": ["repeated"], "properties": {"repeated": {"type": "boolean",
      "description": "true when an earlier call refunded the order"}}}]},
  "DemoLogin": {"type": "object", "required": ["nickname"], "properties": {
    "nickname": {"type": "string", "minLength": 1, "maxLength": 32}}},
  "DemoToken": {"type": "object", "required": ["token", "user", "expiresAt"], "properties": {
    "token": {"type": "string", "description": "a buyer JWT for Authorization: Bearer"},
    "user": {"type": "string", "description": "demo:<nickname>"},
    "expiresAt": {"$ref": "#/components/schemas/Time"}}},
  "AuditEntry": {"type": "object",
    "required": ["id", "at", "admin", "action", "productId", "orderId", "before", "after"],
    "properties": {
      "id": {"type": "integer"}, "at": {"$ref": "#/components/schemas/Time"},
      "admin": {"type": "string"}, "action": {"type": "string"},
      "productId": {"type": ["integer", "null"]}, "orderId": {"type": ["integer", "null"]},
      "before": {}, "after": {}}},
  "AuditPage": {"type": "object", "required": ["items", "nextCursor"], "properties": {
    "items": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}},
    "nextCursor": {"$ref": "#/components/schemas/Cursor"}}}
})json";

json::object QueryParameter(std::string_view name) {
  json::object schema;
  bool required = false;
  std::string_view what;
  if (name == "cursor") {
    schema = {{"type", "string"}, {"maxLength", 100}};
    what = "nextCursor of the page before";
  } else if (name == "limit") {
    schema = {{"type", "integer"}, {"minimum", 1}, {"maximum", 200}, {"default", 50}};
    what = "items per page";
  } else if (name == "state") {
    schema = {{"enum", json::array{"held", "confirming"}}};
    what = "only holds in this state";
  } else if (name == "productId") {
    schema = {{"type", "integer"}, {"minimum", 1}};
    required = true;
  } else if (name == "ticket") {
    schema = {{"type", "string"}, {"maxLength", 64}};
    required = true;
  } else {
    throw std::logic_error("openapi: unknown query parameter " + std::string(name));
  }
  json::object p{{"name", name}, {"in", "query"}, {"required", required}, {"schema", schema}};
  if (!what.empty()) p["description"] = what;
  return p;
}

json::object Content(std::string_view schema, const json::object& schemas) {
  if (schema == "text") return {{"text/plain", {{"schema", {{"type", "string"}}}}}};
  if (schema == "html") return {{"text/html", {{"schema", {{"type", "string"}}}}}};
  if (schema == "asset") {
    return {{"text/javascript", {{"schema", {{"type", "string"}}}}},
            {"text/css", {{"schema", {{"type", "string"}}}}},
            {"image/svg+xml", {{"schema", {{"type", "string"}}}}}};
  }
  if (schema == "events") {
    return {{"text/event-stream",
             {{"schema",
               {{"type", "string"},
                {"description",
                 "event `history` (a JSON array of samples), then an event `snapshot` per "
                 "sample: {at, requestsPerSecond, errors5xxPerSecond, requests5xx, products: "
                 "[{id, name, paused, totalStock, available, held, confirming, sold, orders, "
                 "databaseStock, line: {length, admitted, active, dropped, soldOut} | null}], "
                 "error?}; comment lines as heartbeats. 503 TOO_MANY_SUBSCRIBERS past "
                 "SSE_MAX_SUBSCRIBERS"}}}}}};
  }
  if (!schemas.contains(schema)) {
    throw std::logic_error("openapi: no schema " + std::string(schema));
  }
  return {{"application/json",
           {{"schema", {{"$ref", "#/components/schemas/" + std::string(schema)}}}}}};
}

json::object ErrorResponse(std::string_view description) {
  return {{"description", description},
          {"content",
           {{"application/json", {{"schema", {{"$ref", "#/components/schemas/Error"}}}}}}}};
}

std::string Build() {
  const json::object schemas = json::parse(kSchemas).as_object();
  json::object paths;
  for (const auto& r : Routes()) {
    json::object op{{"summary", r.summary}};
    std::string id(bhttp::to_string(r.method));
    for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (char c : r.path) {
      if (std::isalnum(static_cast<unsigned char>(c))) id.push_back(c);
      else if (!id.empty() && id.back() != '_') id.push_back('_');
    }
    while (id.back() == '_') id.pop_back();
    op["operationId"] = id;
    op["tags"] = json::array{r.access == Access::kAdmin    ? "admin"
                             : r.path.starts_with("/queue") ? "waiting room"
                             : r.path.starts_with("/purchase") || r.path.starts_with("/products")
                                 ? "purchase"
                                 : "operations"};
    json::array params;
    for (std::size_t at = r.path.find('{'); at != std::string_view::npos;
         at = r.path.find('{', at + 1)) {
      const auto name = r.path.substr(at + 1, r.path.find('}', at) - at - 1);
      json::object schema = name == "rid" || name == "file"
                                ? json::object{{"type", "string"}, {"maxLength", 64}}
                                          : json::object{{"type", "integer"}, {"minimum", 1}};
      params.push_back({{"name", name}, {"in", "path"}, {"required", true}, {"schema", schema}});
    }
    for (std::string_view q = r.query; !q.empty();) {
      const auto comma = q.find(',');
      params.push_back(QueryParameter(q.substr(0, comma)));
      q = comma == std::string_view::npos ? std::string_view() : q.substr(comma + 1);
    }
    if (r.path == "/purchase/reserve" || r.path == "/admin/products/{id}/stock" ||
        (r.path == "/admin/products" && r.method == bhttp::verb::post)) {
      params.push_back({{"name", "Idempotency-Key"}, {"in", "header"}, {"required", false},
                        {"schema", {{"type", "string"}, {"pattern", "^[A-Za-z0-9._:-]{1,64}$"}}}});
      if (r.path == "/purchase/reserve") {
        params.push_back({{"name", "X-Admission-Token"}, {"in", "header"}, {"required", false},
                          {"description", "from the waiting room, for a queue-enabled product"},
                          {"schema", {{"type", "string"}}}});
      }
    }
    if (!params.empty()) op["parameters"] = std::move(params);
    if (!r.request.empty()) {
      op["requestBody"] = {{"required", true}, {"content", Content(r.request, schemas)}};
    }
    json::object responses;
    responses[std::to_string(r.status)] = {{"description", r.summary},
                                           {"content", Content(r.response, schemas)}};
    if (r.access != Access::kPublic) {
      op["security"] = json::array{json::object{{"bearer", json::array{}}}};
      responses["401"] = ErrorResponse("missing, invalid or expired token");
      if (r.access == Access::kAdmin) responses["403"] = ErrorResponse("not an admin token");
    }
    responses["default"] = ErrorResponse("an error (see the API section of the README)");
    op["responses"] = std::move(responses);
    std::string method(bhttp::to_string(r.method));
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto& item = paths[r.path];
    if (!item.is_object()) item = json::object{};
    item.as_object()[method] = std::move(op);
  }
  // Every path answers a CORS preflight (the API's routes for origins in CORS_ORIGINS; never
  // the admin routes).
  for (auto& [path, item] : paths) {
    std::string id = "options";
    for (char c : path) {
      if (std::isalnum(static_cast<unsigned char>(c))) id.push_back(c);
      else if (id.back() != '_') id.push_back('_');
    }
    while (id.back() == '_') id.pop_back();
    json::object op{
        {"summary", "CORS preflight"},
        {"operationId", id},
        {"tags", json::array{"operations"}},
        {"responses",
         {{"204",
           {{"description",
             "the Origin is in CORS_ORIGINS: Access-Control-Allow-Methods/-Headers/-Max-Age"}}},
          {"403", ErrorResponse("CORS_ORIGIN_NOT_ALLOWED")},
          {"default", ErrorResponse("an error (see the API section of the README)")}}}};
    json::array path_params;
    for (const auto& [method, other] : item.as_object()) {
      if (const auto* ps = other.as_object().if_contains("parameters")) {
        for (const auto& p : ps->as_array()) {
          if (p.as_object().at("in") == "path") path_params.push_back(p);
        }
      }
      break;
    }
    if (!path_params.empty()) op["parameters"] = std::move(path_params);
    item.as_object()["options"] = std::move(op);
  }
  json::object doc{
      {"openapi", "3.1.0"},
      {"info",
       {{"title", "Ticketing"},
        {"version", "1"},
        {"description",
         "First-come-first-served ticket sales. Errors are {\"error\":{\"code\",\"message\"}}; "
         "see the README's API section for every code."}}},
      {"paths", std::move(paths)},
      {"components",
       {{"schemas", schemas},
        {"securitySchemes",
         {{"bearer", {{"type", "http"}, {"scheme", "bearer"}, {"bearerFormat", "JWT"}}}}}}}};
  return json::serialize(doc);
}

constexpr std::string_view kDocsHtml = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Ticketing API</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
details{border:1px solid #ddd;border-radius:4px;margin:.4rem 0;padding:.3rem .6rem}
summary{cursor:pointer}code,pre{font:13px ui-monospace,monospace}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:24rem}
.m{display:inline-block;min-width:4.2rem;font-weight:600;text-transform:uppercase}
.get{color:#1769aa}.post{color:#2e7d32}.patch{color:#a15c00}.lock{color:#888}
</style></head><body>
<h1>Ticketing API</h1>
<p>Generated from the server's route table: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1).</p>
<div id="ops">Loading…</div>
<script>
const esc = s => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'})[c]);
const json = v => '<pre>' + esc(JSON.stringify(v, null, 2)) + '</pre>';
fetch('/openapi.json').then(r => r.json()).then(doc => {
  const byTag = {};
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      (byTag[(op.tags || ['other'])[0]] ||= []).push([method, path, op]);
    }
  }
  const schema = ref => ref && ref.$ref ? doc.components.schemas[ref.$ref.split('/').pop()] : ref;
  let html = '';
  for (const [tag, ops] of Object.entries(byTag)) {
    html += '<h2>' + esc(tag) + '</h2>';
    for (const [method, path, op] of ops) {
      html += '<details><summary><span class="m ' + method + '">' + method + '</span> <code>' +
        esc(path) + '</code> ' + esc(op.summary || '') + (op.security ? ' <span class="lock">(token)</span>' : '') +
        '</summary>';
      if (op.parameters) html += '<p>Parameters:</p>' + json(op.parameters);
      const body = op.requestBody && op.requestBody.content['application/json'];
      if (body) html += '<p>Body:</p>' + json(schema(body.schema));
      for (const [status, res] of Object.entries(op.responses)) {
        const c = res.content && (res.content['application/json'] || Object.values(res.content)[0]);
        html += '<p>' + esc(status) + ': ' + esc(res.description) + '</p>' +
          (c && status !== 'default' ? json(schema(c.schema)) : '');
      }
      html += '</details>';
    }
  }
  document.getElementById('ops').innerHTML = html;
}).catch(e => { document.getElementById('ops').textContent = 'Could not load /openapi.json: ' + e; });
</script></body></html>
)html";

}  // namespace

const std::string& OpenApiJson() {
  static const std::string doc = Build();
  return doc;
}

std::string_view DocsHtml() { return kDocsHtml; }

}  // namespace ticketing::http
