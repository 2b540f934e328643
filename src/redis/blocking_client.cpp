#include "redis/blocking_client.hpp"

#include <hiredis/hiredis.h>

#include <sys/time.h>

#include <stdexcept>

namespace ticketing::redis {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

}  // namespace

BlockingConnection::BlockingConnection(const std::string& host, std::uint16_t port,
                                       std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ctx_ = redisConnectWithTimeout(host.c_str(), port, tv);
  if (!ctx_ || ctx_->err) {
    std::string why = ctx_ ? ctx_->errstr : "out of memory";
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    throw Unavailable("redis: " + why);
  }
  redisSetTimeout(ctx_, tv);
}

BlockingConnection::~BlockingConnection() {
  if (ctx_) redisFree(ctx_);
}

Value BlockingConnection::Command(const std::vector<std::string>& args) {
  if (args.empty()) throw std::invalid_argument("redis: empty command");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  std::unique_ptr<redisReply, ReplyDeleter> reply(static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), lens.data())));
  if (!reply) throw Unavailable(std::string("redis: ") + ctx_->errstr);
  Value v = FromReply(reply.get());
  if (IsRefusal(v)) throw NotSent("redis: " + v.str);
  return v;
}

Value BlockingConnection::Eval(const Script& script, const std::vector<std::string>& keys,
                               const std::vector<std::string>& args) {
  std::vector<std::string> cmd{"EVALSHA", script.sha1, std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  Value v = Command(cmd);
  if (v.IsError() && v.str.rfind("NOSCRIPT", 0) == 0) {
    Value loaded = Command({"SCRIPT", "LOAD", script.source});
    if (loaded.IsError()) throw std::runtime_error("redis: SCRIPT LOAD failed: " + loaded.str);
    v = Command(cmd);
  }
  return v;
}

}  // namespace ticketing::redis
