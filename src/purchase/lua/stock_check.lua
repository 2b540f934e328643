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
local sold = {}
for i = 3, #ARGV do sold[ARGV[i]] = true end
local held, confirming, _, walked = live_units(prefix, ARGV[2], sold)
return {tonumber(redis.call('GET', KEYS[1]) or '0'), held + confirming,
        tonumber(redis.call('GET', prefix .. ':held') or '0'), held, redis.call('EXISTS', KEYS[3]),
        walked and 1 or 0}
