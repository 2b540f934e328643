#pragma once
// ISO-8601 timestamps <-> unix milliseconds, without the C library's time zones. Header-only;
// used by the HTTP layer, the waiting room and the load generator.
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

namespace ticketing {

namespace detail {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
constexpr std::int64_t DaysFromCivil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

constexpr bool Digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace detail

// 9999-12-31T23:59:59.999Z, the last time ParseIsoUtcMs accepts and FormatIsoUtcMs writes.
inline constexpr std::int64_t kMaxIsoUtcMs = 253402300799999;

// Parses "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)" (years 1970-9999; the fraction is
// cut to milliseconds; a zone is required, an offset is converted to UTC). nullopt if malformed,
// or if the time in UTC is outside 1970-01-01T00:00:00Z..9999-12-31T23:59:59.999Z, the range
// FormatIsoUtcMs writes (an offset can move a time written in range out of it).
constexpr std::optional<std::int64_t> ParseIsoUtcMs(std::string_view s) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!detail::Digits(s, 0, 4, year) || s.size() < 20 || s[4] != '-' ||
      !detail::Digits(s, 5, 2, month) || s[7] != '-' || !detail::Digits(s, 8, 2, day) ||
      (s[10] != 'T' && s[10] != 't') || !detail::Digits(s, 11, 2, hour) || s[13] != ':' ||
      !detail::Digits(s, 14, 2, minute) || s[16] != ':' || !detail::Digits(s, 17, 2, second)) {
    return std::nullopt;
  }
  if (year < 1970 || month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) {
    return std::nullopt;
  }
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int month_days = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
  if (day < 1 || day > month_days) return std::nullopt;

  std::size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (s[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0 || digits > 9) return std::nullopt;
    for (std::size_t i = digits; i < 3; ++i) millis *= 10;
  }
  std::int64_t offset_minutes = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh = 0, om = 0;
    if (!detail::Digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !detail::Digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_minutes = (s[pos] == '+' ? 1 : -1) * (oh * 60 + om);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const std::int64_t days =
      detail::DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t seconds =
      days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  const std::int64_t ms = seconds * 1000 + millis;
  if (ms < 0 || ms > kMaxIsoUtcMs) return std::nullopt;
  return ms;
}

// "YYYY-MM-DDTHH:MM:SS.mmmZ" for unix ms from 0 to kMaxIsoUtcMs.
inline std::string FormatIsoUtcMs(std::int64_t ms) {
  std::int64_t days = ms / 86400000;
  std::int64_t rest = ms % 86400000;
  // civil_from_days
  days += 719468;
  const std::int64_t era = days / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(y), m, d, static_cast<long long>(rest / 3600000),
                static_cast<long long>(rest / 60000 % 60), static_cast<long long>(rest / 1000 % 60),
                static_cast<long long>(rest % 1000));
  return buf;
}

}  // namespace ticketing
