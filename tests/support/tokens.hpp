#pragma once
// Tokens for integration tests, signed with the secret every test server gets (kTestSecret).
#include "auth/jwt.hpp"
#include "tests/support/server_process.hpp"

#include <chrono>
#include <cstdint>
#include <string>

namespace ticketing::testing {

// Unix time in milliseconds by this machine's clock (the test Redis runs on it too).
inline std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A JWT for `user` (with the admin role if `admin`), valid for `ttl_seconds`.
inline std::string Token(const std::string& user, bool admin = false,
                         std::int64_t ttl_seconds = 3600) {
  return auth::JwtCodec(kTestSecret).Sign({user, admin}, NowMs() / 1000 + ttl_seconds);
}

}  // namespace ticketing::testing
