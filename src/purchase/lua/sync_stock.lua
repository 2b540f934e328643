-- available := database stock - units in live holds. Holds count while held, and while
-- confirming unless their order is already committed (listed in ARGV[3..]). Runs while the
-- caller holds the product row lock in the database, so no confirm can commit meanwhile.
-- Also recounts prefix:held (units of holds in state 'held').
-- KEYS[1] prefix:avail  KEYS[2] prefix:exp   ARGV[1] prefix  ARGV[2] database stock
-- -> {before, after, liveHeldUnits}
local committed = {}
for i = 3, #ARGV do committed[ARGV[i]] = true end
local live = 0
local held = 0
for _, rid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local h = redis.call('HMGET', ARGV[1] .. ':h:' .. rid, 'state', 'qty')
  if h[1] == 'held' or (h[1] == 'confirming' and not committed[rid]) then
    live = live + tonumber(h[2])
  end
  if h[1] == 'held' then held = held + tonumber(h[2]) end
end
redis.call('SET', ARGV[1] .. ':held', held)
local before = tonumber(redis.call('GET', KEYS[1]) or '0')
local after = tonumber(ARGV[2]) - live
redis.call('SET', KEYS[1], after)
return {before, after, live}
