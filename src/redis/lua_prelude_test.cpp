#include "redis/lua_prelude.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace ticketing::redis {
namespace {

constexpr std::string_view kPrelude =
    "-- helpers\n"
    "local LIMIT = 5\n"
    "local A, B = 1, 2\n"
    "\n"
    "-- The time.\n"
    "-- In ms.\n"
    "local function now_ms()\n"
    "  return LIMIT\n"
    "end\n"
    "\n"
    "local function twice(x)\n"
    "  return now_ms() + x\n"
    "end\n"
    "\n"
    "-- Unused by most.\n"
    "local function now_msx()\n"
    "  return {\n"
    "    1,\n"
    "  }\n"
    "end\n";

TEST(LinkPrelude, KeepsWhatTheBodyUsesAndWhatThatUses) {
  const std::string out = LinkPrelude(kPrelude, "return twice(1)\n");
  EXPECT_EQ(out,
            "-- helpers\n"
            "local LIMIT = 5\n"
            "-- The time.\n"
            "-- In ms.\n"
            "local function now_ms()\n"
            "  return LIMIT\n"
            "end\n"
            "\n"
            "local function twice(x)\n"
            "  return now_ms() + x\n"
            "end\n"
            "\n"
            "return twice(1)\n");
}

TEST(LinkPrelude, MatchesWholeWordsOnly) {
  // now_msx is not now_ms; my_twice is not twice.
  const std::string out = LinkPrelude(kPrelude, "return now_msx(), my_twice\n");
  EXPECT_EQ(out.find("local function now_ms()"), std::string::npos);
  EXPECT_EQ(out.find("local function twice"), std::string::npos);
  EXPECT_NE(out.find("local function now_msx()\n  return {\n    1,\n  }\nend\n"), std::string::npos);
}

TEST(LinkPrelude, KeepsEveryNameOfAMultipleDefinition) {
  EXPECT_NE(LinkPrelude(kPrelude, "return B\n").find("local A, B = 1, 2\n"), std::string::npos);
  EXPECT_EQ(LinkPrelude(kPrelude, "return 1\n"), "return 1\n");
}

TEST(LinkPrelude, RefusesTopLevelCodeThatDefinesNothing) {
  EXPECT_THROW(LinkPrelude("local function f()\nend\nredis.setresp(3)\n", "return f()\n"),
               std::invalid_argument);
}

}  // namespace
}  // namespace ticketing::redis
