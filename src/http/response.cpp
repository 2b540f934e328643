#include "http/response.hpp"

#include "http/trace.hpp"

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

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, surrogates or
// code points past U+10FFFF) that starts `s`, or 0.
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const auto tail = [&](std::size_t i) { return i < s.size() && (b(i) & 0xc0) == 0x80; };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return tail(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    if (!tail(1) || !tail(2)) return 0;
    if ((c == 0xe0 && b(1) < 0xa0) || (c == 0xed && b(1) > 0x9f)) return 0;
    return 3;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    if (!tail(1) || !tail(2) || !tail(3)) return 0;
    if ((c == 0xf0 && b(1) < 0x90) || (c == 0xf4 && b(1) > 0x8f)) return 0;
    return 4;
  }
  return 0;
}

// `text` with every byte that is not part of well-formed UTF-8 replaced by U+FFFD. JSON text is
// UTF-8 (RFC 8259 §8.1) and boost::json::serialize copies a string's bytes as they are, so a
// message that echoes request bytes (a 404's path) would otherwise make the body unreadable.
std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  while (!text.empty()) {
    const std::size_t n = Utf8SequenceLength(text);
    if (n == 0) {
      out += "\xef\xbf\xbd";
      text.remove_prefix(1);
    } else {
      out.append(text.substr(0, n));
      text.remove_prefix(n);
    }
  }
  return out;
}

// `text` as a JSON string, as boost::json::serialize writes it (after ValidUtf8).
void AppendJsonString(std::string& out, std::string_view text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == '"' || c == '\\' || c >= 0x7f) {
      const std::string valid = ValidUtf8(text);
      out += boost::json::serialize(boost::json::string_view(valid.data(), valid.size()));
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
  // {"error":{"code":"","message":""}} is 34 bytes: the whole body in one allocation unless
  // something needs escaping (reserving 32 made every SOLD_OUT answer allocate twice).
  body.reserve(34 + code.size() + message.size());
  body += R"({"error":{"code":)";
  AppendJsonString(body, code);
  body += R"(,"message":)";
  AppendJsonString(body, message);
  body += "}}";
  return res;
}

// The bytes Beast's serializer writes before a response's body: status line, fields in order,
// blank line. Built into one reused string, so a response is one gathered write of two buffers
// instead of a pass through Beast's serializer and its buffer-sequence adaptors.
void WriteHead(const Response& res, std::string& out) {
  BeginHead(res, out);
  out += "\r\n";
}

void AppendContentLength(const Response& res, std::string& out) {
  const auto status = res.result();
  if (status == bhttp::status::no_content || status == bhttp::status::not_modified ||
      bhttp::to_status_class(status) == bhttp::status_class::informational) {
    return;
  }
  if (res.has_content_length() || res.chunked()) return;
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, res.body().size()).ptr;
  out += "Content-Length: ";
  out.append(digits, end);
  out += "\r\n";
}

void WriteServerHead(const Response& res, const trace::Context& trace, std::string& out) {
  BeginHead(res, out);
  out += "Server: ";
  out += kServerName;
  out += "\r\n";
  AppendTraceFields(trace, out);
  AppendContentLength(res, out);
  out += "\r\n";
}

void BeginHead(const Response& res, std::string& out) {
  const unsigned code = res.result_int();
  const unsigned version = res.version();
  out.clear();
  out += "HTTP/";
  out += static_cast<char>('0' + version / 10);
  out += '.';
  out += static_cast<char>('0' + version % 10);
  out += ' ';
  out += static_cast<char>('0' + code / 100);
  out += static_cast<char>('0' + (code / 10) % 10);
  out += static_cast<char>('0' + code % 10);
  out += ' ';
  out += res.reason();
  out += "\r\n";
  for (const auto& f : res.base()) {
    out += f.name_string();
    out += ": ";
    out += f.value();
    out += "\r\n";
  }
}

}  // namespace ticketing::http
