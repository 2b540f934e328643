-- Checks the product, that its sale is not paused, its sale start, stock, the waiting-room admission (queue-enabled
-- products only) and the buyer's limit, then takes the units, writes the hold, schedules its
-- expiry and uses up the admission, all at once.
-- KEYS[1] prefix:info  KEYS[2] prefix:avail  KEYS[3] prefix:exp  KEYS[4] prefix:u:<user>
-- KEYS[5] prefix:h:<rid>
-- ARGV[1] user  ARGV[2] quantity  ARGV[3] rid  ARGV[4] default hold seconds  ARGV[5] prefix
-- ARGV[6] admission ticket ('' if none was presented)
-- ARGV[7] idempotency key ('' if none): the same buyer, product and key get the first hold back
-- ARGV[8] n rate limits (absent or '0': none): KEYS[6..5+n] their keys (prefix:rl:...),
-- ARGV[9..8+2n] their (emission, tolerance) in µs; checked once the units are there (not for
-- a reserve refused as not found, paused, not open or sold out, nor on a waiting-room
-- product), before anything is taken
-- -> {'OK', expiresAtMs, availableAfter, nowMs} | {'NOT_FOUND'} | {'SALE_NOT_OPEN', startMs}
--    | {'SALE_PAUSED'} (an admin paused the sale: info.paused = '1')
--    | {'SOLD_OUT', available} | {'NOT_ADMITTED'} | {'LIMIT_REACHED', used, limit}
--    | {'DUPLICATE'} | {'REPEATED', rid, qty, state, expiresAtMs, nowMs}
--    | {'RATE_LIMITED', retryAfterMs}
-- The checks and writes are reserve_check's and reserve_write's (lua/common.lua), shared with
-- reserve_batch.lua. The units are taken before anything else of the hold is written.
local P = reserve_start(KEYS[1], KEYS[2], KEYS[3], ARGV[4], ARGV[5])
local ukey, hkey, user, q, rid = KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3]
local refused, absent, fresh, ikey, tkey, after =
  reserve_check(P, ukey, hkey, user, q, rid, ARGV[6], ARGV[7], KEYS, 6, ARGV, 9,
                tonumber(ARGV[8] or '0') or 0)
if refused then return refused end
redis.call('DECRBY', P.avail_key, q)
redis.call('INCRBY', P.prefix .. ':held', q)
reserve_write(P, ukey, hkey, user, q, rid, absent, fresh, ikey, tkey)
redis.call('ZADD', P.exp_key, P.exps, rid)
return {'OK', P.exp, after, P.now}
