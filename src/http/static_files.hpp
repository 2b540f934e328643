#pragma once
// The pages' static assets (web/), embedded into the binary at build time with their ETags
// (cmake/EmbedWeb.cmake), and how they are answered: ETag / If-None-Match, Cache-Control and a
// strict Content-Security-Policy. See web/README.md for why they are embedded.
#include "http/server.hpp"

#include <span>
#include <string>
#include <string_view>

namespace ticketing::http {

struct Asset {
  std::string_view name;          // "sale.js" (web/ is flat)
  std::string_view content_type;  // from the extension
  std::string_view etag;          // "\"<20 hex of SHA-256>\""
  std::string_view body;
};

// Every file of web/ (generated code).
std::span<const Asset> EmbeddedAssets();

// The asset called `name`, or null (also for names with '/', "..", or anything not embedded).
const Asset* FindAsset(std::string_view name);

// The pages' policy: only this origin's scripts, styles, workers and connections; no inline
// script or style; `frame_ancestors` (CSP sources, e.g. "'none'" or "https://shop.example")
// decides who may embed the pages in a frame.
std::string ContentSecurityPolicy(std::string_view frame_ancestors);

// 200 with the asset, or 304 without a body when If-None-Match names its ETag. Always revalidated
// (Cache-Control: no-cache: the names carry no version, and a 304 is cheap).
Response AssetResponse(const Request& req, const Asset& asset, std::string_view frame_ancestors);

}  // namespace ticketing::http
