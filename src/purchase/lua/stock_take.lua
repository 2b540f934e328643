-- Takes ARGV[1] free units out of a product for a stock remove, all or none: only units in
-- prefix:avail are free (units in live holds are not there, sold ones are not in the stock).
-- Runs while the caller holds the product's row lock, right after a reconcile (rebuild.hpp).
-- KEYS[1] prefix:avail  KEYS[2] prefix:info   ARGV[1] units  ARGV[2] total after the remove
-- -> {1, availableAfter} | {0, availableNow}
local n = tonumber(ARGV[1])
local avail = tonumber(redis.call('GET', KEYS[1]) or '0')
if avail < n then return {0, math.max(avail, 0)} end
redis.call('DECRBY', KEYS[1], n)
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('HSET', KEYS[2], 'total', ARGV[2]) end
return {1, avail - n}
