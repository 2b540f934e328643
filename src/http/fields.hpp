#pragma once
// A request field's value by one walk of the request's field list. A request carries a handful
// of fields, and comparing each one's length (then its letters, ignoring case) costs less than
// Beast's find(), which compares names letter by letter down its tree: 611 instructions to
// read the bearer token of a sold-out reserve, ~600 for the two trace fields (bench/server-cost).
// Like find(), the first of repeated fields wins; absent is empty.
#include "http/server.hpp"

#include <boost/beast/core/string.hpp>

#include <string_view>

namespace ticketing::http {

inline std::string_view FieldOf(const Request& req, std::string_view name) {
  for (const auto& f : req) {
    const auto n = f.name_string();
    if (n.size() == name.size() && beast::iequals(n, name)) {
      return {f.value().data(), f.value().size()};
    }
  }
  return {};
}

inline std::string_view FieldOf(const Request& req, bhttp::field name) {
  for (const auto& f : req) {
    if (f.name() == name) return {f.value().data(), f.value().size()};
  }
  return {};
}

}  // namespace ticketing::http
