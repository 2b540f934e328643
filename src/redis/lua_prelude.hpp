#pragma once
// Scripts share helper functions through a prelude (src/purchase/lua/common.lua and others).
// Redis runs a script's whole text on every EVALSHA, so each function defined in front of it
// is built anew on every call, used or not (about 0.7-1.5k Redis instructions each, measured).
// LinkPrelude keeps only what the script needs.
#include <string>
#include <string_view>

namespace ticketing::redis {

// `body` with the parts of `prelude` it needs in front, in the prelude's order.
//
// The prelude is read as top-level definitions, each starting at a line (column 0) that reads
// `local function NAME` or `local NAME` and running to the next such line; comment lines just
// above a definition belong to it. A definition is kept when its NAME appears as a word in the
// body or in a kept definition; anything before the first definition is always kept. A word
// that only looks like a use (in a comment or a string) keeps a definition that is not needed,
// never the other way round, so a script runs as it would with the whole prelude. Any other
// top-level statement (one that would run only with the definition before it) is refused with
// std::invalid_argument.
std::string LinkPrelude(std::string_view prelude, std::string_view body);

}  // namespace ticketing::redis
