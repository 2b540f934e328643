#include "queue/scripts.hpp"

#include "queue/lua_sources.hpp"
#include "redis/lua_prelude.hpp"

namespace ticketing::queue {

namespace {

// A script with the parts of the prelude it uses (redis/lua_prelude.hpp).
redis::Script Linked(std::string_view body, bool changes_state = true) {
  return redis::Script(redis::LinkPrelude(lua::k_prelude, body), changes_state);
}

}  // namespace

const Scripts& Scripts::Get() {
  static const Scripts scripts{
      Linked(lua::k_join),
      Linked(lua::k_status, false),
      Linked(lua::k_tick),
      Linked(lua::k_info, false),
  };
  return scripts;
}

}  // namespace ticketing::queue
