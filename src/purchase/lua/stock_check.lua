-- Measures how far a product's Redis figures are from the database, changing nothing (the
-- reconciler, reconciler.hpp). The same count as sync_stock.lua: live holds (held or
-- confirming) whose order is committed (ARGV[3..]) are sold, not live. Runs while the caller
-- holds the product row lock in the database, so no confirm commits meanwhile.
-- With at most ARGV[2] live holds, every hold is read, and the held counter is checked against
-- them. With more (a big sale in full swing), the live units come from the counters, as
-- sync_stock.lua counts them: prefix:held (less the held holds whose order is committed) and
-- the holds listed in prefix:confirming. Available is then checked, the held counter is not.
-- KEYS[1] prefix:avail  KEYS[2] prefix:exp  KEYS[3] prefix:info
-- ARGV[1] prefix  ARGV[2] the most live holds walked
-- ARGV[3..] reservation ids of committed orders that may be of live holds
-- -> {available, liveUnits, heldCounter, heldUnits, infoExists, walked (1/0)}
local prefix = ARGV[1]
local committed = {}
for i = 3, #ARGV do committed[ARGV[i]] = true end
local counter = tonumber(redis.call('GET', prefix .. ':held') or '0')
local live = 0
local held = 0
local walked = redis.call('ZCARD', KEYS[2]) <= tonumber(ARGV[2])
if walked then
  for _, rid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local h = redis.call('HMGET', prefix .. ':h:' .. rid, 'state', 'qty')
    if (h[1] == 'held' or h[1] == 'confirming') and not committed[rid] then
      live = live + tonumber(h[2])
      if h[1] == 'held' then held = held + tonumber(h[2]) end
    end
  end
else
  held = counter
  for i = 3, #ARGV do
    local h = redis.call('HMGET', prefix .. ':h:' .. ARGV[i], 'state', 'qty')
    if h[1] == 'held' then held = held - tonumber(h[2]) end
  end
  live = held
  for _, rid in ipairs(redis.call('SMEMBERS', prefix .. ':confirming')) do
    if not committed[rid] then
      local h = redis.call('HMGET', prefix .. ':h:' .. rid, 'state', 'qty')
      if h[1] == 'confirming' then live = live + tonumber(h[2]) end
    end
  end
end
local avail = tonumber(redis.call('GET', KEYS[1]) or '0')
return {avail, live, counter, held, redis.call('EXISTS', KEYS[3]), walked and 1 or 0}
