#pragma once
// Direct reads of the test MariaDB and Redis, independent of the server's code, and the
// invariant check every integration scenario ends with.
#include "tests/support/services.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct redisContext;

namespace ticketing::testing {

class Stores {
 public:
  explicit Stores(const Services& services);
  ~Stores();

  // First column of the first row ("NULL" for SQL NULL, "" for no row, "ERROR <text>" if the
  // query failed). A fresh connection per call, so database restarts do not matter.
  std::string Sql(const std::string& query);
  long long SqlInt(const std::string& query) { return std::stoll(Sql(query)); }

  // A Redis reply as text: integers in decimal, strings and errors as is, "NIL" for nil, an
  // array as its elements' texts separated by spaces.
  std::string Redis(const std::vector<std::string>& args);

  // Keyspace lookups (hits + misses) Redis counted since its last CONFIG RESETSTAT: how many
  // keys a script read, whatever it is.
  long long KeyLookups();

  static std::string Prefix(std::int64_t product) { return "{p:" + std::to_string(product) + "}"; }
  long long Available(std::int64_t product);
  std::string HoldState(const std::string& reservation_id);
  // Units in the product's holds whose state is `held`, or `held` or `confirming`.
  long long HeldUnits(std::int64_t product, bool with_confirming);

  // units in orders (not refunded) + database stock = total; Redis available + live holds =
  // database stock.
  void ExpectInvariants(std::int64_t product);

 private:
  const Services& services_;
  std::unique_ptr<redisContext, void (*)(redisContext*)> redis_;
};

}  // namespace ticketing::testing
