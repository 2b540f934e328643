#include "redis/blocking_client.hpp"

#include <hiredis/hiredis.h>

#include <sys/time.h>

#include <stdexcept>

namespace ticketing::redis {
namespace {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

constexpr int kMaxRedirects = 5;

}  // namespace

void BlockingConnection::ContextDeleter::operator()(redisContext* c) const { redisFree(c); }

BlockingConnection::ContextPtr BlockingConnection::Connect(const std::string& host,
                                                           std::uint16_t port) const {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
  ContextPtr ctx(redisConnectWithTimeout(host.c_str(), port, tv));
  if (!ctx || ctx->err) {
    std::string why = ctx ? ctx->errstr : "out of memory";
    throw Unavailable("redis: " + host + ":" + std::to_string(port) + ": " + why);
  }
  redisSetTimeout(ctx.get(), tv);
  return ctx;
}

BlockingConnection::BlockingConnection(const std::string& host, std::uint16_t port,
                                       std::chrono::milliseconds timeout, bool cluster)
    : timeout_(timeout), cluster_(cluster), ctx_(Connect(host, port)) {}

BlockingConnection::~BlockingConnection() = default;

Value RunOn(redisContext* ctx, const std::vector<std::string>& args) {
  if (args.empty()) throw std::invalid_argument("redis: empty command");
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  std::unique_ptr<redisReply, ReplyDeleter> reply(static_cast<redisReply*>(
      redisCommandArgv(ctx, static_cast<int>(args.size()), argv.data(), lens.data())));
  if (!reply) throw Unavailable(std::string("redis: ") + ctx->errstr);
  Value v = FromReply(reply.get());
  if (IsRefusal(v)) throw NotSent("redis: " + v.str);
  return v;
}

redisContext* BlockingConnection::Node(const Endpoint& at) {
  auto& slot = nodes_[at.ToString()];
  if (!slot) slot = Connect(at.host, at.port);
  return slot.get();
}

Value BlockingConnection::Routed(const std::vector<std::string>& args, redisContext** used,
                                 bool* asking) {
  redisContext* ctx = ctx_.get();
  *asking = false;
  int slot = -1;
  if (cluster_) {
    const int key = FirstKeyIndex(args);
    if (key >= 0) slot = KeySlot(args[static_cast<std::size_t>(key)]);
    if (auto it = moved_.find(slot); it != moved_.end()) ctx = Node(it->second);
  }
  for (int hop = 0;; ++hop) {
    if (*asking) RunOn(ctx, {"ASKING"});
    Value v = RunOn(ctx, args);
    *used = ctx;
    auto redirect = cluster_ ? ParseRedirect(v) : std::nullopt;
    if (!redirect) return v;
    if (hop == kMaxRedirects) throw Unavailable("redis: too many redirections: " + v.str);
    ctx = Node(redirect->to);
    *asking = redirect->kind == Redirect::Kind::kAsk;
    if (!*asking) moved_[redirect->slot] = redirect->to;
  }
}

Value BlockingConnection::Command(const std::vector<std::string>& args) {
  redisContext* used = nullptr;
  bool asking = false;
  return Routed(args, &used, &asking);
}

Value BlockingConnection::Eval(const Script& script, const std::vector<std::string>& keys,
                               const std::vector<std::string>& args) {
  std::vector<std::string> cmd{"EVALSHA", script.sha1, std::to_string(keys.size())};
  cmd.insert(cmd.end(), keys.begin(), keys.end());
  cmd.insert(cmd.end(), args.begin(), args.end());
  redisContext* used = nullptr;
  bool asking = false;
  Value v = Routed(cmd, &used, &asking);
  if (v.IsError() && v.str.rfind("NOSCRIPT", 0) == 0) {
    Value loaded = RunOn(used, {"SCRIPT", "LOAD", script.source});
    if (loaded.IsError()) throw std::runtime_error("redis: SCRIPT LOAD failed: " + loaded.str);
    if (asking) RunOn(used, {"ASKING"});
    v = RunOn(used, cmd);
  }
  return v;
}

}  // namespace ticketing::redis
