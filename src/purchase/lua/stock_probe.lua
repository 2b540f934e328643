-- What the reconciler compares between rounds to skip a product nothing happened to: O(1).
-- KEYS[1] prefix:avail  KEYS[2] prefix:exp  KEYS[3] prefix:info   ARGV[1] prefix
-- -> {available, heldCounter, liveHoldIds (expiry index size), infoExists}
return {tonumber(redis.call('GET', KEYS[1]) or '0'),
        tonumber(redis.call('GET', ARGV[1] .. ':held') or '0'),
        redis.call('ZCARD', KEYS[2]), redis.call('EXISTS', KEYS[3])}
