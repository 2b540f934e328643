// Request path: bytes -> Beast's request parser (the server's limits) -> Api::Handle (router,
// auth, validation, outcome mapping) over fake services -> the response invariants of
// ApiRig::Check. Input: byte 0 picks the credentials added to every request (Auth, % 4),
// byte 1 how the fakes answer (ApiRig::Configure), then raw HTTP/1.1: up to 4 pipelined
// requests, as one keep-alive connection would carry them.
#include "fuzz/api_rig.hpp"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ticketing;
  static fuzz::ApiRig rig;
  if (size < 2) return 0;
  const auto auth = static_cast<fuzz::Auth>(data[0] % 4);
  std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  for (int i = 0; i < 4; ++i) {
    rig.Configure(data[1]);  // also forgets what the fakes declared for the last request
    http::Request req;
    if (!fuzz::ReadRequest(bytes, req)) break;
    rig.Authorize(req, auth);
    http::Response res = rig.Handle(req);
    rig.Check(req, res);
    if (!req.keep_alive()) break;
  }
  return 0;
}
