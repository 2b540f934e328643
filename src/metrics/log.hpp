#pragma once
// Structured JSON logs, one object per line on stderr: {"ts":..,"level":..,"event":..,...}.
#include <boost/json/object.hpp>
#include <spdlog/spdlog.h>

#include <string_view>

namespace ticketing::log {

// Installs the JSON-lines logger as spdlog's default, at `level` (trace..off).
void Init(std::string_view level);

// Logs `event` with extra fields, e.g. Log(spdlog::level::info, "started", {{"port", 3000}}).
void Log(spdlog::level::level_enum level, std::string_view event, boost::json::object fields = {});

inline void Info(std::string_view event, boost::json::object fields = {}) {
  Log(spdlog::level::info, event, std::move(fields));
}
inline void Warn(std::string_view event, boost::json::object fields = {}) {
  Log(spdlog::level::warn, event, std::move(fields));
}
inline void Error(std::string_view event, boost::json::object fields = {}) {
  Log(spdlog::level::err, event, std::move(fields));
}

}  // namespace ticketing::log
