#pragma once
// After a run: waits for abandoned holds to expire, then checks the books through the API and,
// when given their addresses, in MariaDB and Redis directly. Every check can fail: that is
// what tests/loadgen proves with a deliberately oversold and a deliberately leaked product.
#include "loadgen/api_client.hpp"
#include "loadgen/options.hpp"
#include "loadgen/stats.hpp"

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace ticketing::loadgen {

struct Check {
  std::string name;
  bool ok = false;
  std::string detail;  // the numbers behind the verdict
};

// The product as the API shows it.
struct ProductView {
  std::int64_t id = 0;
  std::int64_t total = 0;
  std::int64_t available = 0;
  int hold_seconds = 0;
};
// GET /products/{id}; nullopt (with `error` set) when it does not answer 200 with a product.
std::optional<ProductView> ReadProduct(ApiClient& api, std::int64_t id, std::string* error);

// The product's rows and keys read directly. Throws (std::exception) when a store is down.
struct StoreView {
  std::int64_t db_total = 0;
  std::int64_t db_stock = 0;
  std::int64_t orders = 0;  // rows
  std::int64_t sold = 0;    // units in orders
  bool redis_present = false;
  std::int64_t redis_available = 0;
  // Held, or confirming without an order yet, listed in the expiry zset. A confirming hold
  // whose order committed (its finish step failed; a sweeper marks it confirmed when the lease
  // runs out) is sold, not live.
  std::int64_t live_holds = 0;
  std::int64_t live_units = 0;
  std::int64_t confirming_unsettled = 0;  // confirming holds without an order (await the lease)
};
StoreView ReadStores(const StoreAddresses& a, std::int64_t product_id);

// What was true before the load started (an existing product need not be fresh).
struct Baseline {
  std::int64_t product_id = 0;
  ProductView product;
  std::optional<StoreView> stores;
};

// Waits (up to --max-wait) until no live hold is left, then runs the checks.
std::vector<Check> Verify(const Options& o, const Baseline& before, const RunStats& run,
                          ApiClient& api, std::ostream& log);

}  // namespace ticketing::loadgen
