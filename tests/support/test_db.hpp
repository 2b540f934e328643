#pragma once
// Database options that reach the test MariaDB started by SharedServices(). Header-only: only
// tests that already link ticketing_db include it.
#include "db/db.hpp"
#include "tests/support/services.hpp"

namespace ticketing::testing {

inline db::Options TestDbOptions() {
  const auto& s = SharedServices();
  db::Options o;
  o.host = s.Get("DB_HOST");
  o.port = static_cast<std::uint16_t>(s.Port("DB_PORT"));
  o.user = s.Get("DB_USERNAME");
  o.password = s.Get("DB_PASSWORD");
  o.database = s.Get("DB_DATABASE");
  return o;
}

}  // namespace ticketing::testing
