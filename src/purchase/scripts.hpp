#pragma once
// The purchase Lua scripts (lua/*.lua, each with lua/common.lua in front), embedded at build time.
#include "redis/redis_client.hpp"

namespace ticketing::purchase {

struct Scripts {
  redis::Script reserve, reserve_batch, cancel, confirm_begin, confirm_finish, confirm_abort, sweep, settle,
      confirm_committed, sync_stock, init_product, product_settings, list_holds, epoch_mark, hold_status,
      rate_limit, product_pause, stock_take, admin_figures, admin_holds, refund_user,
      stock_check, stock_probe, lease, gauges, product_epoch, product_epoch_mark,
      product_epoch_init;
  static const Scripts& Get();
};

}  // namespace ticketing::purchase
