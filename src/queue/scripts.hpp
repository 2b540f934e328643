#pragma once
// The waiting-room Lua scripts (lua/*.lua with src/purchase/lua/common.lua and lua/common.lua
// in front), embedded at build time.
#include "redis/redis_client.hpp"

namespace ticketing::queue {

struct Scripts {
  redis::Script join, status, tick, info;
  static const Scripts& Get();
};

}  // namespace ticketing::queue
