#pragma once
#include <stdexcept>

namespace ticketing {

// A dependency (Redis, the database) cannot serve the call now; the caller may retry later.
// Mapped to 503 UNAVAILABLE at the HTTP boundary.
class UnavailableError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace ticketing
