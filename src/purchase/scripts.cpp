#include "purchase/scripts.hpp"

#include "purchase/lua_sources.hpp"

namespace ticketing::purchase {

const Scripts& Scripts::Get() {
  // `false`: no WAIT after it under REDIS_WAIT_REPLICAS (it reads, or its loss is harmless).
  static const Scripts scripts{
      redis::Script(std::string(lua::k_reserve)),
      redis::Script(std::string(lua::k_cancel)),
      redis::Script(std::string(lua::k_confirm_begin)),
      redis::Script(std::string(lua::k_confirm_finish)),
      redis::Script(std::string(lua::k_confirm_abort)),
      redis::Script(std::string(lua::k_sweep)),
      redis::Script(std::string(lua::k_settle)),
      redis::Script(std::string(lua::k_confirm_committed)),
      redis::Script(std::string(lua::k_sync_stock)),
      redis::Script(std::string(lua::k_init_product)),
      redis::Script(std::string(lua::k_product_settings)),
      redis::Script(std::string(lua::k_list_holds), false),
      redis::Script(std::string(lua::k_epoch_mark)),
      redis::Script(std::string(lua::k_hold_status), false),
      redis::Script(std::string(lua::k_rate_limit), false),
      redis::Script(std::string(lua::k_product_pause)),
      redis::Script(std::string(lua::k_stock_take)),
      redis::Script(std::string(lua::k_admin_figures), false),
      redis::Script(std::string(lua::k_admin_holds), false),
      redis::Script(std::string(lua::k_refund_user)),
      redis::Script(std::string(lua::k_stock_check), false),
      redis::Script(std::string(lua::k_stock_probe), false),
      // A lost lease only means another election: no WAIT for it.
      redis::Script(std::string(lua::k_lease), false),
      redis::Script(std::string(lua::k_gauges), false),
      redis::Script(std::string(lua::k_product_epoch), false),
      redis::Script(std::string(lua::k_product_epoch_mark)),
      redis::Script(std::string(lua::k_product_epoch_init)),
  };
  return scripts;
}

}  // namespace ticketing::purchase
