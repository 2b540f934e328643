#pragma once
// What the request-path and body fuzz targets share: one Api over fake services (no storage),
// valid tokens for it, a runner for Api::Handle, and the invariants every response must keep.
#include "auth/jwt.hpp"
#include "http/api.hpp"
#include "http/fake_services.hpp"
#include "http/server.hpp"
#include "queue/admission.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace ticketing::fuzz {

inline constexpr std::int64_t kNow = 1'800'000'000;  // the Api's clock, unix seconds
inline const std::string kSecret = "fuzz-secret-fuzz-secret-fuzz-secret!";

// The valid credentials a fuzz input can ask for (by number, so that it need not forge them).
enum class Auth { kNone, kBuyer, kAdmin, kBuyerAdmitted };

class ApiRig {
 public:
  ApiRig();

  // The fakes answer according to `mode`: mode % 16 < 15 picks the Outcome of every call,
  // 15 makes every call throw UnavailableError (-> 503); mode / 16 % 2 makes /ready not ready.
  void Configure(std::uint8_t mode);
  // Adds the credentials `auth` stands for (the Authorization header, and for kBuyerAdmitted
  // also an X-Admission-Token for product 7) to `req`.
  void Authorize(http::Request& req, Auth auth) const;
  // Api::Handle(req) on this thread; aborts if it throws (it must not).
  http::Response Handle(http::Request& req);
  // Aborts, printing the request and response, unless `res` keeps the invariants (fuzz/README.md).
  void Check(const http::Request& req, http::Response& res);

 private:
  auth::JwtCodec jwt_;
  queue::AdmissionCodec admission_;
  http::FakePurchase purchase_;
  http::FakeQueue queue_;
  http::Api api_;
  std::string buyer_, admin_, admitted_;
};

// One request read from `bytes` as src/http/server.cpp reads it (same parser, body and header
// limits); consumes what it read. False when the server would have answered 4xx itself or closed.
bool ReadRequest(std::string_view& bytes, http::Request& out);

}  // namespace ticketing::fuzz
