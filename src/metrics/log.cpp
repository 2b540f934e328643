#include "metrics/log.hpp"

#include <boost/json/serialize.hpp>
#include <spdlog/sinks/stdout_sinks.h>

namespace ticketing::log {

void Init(std::string_view level) {
  auto logger = spdlog::stderr_logger_mt("ticketing");
  logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%v})",
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
}

void Log(spdlog::level::level_enum level, std::string_view event, boost::json::object fields) {
  if (!spdlog::default_logger_raw()->should_log(level)) return;
  boost::json::object line;
  line["event"] = event;
  for (auto& kv : fields) line[kv.key()] = std::move(kv.value());
  std::string text = boost::json::serialize(line);
  // Drop the outer braces: the pattern supplies them around ts and level.
  spdlog::default_logger_raw()->log(level, std::string_view(text).substr(1, text.size() - 2));
}

}  // namespace ticketing::log
