-- Measures how far a product's Redis figures are from the database, changing nothing (the
-- reconciler, reconciler.hpp). The same count as sync_stock.lua: live holds (held or
-- confirming) whose order is committed (ARGV[2..]) are sold, not live. Runs while the caller
-- holds the product row lock in the database, so no confirm commits meanwhile.
-- KEYS[1] prefix:avail  KEYS[2] prefix:exp  KEYS[3] prefix:info   ARGV[1] prefix
-- ARGV[2..] reservation ids of live holds whose order is committed
-- -> {available, liveUnits, heldCounter, heldUnits, infoExists}
local prefix = ARGV[1]
local committed = {}
for i = 2, #ARGV do committed[ARGV[i]] = true end
local live = 0
local held = 0
for _, rid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local h = redis.call('HMGET', prefix .. ':h:' .. rid, 'state', 'qty')
  if (h[1] == 'held' or h[1] == 'confirming') and not committed[rid] then
    live = live + tonumber(h[2])
    if h[1] == 'held' then held = held + tonumber(h[2]) end
  end
end
local avail = tonumber(redis.call('GET', KEYS[1]) or '0')
local counter = tonumber(redis.call('GET', prefix .. ':held') or '0')
return {avail, live, counter, held, redis.call('EXISTS', KEYS[3])}
