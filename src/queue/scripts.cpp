#include "queue/scripts.hpp"

#include "queue/lua_sources.hpp"

namespace ticketing::queue {

const Scripts& Scripts::Get() {
  static const Scripts scripts{
      redis::Script(std::string(lua::k_join)),
      redis::Script(std::string(lua::k_status), false),
      redis::Script(std::string(lua::k_tick)),
      redis::Script(std::string(lua::k_info), false),
  };
  return scripts;
}

}  // namespace ticketing::queue
