// ISO-8601 <-> unix ms (src/common/iso_time.hpp): what ParseIsoUtcMs accepts must be a time
// FormatIsoUtcMs can write (1970-01-01 to 9999-12-31, UTC) and must read back unchanged from
// what it writes; and every such time formats into something ParseIsoUtcMs reads back.
#include "common/iso_time.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace {

constexpr std::int64_t kMaxMs = 253402300799999;  // 9999-12-31T23:59:59.999Z

[[noreturn]] void Fail(const char* what, std::string_view input, std::int64_t ms) {
  std::fprintf(stderr, "iso_time invariant broken: %s\n  input: \"%.*s\"\n  ms: %lld\n", what,
               static_cast<int>(input.size()), input.data(), static_cast<long long>(ms));
  std::abort();
}

void CheckFormats(std::int64_t ms, std::string_view input) {
  const std::string text = ticketing::FormatIsoUtcMs(ms);
  if (text.size() != 24) Fail("formatted time is not 24 characters", input, ms);
  if (ticketing::ParseIsoUtcMs(text) != ms) Fail("formatted time does not read back", text, ms);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto ms = ticketing::ParseIsoUtcMs(input)) {
    if (*ms < 0 || *ms > kMaxMs) Fail("parsed time outside 1970..9999", input, *ms);
    CheckFormats(*ms, input);
  }
  if (size >= 8) {  // the first 8 bytes as a time in range
    std::uint64_t raw = 0;
    std::memcpy(&raw, data, 8);
    CheckFormats(static_cast<std::int64_t>(raw % (kMaxMs + 1)), input);
  }
  return 0;
}
