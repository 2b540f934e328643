#include "http/response.hpp"

#include <boost/json/serialize.hpp>

namespace ticketing::http {

Response Json(unsigned status, const boost::json::value& body) {
  Response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.body() = boost::json::serialize(body);
  return res;
}

Response Error(unsigned status, std::string_view code, std::string_view message) {
  return Json(status, {{"error", {{"code", code}, {"message", message}}}});
}

}  // namespace ticketing::http
