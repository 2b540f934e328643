#include "http/response.hpp"

#include <boost/json/serialize.hpp>

#include <charconv>
#include <cstdlib>

namespace ticketing::http {
namespace {

// Boost.JSON 1.81 writes every double in exponent form (49.99 -> "4.999E1"): valid JSON that
// reads like a bug to a person with curl. Rewrites numbers outside strings in the shortest
// plain decimal that round-trips (std::to_chars, fixed), e.g. 4.999E1 -> 49.99.
std::string PlainNumbers(std::string text) {
  if (text.find('E') == std::string::npos) return text;
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      out.push_back(c);
      if (c == '\\' && i + 1 < text.size()) out.push_back(text[++i]);
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      out.push_back(c);
      continue;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      std::size_t end = i;
      bool exponent = false;
      while (end < text.size() && std::strchr("+-0123456789.eE", text[end])) {
        exponent = exponent || text[end] == 'e' || text[end] == 'E';
        ++end;
      }
      double v = 0;
      auto [p, ec] = std::from_chars(text.data() + i, text.data() + end, v);
      char buf[64];
      if (exponent && ec == std::errc() && p == text.data() + end && std::abs(v) < 1e15 &&
          (v == 0 || std::abs(v) >= 1e-6)) {
        auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
        out.append(buf, r.ptr);
      } else {
        out.append(text, i, end - i);
      }
      i = end - 1;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

Response Json(unsigned status, const boost::json::value& body) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = PlainNumbers(boost::json::serialize(body));
  return res;
}

namespace {

// `text` as a JSON string, as boost::json::serialize writes it.
void AppendJsonString(std::string& out, std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f) {
      out += boost::json::serialize(boost::json::string_view(text.data(), text.size()));
      return;
    }
  }
  out += '"';
  out += text;
  out += '"';
}

}  // namespace

Response Error(unsigned status, std::string_view code, std::string_view message) {
  // The bytes Json() would write for {"error":{"code":code,"message":message}}, built without a
  // JSON tree: error answers (409 SOLD_OUT above all) are the busiest responses of a sale.
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  std::string& body = res.body();
  body.reserve(32 + code.size() + message.size());
  body += R"({"error":{"code":)";
  AppendJsonString(body, code);
  body += R"(,"message":)";
  AppendJsonString(body, message);
  body += "}}";
  return res;
}

}  // namespace ticketing::http
