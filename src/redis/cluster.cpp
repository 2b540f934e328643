#include "redis/cluster.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace ticketing::redis {
namespace {

constexpr std::array<std::uint16_t, 256> MakeCrcTable() {
  std::array<std::uint16_t, 256> t{};
  for (unsigned i = 0; i < 256; ++i) {
    auto crc = static_cast<std::uint16_t>(i << 8);
    for (int b = 0; b < 8; ++b) {
      crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    t[i] = crc;
  }
  return t;
}
constexpr auto kCrcTable = MakeCrcTable();

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

std::optional<int> ToInt(std::string_view s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<Endpoint> ParseEndpoint(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return std::nullopt;
  auto port = ToInt(s.substr(colon + 1));
  if (!port || *port <= 0 || *port > 65535) return std::nullopt;
  return Endpoint{std::string(s.substr(0, colon)), static_cast<std::uint16_t>(*port)};
}

}  // namespace

std::uint16_t Crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (unsigned char c : data) {
    crc = static_cast<std::uint16_t>((crc << 8) ^ kCrcTable[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

int KeySlot(std::string_view key) {
  const auto open = key.find('{');
  if (open != std::string_view::npos) {
    const auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return Crc16(key) & (kSlots - 1);
}

int FirstKeyIndex(const std::vector<std::string>& args) {
  if (args.size() < 2) return -1;
  const std::string_view name = args[0];
  if (IEquals(name, "EVALSHA") || IEquals(name, "EVAL") || IEquals(name, "EVALSHA_RO") ||
      IEquals(name, "EVAL_RO") || IEquals(name, "FCALL")) {
    if (args.size() < 4) return -1;
    auto n = ToInt(args[2]);
    return n && *n > 0 ? 3 : -1;
  }
  for (std::string_view keyless : {"PING", "INFO", "SCRIPT", "CLUSTER", "WAIT", "ECHO", "TIME",
                                   "DBSIZE", "FLUSHALL", "FLUSHDB", "CONFIG", "ASKING", "ROLE",
                                   "READONLY", "READWRITE", "CLIENT", "SCAN", "FUNCTION"}) {
    if (IEquals(name, keyless)) return -1;
  }
  return 1;
}

std::vector<Endpoint> ParseEndpoints(std::string_view list) {
  std::vector<Endpoint> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto item = list.substr(0, comma);
    auto ep = ParseEndpoint(item);
    if (!ep) throw std::invalid_argument("not host:port: '" + std::string(item) + "'");
    out.push_back(std::move(*ep));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (out.empty()) throw std::invalid_argument("no host:port given");
  return out;
}

std::optional<Redirect> ParseRedirect(const Value& reply) {
  if (!reply.IsError()) return std::nullopt;
  std::string_view s = reply.str;
  Redirect r;
  if (s.starts_with("MOVED ")) {
    r.kind = Redirect::Kind::kMoved;
    s.remove_prefix(6);
  } else if (s.starts_with("ASK ")) {
    r.kind = Redirect::Kind::kAsk;
    s.remove_prefix(4);
  } else {
    return std::nullopt;
  }
  const auto space = s.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto slot = ToInt(s.substr(0, space));
  auto to = ParseEndpoint(s.substr(space + 1));
  if (!slot || *slot < 0 || *slot >= kSlots || !to) return std::nullopt;
  r.slot = *slot;
  r.to = std::move(*to);
  return r;
}

std::vector<SlotRange> ParseClusterSlots(const Value& reply) {
  if (reply.type != Value::Type::kArray) {
    throw std::runtime_error("CLUSTER SLOTS: " + (reply.IsError() ? reply.str : "not an array"));
  }
  std::vector<SlotRange> out;
  for (const auto& range : reply.elements) {
    if (range.type != Value::Type::kArray || range.elements.size() < 3 ||
        range.elements[2].type != Value::Type::kArray || range.elements[2].elements.size() < 2) {
      throw std::runtime_error("CLUSTER SLOTS: unexpected entry");
    }
    const auto& master = range.elements[2].elements;
    SlotRange r;
    r.first = static_cast<int>(range.elements[0].AsInt());
    r.last = static_cast<int>(range.elements[1].AsInt());
    r.master.host = master[0].str;
    r.master.port = static_cast<std::uint16_t>(master[1].AsInt());
    if (r.first < 0 || r.last >= kSlots || r.first > r.last || r.master.host.empty()) {
      throw std::runtime_error("CLUSTER SLOTS: bad range");
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace ticketing::redis
