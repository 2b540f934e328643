-- A product's live figures for the admin console and its dashboard feed (sampled every few
-- seconds by every server, so O(1) in the live holds: a walk over 300,000 holds held Redis
-- for seconds): free units, units in held holds (the prefix:held counter), units in confirming
-- holds (prefix:confirming, the confirms in flight), holds ended so far, the pause flag.
-- KEYS[1] prefix:info  KEYS[2] prefix:avail   ARGV[1] prefix
-- -> {inRedis 0/1, available, heldUnits, confirmingUnits, expired, cancelled, paused 0/1}
local prefix = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, 0, 0, 0, 0, 0, 0} end
local held, confirming = live_units(prefix, -1, {})
local stats = redis.call('HMGET', prefix .. ':stats', 'expired', 'cancelled')
local paused = 0
if redis.call('HGET', KEYS[1], 'paused') == '1' then paused = 1 end
return {1, tonumber(redis.call('GET', KEYS[2]) or '0'), held, confirming,
        tonumber(stats[1]) or 0, tonumber(stats[2]) or 0, paused}
