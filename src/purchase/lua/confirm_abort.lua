-- The order did not commit; only the holder of the lease (ARGV[4]) may say so. Modes:
-- 'restore': back to held (still expiring at its old time), so a retry can confirm.
-- 'release': the database refused the order for this buyer (per-buyer limit): end the hold as
--   cancelled and give its units back.
-- 'void': the database had no stock for it (Redis and the database disagreed): end the hold
--   without returning units; the caller then re-syncs the product's stock from the database.
-- KEYS[1] prefix:h:<rid>   ARGV[1] prefix  ARGV[2] rid  ARGV[3] mode  ARGV[4] lease id
-- -> 'OK' | 'SKIP' (not confirming under this lease any more)
local h = redis.call('HMGET', KEYS[1], 'state', 'lid', 'qty', 'user')
if h[1] ~= 'confirming' or h[2] ~= ARGV[4] then return 'SKIP' end
if ARGV[3] == 'restore' then
  restore_held(ARGV[1], ARGV[2], KEYS[1])
  return 'OK'
end
if ARGV[3] == 'release' then
  -- release() returns the units; a confirming hold is not counted in prefix:held.
  release(ARGV[1], ARGV[2], KEYS[1], 'cancelled')
  redis.call('HSET', KEYS[1], 'refused', 'limit')
  return 'OK'
end
local ukey = ARGV[1] .. ':u:' .. h[4]
if tonumber(redis.call('DECRBY', ukey, tonumber(h[3]))) <= 0 then redis.call('DEL', ukey) end
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'ended', now_ms(), 'void', 1)
redis.call('HDEL', KEYS[1], 'lid')
redis.call('SREM', ARGV[1] .. ':confirming', ARGV[2])
end_hold(ARGV[1], ARGV[2], KEYS[1], h[4])
return 'OK'
