-- Puts a product right from the database (stock sync, and the rebuild after Redis lost data),
-- once confirm_committed.lua has marked the live holds whose order is committed: the info hash
-- from the product row, and available := database stock - units of the live holds (held or
-- confirming). Runs while the caller holds the product row lock in the database, so no confirm
-- can commit meanwhile.
-- The live units come from every live hold when the product has at most ARGV[15] of them; the
-- counters (prefix:held, prefix:confirming) are then rebuilt from the holds, which repairs
-- counters that drifted. With more, they come from the counters the scripts keep exact:
-- prefix:held and the holds listed in prefix:confirming (the confirms in flight, few). So a
-- sync in the middle of a sale holds Redis for a time that does not grow with the crowd.
-- KEYS[1] prefix:avail  KEYS[2] prefix:exp  KEYS[3] prefix:info
-- ARGV[1] prefix  ARGV[2] database stock
-- ARGV[3..12] name, priceCents, limit, holdSeconds ('' = server default), total, saleStartsAtMs ('' = open), then the
--   waiting room: enabled ('1'/'0'), admitPerSecond, maxActive, admissionTtlSeconds,
--   ARGV[13] powDifficulty ('' each when the product has no waiting room)
-- ARGV[14] paused ('1'/'0')   ARGV[15] the most live holds walked
-- -> {before, after, liveUnits, walked (1: from every hold, 0: from the counters)}
local prefix = ARGV[1]
-- A pause that goes on keeps its start (product_pause.lua); one Redis did not know of starts now.
local paused_at = redis.call('HGET', KEYS[3], 'pausedAt')
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'name', ARGV[3], 'price', ARGV[4], 'limit', ARGV[5], 'total', ARGV[7])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], 'hold', ARGV[6]) end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[3], 'start', ARGV[8]) end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[3], 'q', ARGV[9], 'qrate', ARGV[10], 'qmax', ARGV[11], 'qttl', ARGV[12],
             'qpow', ARGV[13])
end
if ARGV[14] == '1' then
  redis.call('HSET', KEYS[3], 'paused', '1', 'pausedAt', paused_at or now_ms())
end
local held, confirming, ids, walked = live_units(prefix, ARGV[15], {})
-- The counters, as counted: rebuilt from the holds when they were read; stale entries (holds
-- no longer confirming) leave the confirming list either way.
redis.call('SET', prefix .. ':held', held)
local confirming_key = prefix .. ':confirming'
redis.call('DEL', confirming_key)
for _, rid in ipairs(ids) do redis.call('SADD', confirming_key, rid) end
local live = held + confirming
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
local after = tonumber(ARGV[2]) - live
redis.call('SET', KEYS[1], after)
return {before, after, live, walked and 1 or 0}
