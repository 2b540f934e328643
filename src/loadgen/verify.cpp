#include "loadgen/verify.hpp"

#include "db/db.hpp"
#include "redis/blocking_client.hpp"

#include <boost/json.hpp>

#include <chrono>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

namespace ticketing::loadgen {
namespace {

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

// Held holds of a product, its confirming holds (id, units) and its available count, read in
// one atomic step, from the expiry zset (what reserve.lua and sweep.lua keep).
const char* kLiveHoldsLua = R"LUA(
local n, units, confirming = 0, 0, {}
for _, rid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HMGET', ARGV[1] .. ':h:' .. rid, 'state', 'qty')
  if h[1] == 'held' then
    n = n + 1
    units = units + tonumber(h[2])
  elseif h[1] == 'confirming' then
    confirming[#confirming + 1] = rid
    confirming[#confirming + 1] = tonumber(h[2])
  end
end
local avail = redis.call('GET', ARGV[1] .. ':avail')
local present = redis.call('EXISTS', ARGV[1] .. ':info')
return {n, units, avail or '', present, confirming}
)LUA";

std::int64_t Int(const std::optional<std::string>& s) { return s ? std::stoll(*s) : 0; }

std::string Str(std::int64_t v) { return std::to_string(v); }

}  // namespace

std::optional<ProductView> ReadProduct(ApiClient& api, std::int64_t id, std::string* error) {
  auto r = api.Send("GET", "/products/" + std::to_string(id));
  if (r.status != 200) {
    if (error) *error = "GET /products/" + std::to_string(id) + " -> " + std::to_string(r.status) + " " + r.body;
    return std::nullopt;
  }
  try {
    auto v = json::parse(r.body).as_object();
    ProductView p;
    p.id = v.at("id").to_number<std::int64_t>();
    p.total = v.at("totalStock").to_number<std::int64_t>();
    p.available = v.at("available").to_number<std::int64_t>();
    if (auto* h = v.if_contains("holdSeconds"); h && h->is_number()) {
      p.hold_seconds = h->to_number<int>();
    }
    return p;
  } catch (const std::exception& e) {
    if (error) *error = std::string("bad product JSON: ") + e.what();
    return std::nullopt;
  }
}

StoreView ReadStores(const StoreAddresses& a, std::int64_t product_id) {
  StoreView v;
  db::Options dbo;
  dbo.host = a.db_host;
  dbo.port = a.db_port;
  dbo.user = a.db_user;
  dbo.password = a.db_password;
  dbo.database = a.db_name;
  db::Connection c(dbo);
  redis::BlockingConnection r(a.redis_host, a.redis_port, std::chrono::seconds(5));
  const std::string prefix = "{p:" + Str(product_id) + "}";
  std::vector<std::string> args = {"EVAL", kLiveHoldsLua, "1", prefix + ":exp", prefix};
  auto reply = r.Command(args);
  if (reply.IsError() || reply.elements.size() != 5) {
    throw std::runtime_error("redis live-holds script failed: " + reply.str);
  }
  v.live_holds = reply.elements[0].AsInt();
  v.live_units = reply.elements[1].AsInt();
  auto p = c.Execute("SELECT total_stock, stock FROM products WHERE id = ?", {product_id});
  if (p.rows.empty()) throw std::runtime_error("product " + Str(product_id) + " is not in the database");
  v.db_total = Int(p.rows[0].at(0));
  v.db_stock = Int(p.rows[0].at(1));
  auto o = c.Execute("SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM orders WHERE product_id = ?",
                     {product_id});
  v.orders = Int(o.rows.at(0).at(0));
  v.sold = Int(o.rows.at(0).at(1));

  // Redis first, then the database: a confirm that commits in between is counted sold (its
  // order is found below), never both sold and live.
  const auto& confirming = reply.elements[4].elements;
  for (std::size_t i = 0; i + 1 < confirming.size(); i += 2) {
    auto order = c.Execute("SELECT 1 FROM orders WHERE reservation_id = ?", {confirming[i].str});
    if (!order.rows.empty()) continue;
    ++v.live_holds;
    ++v.confirming_unsettled;
    v.live_units += confirming[i + 1].AsInt();
  }
  v.redis_present = reply.elements[3].AsInt() == 1;
  v.redis_available = reply.elements[2].str.empty() ? 0 : reply.elements[2].AsInt();
  return v;
}

std::vector<Check> Verify(const Options& o, const Baseline& before, const RunStats& run,
                          ApiClient& api, std::ostream& log) {
  std::vector<Check> checks;
  auto add = [&](std::string name, bool ok, std::string detail) {
    checks.push_back({std::move(name), ok, std::move(detail)});
  };

  // The load itself.
  std::uint64_t transport = 0;
  for (const auto& [k, n] : run.transport) transport += n;
  add("all_buyers_answered", run.buyers_answered == run.buyers &&
                                 (o.duration_seconds > 0 || run.buyers == static_cast<std::uint64_t>(o.buyers)),
      Str(static_cast<std::int64_t>(run.buyers_answered)) + " of " +
          Str(o.duration_seconds > 0 ? static_cast<std::int64_t>(run.buyers) : o.buyers) +
          " buyers had an answer");
  add("no_transport_errors", transport == 0, Str(static_cast<std::int64_t>(transport)) + " transport errors");
  std::uint64_t server_errors = 0;
  for (const auto& [code, n] : run.status) {
    if (code >= 500) server_errors += n;
  }
  add("no_server_errors", server_errors == 0, Str(static_cast<std::int64_t>(server_errors)) + " answers 5xx");
  {
    // Each operation may only end in the outcomes the scenario allows.
    const std::set<int> allowed[4] = {{201, 409}, {200, 201, 410}, {200, 410}, {200}};
    std::ostringstream bad;
    for (std::size_t i = 0; i < run.ops.size(); ++i) {
      for (const auto& [code, n] : run.ops[i].status) {
        if (!allowed[i].count(code) && !(i == 3 && code >= 200 && code < 300)) {
          bad << kOpNames[i] << " " << code << " x" << n << "; ";
        }
      }
    }
    add("expected_statuses", bad.str().empty(), bad.str().empty() ? "every answer was an expected outcome" : bad.str());
  }
  if (o.mode == Mode::kGet) return checks;

  const std::int64_t pid = before.product_id;
  const std::int64_t total = before.product.total;
  const std::int64_t confirmed_units = static_cast<std::int64_t>(run.confirms_ok) * o.quantity;
  const std::int64_t sold_before_api = before.product.total - before.product.available;

  // Wait for abandoned holds to expire (and the sweeper to return their units).
  const int hold = before.product.hold_seconds > 0 ? before.product.hold_seconds : 300;
  const double elapsed_since_taken = static_cast<double>(run.elapsed_us - std::max<std::int64_t>(0, run.last_taken_us)) / 1e6;
  const double need = std::max(0.0, hold - elapsed_since_taken) + 5.0;
  const double wait = std::min(need, o.max_wait_seconds);
  const bool waited_enough = need <= o.max_wait_seconds;
  auto deadline = Clock::now() + std::chrono::milliseconds(static_cast<std::int64_t>(wait * 1000));
  bool waited_for_leases = false;
  log << "verify: waiting up to " << static_cast<int>(wait + 0.5)
      << " s for abandoned holds to expire (hold " << hold << " s)\n";
  std::optional<ProductView> after;
  StoreView stores;  // valid when have_stores (not optional: GCC 12 warns falsely on it)
  bool have_stores = false;
  std::string api_error, store_error;
  for (;;) {
    after = ReadProduct(api, pid, &api_error);
    bool settled = false;
    if (o.stores.Enabled()) {
      try {
        stores = ReadStores(o.stores, pid);
        have_stores = true;
        settled = stores.live_units == 0;
        // A confirm in flight or stranded by a dead server is settled when its lease (30 s by
        // default) runs out: wait for that too, once.
        if (stores.confirming_unsettled > 0 && !waited_for_leases) {
          waited_for_leases = true;
          deadline = std::max(deadline, Clock::now() + std::chrono::seconds(35));
        }
      } catch (const std::exception& e) {
        store_error = e.what();
        have_stores = false;
      }
    } else if (after) {
      settled = after->available + sold_before_api + confirmed_units == total;
    }
    if (settled || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  if (!waited_enough) {
    log << "verify: holds last " << hold << " s, beyond --max-wait " << o.max_wait_seconds
        << " s: live holds are counted as taken\n";
  }

  // Through the API.
  add("api_product_readable", after.has_value(), after ? "GET /products/" + Str(pid) + " -> 200" : api_error);
  if (after) {
    add("api_total_unchanged", after->total == total,
        "totalStock " + Str(after->total) + " (was " + Str(total) + ")");
    add("api_sold_within_stock", sold_before_api + confirmed_units <= total,
        "sold before " + Str(sold_before_api) + " + confirmed now " + Str(confirmed_units) +
            " <= stock " + Str(total));
    if (!o.stores.Enabled()) {
      add("api_no_unit_leaked", after->available + sold_before_api + confirmed_units == total,
          "available " + Str(after->available) + " + sold " + Str(sold_before_api + confirmed_units) +
              " = " + Str(after->available + sold_before_api + confirmed_units) + ", total " + Str(total));
    }
  }
  if (!o.stores.Enabled()) return checks;

  // In the stores.
  add("stores_readable", have_stores, have_stores ? "database and Redis answered" : store_error);
  if (!have_stores) return checks;
  const auto& s = stores;
  const std::int64_t orders_before = before.stores ? before.stores->orders : 0;
  add("orders_equal_confirms", s.orders - orders_before == static_cast<std::int64_t>(run.confirms_ok),
      "orders " + Str(s.orders) + " (" + Str(orders_before) + " before the run), successful confirms " +
          Str(static_cast<std::int64_t>(run.confirms_ok)));
  add("sold_within_stock", s.sold <= s.db_total,
      "units sold " + Str(s.sold) + ", stock " + Str(s.db_total));
  add("redis_has_product", s.redis_present, s.redis_present ? "product keys present" : "no {p:" + Str(pid) + "}:info in Redis");
  const std::int64_t counted_live = waited_enough ? 0 : s.live_units;
  add("no_unit_leaked", s.sold + s.redis_available + counted_live == s.db_total,
      "sold " + Str(s.sold) + " + available " + Str(s.redis_available) +
          (waited_enough ? "" : " + live " + Str(s.live_units)) + " = " +
          Str(s.sold + s.redis_available + counted_live) + ", total " + Str(s.db_total));
  if (waited_enough) {
    add("abandoned_holds_expired", s.live_holds == 0,
        Str(s.live_holds) + " live holds (" + Str(s.live_units) + " units) left after the wait");
  }
  add("db_stock_plus_sold_equals_total", s.db_stock + s.sold == s.db_total,
      "stock " + Str(s.db_stock) + " + sold " + Str(s.sold) + " = " + Str(s.db_stock + s.sold) +
          ", total " + Str(s.db_total));
  add("redis_available_plus_live_equals_db_stock", s.redis_available + s.live_units == s.db_stock,
      "available " + Str(s.redis_available) + " + live " + Str(s.live_units) + " = " +
          Str(s.redis_available + s.live_units) + ", database stock " + Str(s.db_stock));
  return checks;
}

}  // namespace ticketing::loadgen
