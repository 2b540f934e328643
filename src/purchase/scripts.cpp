#include "purchase/scripts.hpp"

#include "purchase/lua_sources.hpp"

namespace ticketing::purchase {

const Scripts& Scripts::Get() {
  static const Scripts scripts{
      redis::Script(std::string(lua::k_reserve)),
      redis::Script(std::string(lua::k_cancel)),
      redis::Script(std::string(lua::k_confirm_begin)),
      redis::Script(std::string(lua::k_confirm_finish)),
      redis::Script(std::string(lua::k_confirm_abort)),
      redis::Script(std::string(lua::k_sweep)),
      redis::Script(std::string(lua::k_settle)),
      redis::Script(std::string(lua::k_live_holds)),
      redis::Script(std::string(lua::k_sync_stock)),
      redis::Script(std::string(lua::k_init_product)),
      redis::Script(std::string(lua::k_product_settings)),
      redis::Script(std::string(lua::k_list_holds)),
      redis::Script(std::string(lua::k_epoch_mark)),
      redis::Script(std::string(lua::k_hold_status)),
      redis::Script(std::string(lua::k_rate_limit)),
      redis::Script(std::string(lua::k_product_pause)),
      redis::Script(std::string(lua::k_stock_take)),
      redis::Script(std::string(lua::k_admin_figures)),
      redis::Script(std::string(lua::k_admin_holds)),
      redis::Script(std::string(lua::k_refund_user)),
  };
  return scripts;
}

}  // namespace ticketing::purchase
