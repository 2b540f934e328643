// Versioned schema migrations. To change the schema, APPEND a new entry to kMigrations with the
// next version number; never edit or reorder an entry that has shipped.
//
// Rules for statements (they must run on MariaDB 10.11 and MySQL 8.4):
// - One statement per string (the connection does not allow multi-statements).
// - DDL commits implicitly, so a version is not atomic: if the process dies half-way, the whole
//   version runs again. Make statements idempotent where both servers allow it (CREATE TABLE IF
//   NOT EXISTS, CREATE INDEX via CREATE TABLE ... IF NOT EXISTS); MySQL has no
//   "ADD COLUMN IF NOT EXISTS", so give each non-idempotent ALTER TABLE its own version.
#include <spdlog/spdlog.h>

#include <set>

#include "db/db.hpp"

namespace ticketing::db {
namespace {

struct Migration {
  int version;
  std::vector<std::string_view> statements;
};

const std::vector<Migration> kMigrations = {
    {1,
     {
         R"sql(CREATE TABLE IF NOT EXISTS products (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  price_cents BIGINT NOT NULL,
  total_stock INT NOT NULL,
  stock INT NOT NULL,
  per_user_limit INT NOT NULL DEFAULT 1,
  hold_seconds INT NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  CONSTRAINT products_stock_range CHECK (stock >= 0 AND stock <= total_stock)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4)sql",
         R"sql(CREATE TABLE IF NOT EXISTS orders (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  reservation_id VARCHAR(64) NOT NULL,
  product_id BIGINT UNSIGNED NOT NULL,
  user_id VARCHAR(128) NOT NULL,
  quantity INT NOT NULL,
  unit_price_cents BIGINT NOT NULL,
  total_price_cents BIGINT NOT NULL,
  created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  UNIQUE KEY orders_reservation (reservation_id),
  KEY orders_product_user (product_id, user_id),
  CONSTRAINT orders_product FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4)sql",
     }},
    // Sale start (UTC) and waiting-room settings ({"enabled", "admitPerSecond", "maxActive",
    // "admissionTtlSeconds"}), restored into Redis by PurchaseService::WarmRedis.
    {2,
     {
         "ALTER TABLE products ADD COLUMN sale_starts_at DATETIME(3) NULL, "
         "ADD COLUMN queue_json TEXT NULL",
     }},
    // Confirm leases a sweeper took over (src/purchase/README.md, "Fencing"): a confirm whose
    // lease id is here rolls back instead of committing its order.
    {3,
     {
         R"sql(CREATE TABLE IF NOT EXISTS revoked_leases (
  lease_id VARCHAR(64) NOT NULL PRIMARY KEY,
  reservation_id VARCHAR(64) NOT NULL,
  revoked_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4)sql",
     }},
    // Admin console (src/purchase/README.md, "Admin"): a paused sale refuses reserves and
    // queue joins; mirrored into Redis and restored by the rebuild.
    {4,
     {
         "ALTER TABLE products ADD COLUMN paused TINYINT(1) NOT NULL DEFAULT 0",
     }},
    // Refunds: a refunded order's units are back in stock and no longer count against the
    // buyer's limit. Admin order listings page by (product_id, id).
    {5,
     {
         "ALTER TABLE orders ADD COLUMN refunded_at TIMESTAMP(3) NULL, "
         "ADD KEY orders_product_id (product_id, id)",
     }},
    // Who did what to which product or order, and when, with the state before and after; an
    // admin's Idempotency-Key makes a retried stock change find the first one.
    {6,
     {
         R"sql(CREATE TABLE IF NOT EXISTS audit_log (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  admin VARCHAR(128) NOT NULL,
  action VARCHAR(32) NOT NULL,
  product_id BIGINT UNSIGNED NULL,
  order_id BIGINT UNSIGNED NULL,
  before_json TEXT NULL,
  after_json TEXT NULL,
  idempotency_key VARCHAR(64) NULL,
  KEY audit_product (product_id, id),
  UNIQUE KEY audit_idempotency (admin, idempotency_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4)sql",
     }},
    // A stock sync looks for the orders made since the oldest live hold's reserve
    // (purchase/rebuild.cpp): an index range, not every order the product ever had.
    {7,
     {
         "ALTER TABLE orders ADD KEY orders_product_created (product_id, created_at)",
     }},
    // {8, {"ALTER TABLE ..."}},  <- next migration goes here
};

constexpr std::string_view kLockName = "ticketing_migrate";
constexpr std::chrono::seconds kLockWait{30};

// GET_LOCK in slices shorter than the read timeout, so waiting for another server's migration
// is not mistaken for a dead connection.
void AcquireLock(Connection& c, std::chrono::seconds read_timeout) {
  const auto slice = std::max<std::int64_t>(1, read_timeout.count() - 1);
  const auto deadline = std::chrono::steady_clock::now() + kLockWait;
  while (true) {
    Result r = c.Execute("SELECT GET_LOCK(?, ?)", {std::string(kLockName), slice});
    const auto& v = r.rows.at(0).at(0);
    if (v && *v == "1") return;
    if (!v) throw QueryError(0, "GET_LOCK('ticketing_migrate') failed");
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Unavailable("timed out waiting for the schema migration lock");
    }
    spdlog::info("waiting for another process to finish schema migrations");
  }
}

void CheckOrder() {
  int last = 0;
  for (const Migration& m : kMigrations) {
    if (m.version <= last) throw std::logic_error("schema migrations must have rising versions");
    last = m.version;
  }
}

}  // namespace

void Migrate(Connection& c) {
  CheckOrder();
  unsigned read_timeout = 0;
  mysql_get_optionv(c.raw(), MYSQL_OPT_READ_TIMEOUT, &read_timeout);
  AcquireLock(c, std::chrono::seconds(read_timeout ? read_timeout : 5));
  try {
    c.Execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INT NOT NULL PRIMARY KEY, "
        "applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)"
        ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    std::set<int> applied;
    for (const Row& row : c.Execute("SELECT version FROM schema_migrations").rows) {
      applied.insert(std::stoi(row.at(0).value()));
    }
    for (const Migration& m : kMigrations) {
      if (applied.count(m.version)) continue;
      spdlog::info("applying schema migration {}", m.version);
      for (std::string_view statement : m.statements) c.Execute(statement);
      c.Execute("INSERT INTO schema_migrations (version) VALUES (?)", {std::int64_t{m.version}});
    }
    if (!applied.empty() && *applied.rbegin() > kMigrations.back().version) {
      spdlog::warn("database schema version {} is newer than this binary's {}", *applied.rbegin(),
                   kMigrations.back().version);
    }
  } catch (...) {
    if (!c.Broken()) {
      try {
        c.Execute("SELECT RELEASE_LOCK(?)", {std::string(kLockName)});
      } catch (...) {
      }
    }
    throw;
  }
  c.Execute("SELECT RELEASE_LOCK(?)", {std::string(kLockName)});
}

}  // namespace ticketing::db
