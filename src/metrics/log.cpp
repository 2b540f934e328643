#include "metrics/log.hpp"

#include "common/trace.hpp"

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace ticketing::log {
namespace {

constexpr std::string_view kFieldsMarker = "\x1f";  // Log() output: already JSON fields

void Append(spdlog::memory_buf_t& dest, std::string_view s) {
  dest.append(s.data(), s.data() + s.size());
}

// %* : JSON fields. Log() passes pre-serialized fields behind a marker; any other spdlog call
// (a library's, or a component logging plain text) becomes "msg":"<escaped text>", so every
// line stays one valid JSON object. The current trace context (common/trace.hpp) comes first.

class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view text(msg.payload.data(), msg.payload.size());
    // A synchronous logger formats on the thread that logs: its current request, if any.
    if (const auto* t = trace::Current()) {
      Append(dest, "\"trace\":\"");
      Append(dest, t->TraceId());
      Append(dest, "\",\"span\":\"");
      Append(dest, t->SpanId());
      if (t->request_id_size > 0) {
        Append(dest, "\",\"requestId\":\"");
        Append(dest, t->RequestId());  // printable, no quote or backslash (see http/trace.cpp)
      }
      Append(dest, "\",");
    }
    if (text.substr(0, kFieldsMarker.size()) == kFieldsMarker) {
      text.remove_prefix(kFieldsMarker.size());
      dest.append(text.data(), text.data() + text.size());
      return;
    }
    std::string escaped = boost::json::serialize(boost::json::string(text));
    static constexpr std::string_view kKey = "\"msg\":";
    dest.append(kKey.data(), kKey.data() + kKey.size());
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

void Init(std::string_view level) {
  auto logger = spdlog::stderr_logger_mt("ticketing");
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonMessageFlag>('*').set_pattern(
      R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l",%*})");
  logger->set_formatter(std::move(formatter));
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
  std::string payload(kFieldsMarker);
  payload.append(text, 1, text.size() - 2);
  spdlog::default_logger_raw()->log(level, payload);
}

}  // namespace ticketing::log
