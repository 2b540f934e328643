#include "http/static_files.hpp"

#include "http/fields.hpp"
#include "http/response.hpp"

namespace ticketing::http {

const Asset* FindAsset(std::string_view name) {
  for (const auto& a : EmbeddedAssets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::string ContentSecurityPolicy(std::string_view frame_ancestors) {
  std::string csp =
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
      "connect-src 'self'; worker-src 'self'; font-src 'self'; object-src 'none'; "
      "base-uri 'none'; form-action 'self'; frame-ancestors ";
  csp += frame_ancestors;
  return csp;
}

namespace {

// Whether an If-None-Match value ("a", "b" or *) names `etag` (weak validators match too).
bool NoneMatchHits(std::string_view header, std::string_view etag) {
  if (header.empty()) return false;
  if (header == "*") return true;
  while (!header.empty()) {
    auto comma = header.find(',');
    auto item = header.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.starts_with("W/")) item.remove_prefix(2);
    if (item == etag) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

Response AssetResponse(const Request& req, const Asset& asset, std::string_view frame_ancestors) {
  const bool hit = NoneMatchHits(FieldOf(req, bhttp::field::if_none_match), asset.etag);
  Response res{hit ? bhttp::status::not_modified : bhttp::status::ok, 11};
  res.set(bhttp::field::etag, asset.etag);
  res.set(bhttp::field::cache_control, "no-cache");
  res.set(bhttp::field::content_type, asset.content_type);
  res.set("Content-Security-Policy", ContentSecurityPolicy(frame_ancestors));
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  if (!hit) res.body() = std::string(asset.body);
  return res;
}

}  // namespace ticketing::http
