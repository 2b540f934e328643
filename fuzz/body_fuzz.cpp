// JSON body readers: the fuzz input is the body of one of the routes that read one, sent with
// valid headers, so that every execution reaches ParseBody and the field readers in api.cpp
// (IntField, StringField, PriceField, SaleStartField, QueueField). Byte 0 picks the route, byte 1
// how the fakes answer (ApiRig::Configure); the rest is the body.
#include "fuzz/api_rig.hpp"

#include <cstddef>
#include <cstdint>

namespace {

using ticketing::fuzz::Auth;
namespace bhttp = ticketing::http::bhttp;

struct Route {
  bhttp::verb method;
  const char* target;
  Auth auth;
};
constexpr Route kRoutes[] = {
    {bhttp::verb::post, "/purchase/reserve", Auth::kBuyer},
    {bhttp::verb::post, "/purchase/reserve", Auth::kBuyerAdmitted},
    {bhttp::verb::post, "/purchase/confirm", Auth::kBuyer},
    {bhttp::verb::post, "/purchase/cancel", Auth::kBuyer},
    {bhttp::verb::post, "/admin/products", Auth::kAdmin},
    {bhttp::verb::patch, "/admin/products/1", Auth::kAdmin},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ticketing;
  static fuzz::ApiRig rig;
  if (size < 2) return 0;
  const Route& route = kRoutes[data[0] % std::size(kRoutes)];
  rig.Configure(data[1]);
  http::Request req{route.method, route.target, 11};
  req.set(bhttp::field::host, "ticketing.test");
  req.set(bhttp::field::content_type, "application/json");
  req.body().assign(reinterpret_cast<const char*>(data) + 2, size - 2);
  req.prepare_payload();
  rig.Authorize(req, route.auth);
  http::Response res = rig.Handle(req);
  rig.Check(req, res);
  return 0;
}
