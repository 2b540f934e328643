#pragma once
// Redis Cluster arithmetic and reply parsing, without I/O: key slots (CRC16 of the hash tag),
// where a command's first key is, MOVED/ASK errors, the CLUSTER SLOTS reply, endpoint lists.
#include "redis/redis_client.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ticketing::redis {

inline constexpr int kSlots = 16384;

// CRC16-CCITT (XModem), the checksum Redis Cluster hashes keys with.
std::uint16_t Crc16(std::string_view data);
// The slot of `key`: of the part between the first '{' and the next '}' if that part is not
// empty (the hash tag), else of the whole key.
int KeySlot(std::string_view key);
// Index of the argument that is the command's first key (EVAL/EVALSHA: the first of KEYS),
// or -1 for a command without keys (PING, INFO, SCRIPT, CLUSTER, WAIT, an EVAL of no keys…),
// which any master may run.
int FirstKeyIndex(const std::vector<std::string>& args);

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
  std::string ToString() const { return host + ":" + std::to_string(port); }
};

// "host:port,host:port" (spaces around items allowed). Throws std::invalid_argument.
std::vector<Endpoint> ParseEndpoints(std::string_view list);

// A "-MOVED 3999 127.0.0.1:6381" or "-ASK 3999 127.0.0.1:6381" error reply.
struct Redirect {
  enum class Kind { kMoved, kAsk };
  Kind kind = Kind::kMoved;
  int slot = 0;
  Endpoint to;
};
std::optional<Redirect> ParseRedirect(const Value& reply);

// One range of a CLUSTER SLOTS reply and the master that serves it.
struct SlotRange {
  int first = 0;
  int last = 0;
  Endpoint master;
};
// Throws std::runtime_error on a reply of another shape (or an error reply).
std::vector<SlotRange> ParseClusterSlots(const Value& reply);

}  // namespace ticketing::redis
