#include "redis/lua_prelude.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace ticketing::redis {
namespace {

// The prelude's definitions, each with the comment and blank line that belong to it.
const std::string kHead = "-- helpers\nlocal LIMIT = 5\n";
const std::string kPair = "local A, B = 1, 2\n\n";
const std::string kNowMs =
    "-- The time.\n-- In ms.\nlocal function now_ms()\n  return LIMIT\nend\n\n";
const std::string kTwice = "local function twice(x)\n  return now_ms() + x\nend\n\n";
const std::string kNowMsx =
    "-- Unused by most.\nlocal function now_msx()\n  return {\n    1,\n  }\nend\n";
const std::string kPrelude = kHead + kPair + kNowMs + kTwice + kNowMsx;

TEST(LinkPrelude, KeepsWhatTheBodyUsesAndWhatThatUses) {
  EXPECT_EQ(LinkPrelude(kPrelude, "return twice(1)\n"),
            kHead + kNowMs + kTwice + "return twice(1)\n");
}

TEST(LinkPrelude, MatchesWholeWordsOnly) {
  // now_msx is not now_ms; my_twice is not twice.
  const std::string out = LinkPrelude(kPrelude, "return now_msx(), my_twice\n");
  EXPECT_EQ(out.find("local function now_ms()"), std::string::npos);
  EXPECT_EQ(out.find("local function twice"), std::string::npos);
  EXPECT_NE(out.find(kNowMsx), std::string::npos);
}

TEST(LinkPrelude, KeepsEveryNameOfAMultipleDefinition) {
  EXPECT_NE(LinkPrelude(kPrelude, "return B\n").find(kPair), std::string::npos);
  EXPECT_EQ(LinkPrelude(kPrelude, "return 1\n"), "return 1\n");
}

TEST(LinkPrelude, RefusesTopLevelCodeThatDefinesNothing) {
  EXPECT_THROW(LinkPrelude("local function f()\nend\nredis.setresp(3)\n", "return f()\n"),
               std::invalid_argument);
}

}  // namespace
}  // namespace ticketing::redis
