-- Puts a product right from the database (stock sync, and the rebuild after Redis lost data):
-- the info hash from the product row; live holds (held or confirming) whose order is committed
-- (listed in ARGV[15..] as rid, orderId, totalCents) marked confirmed without returning their
-- units (Redis came back from before their confirm); available := database stock - units of
-- the remaining live holds; prefix:held recounted (units of holds in state 'held') and
-- prefix:confirming relisted (holds in state 'confirming'). Runs while
-- the caller holds the product row lock in the database, so no confirm can commit meanwhile.
-- KEYS[1] prefix:avail  KEYS[2] prefix:exp  KEYS[3] prefix:info
-- ARGV[1] prefix  ARGV[2] database stock
-- ARGV[3..12] name, priceCents, limit, holdSeconds ('' = server default), total, saleStartsAtMs ('' = open), then the
--   waiting room: enabled ('1'/'0'), admitPerSecond, maxActive, admissionTtlSeconds,
--   ARGV[13] powDifficulty ('' each when the product has no waiting room)
-- ARGV[14] paused ('1'/'0')   ARGV[15..] committed orders of live holds (rid, orderId, totalCents)
-- -> {before, after, liveUnits, holdsConfirmed}
local prefix = ARGV[1]
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'name', ARGV[3], 'price', ARGV[4], 'limit', ARGV[5], 'total', ARGV[7])
if ARGV[6] ~= '' then redis.call('HSET', KEYS[3], 'hold', ARGV[6]) end
if ARGV[8] ~= '' then redis.call('HSET', KEYS[3], 'start', ARGV[8]) end
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[3], 'q', ARGV[9], 'qrate', ARGV[10], 'qmax', ARGV[11], 'qttl', ARGV[12],
             'qpow', ARGV[13])
end
if ARGV[14] == '1' then redis.call('HSET', KEYS[3], 'paused', '1') end
local committed = {}
for i = 15, #ARGV - 2, 3 do committed[ARGV[i]] = {ARGV[i + 1], ARGV[i + 2]} end
local live = 0
local held = 0
local confirmed = 0
redis.call('DEL', prefix .. ':confirming')
for _, rid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local hkey = prefix .. ':h:' .. rid
  local h = redis.call('HMGET', hkey, 'state', 'qty')
  if h[1] == 'held' or h[1] == 'confirming' then
    local order = committed[rid]
    if order then
      -- Its units are sold: the database stock no longer has them; the buyer's counter keeps them.
      mark_confirmed(prefix, rid, hkey, order[1], order[2])
      confirmed = confirmed + 1
    else
      live = live + tonumber(h[2])
      if h[1] == 'held' then
        held = held + tonumber(h[2])
      else
        redis.call('SADD', prefix .. ':confirming', rid)
      end
    end
  end
end
redis.call('SET', prefix .. ':held', held)
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
local after = tonumber(ARGV[2]) - live
redis.call('SET', KEYS[1], after)
return {before, after, live, confirmed}
