#include "purchase/scripts.hpp"

#include "purchase/lua_sources.hpp"
#include "redis/lua_prelude.hpp"

namespace ticketing::purchase {

namespace {

// A script with the parts of the prelude it uses (redis/lua_prelude.hpp).
redis::Script Linked(std::string_view body, bool changes_state = true) {
  return redis::Script(redis::LinkPrelude(lua::k_prelude, body), changes_state);
}

}  // namespace

const Scripts& Scripts::Get() {
  // `false`: no WAIT after it under REDIS_WAIT_REPLICAS (it reads, or its loss is harmless).
  static const Scripts scripts{
      Linked(lua::k_reserve),
      Linked(lua::k_reserve_batch),
      Linked(lua::k_cancel),
      Linked(lua::k_confirm_begin),
      Linked(lua::k_confirm_finish),
      Linked(lua::k_confirm_abort),
      Linked(lua::k_sweep),
      Linked(lua::k_settle),
      Linked(lua::k_confirm_committed),
      Linked(lua::k_sync_stock),
      Linked(lua::k_init_product),
      Linked(lua::k_product_settings),
      Linked(lua::k_list_holds, false),
      Linked(lua::k_epoch_mark),
      Linked(lua::k_hold_status, false),
      Linked(lua::k_rate_limit, false),
      Linked(lua::k_product_pause),
      Linked(lua::k_stock_take),
      Linked(lua::k_admin_figures, false),
      Linked(lua::k_admin_holds, false),
      Linked(lua::k_refund_user),
      Linked(lua::k_stock_check, false),
      Linked(lua::k_stock_probe, false),
      // A lost lease only means another election: no WAIT for it.
      Linked(lua::k_lease, false),
      Linked(lua::k_gauges, false),
      Linked(lua::k_product_epoch, false),
      Linked(lua::k_product_epoch_mark),
      Linked(lua::k_product_epoch_init),
  };
  return scripts;
}

}  // namespace ticketing::purchase
