-- Checks the product, stock and the buyer's limit, takes the units, writes the hold and
-- schedules its expiry, all at once.
-- KEYS[1] prefix:info  KEYS[2] prefix:avail  KEYS[3] prefix:exp  KEYS[4] prefix:u:<user>
-- KEYS[5] prefix:h:<rid>
-- ARGV[1] user  ARGV[2] quantity  ARGV[3] rid  ARGV[4] default hold seconds
-- -> {'OK', expiresAtMs, availableAfter, nowMs} | {'NOT_FOUND'} | {'SOLD_OUT', available}
--    | {'LIMIT_REACHED', used, limit} | {'DUPLICATE'}
local qty = tonumber(ARGV[2])
local info = redis.call('HMGET', KEYS[1], 'limit', 'hold')
if not info[1] then return {'NOT_FOUND'} end
local avail = tonumber(redis.call('GET', KEYS[2]) or '0')
if avail < qty then return {'SOLD_OUT', avail} end
local used = tonumber(redis.call('GET', KEYS[4]) or '0')
local limit = tonumber(info[1])
if used + qty > limit then return {'LIMIT_REACHED', used, limit} end
if redis.call('EXISTS', KEYS[5]) == 1 then return {'DUPLICATE'} end
local now = now_ms()
local hold = tonumber(info[2]) or tonumber(ARGV[4])
local exp = now + hold * 1000
redis.call('DECRBY', KEYS[2], qty)
redis.call('INCRBY', KEYS[4], qty)
redis.call('HSET', KEYS[5], 'user', ARGV[1], 'qty', qty, 'state', 'held', 'exp', exp,
           'created', now)
redis.call('ZADD', KEYS[3], exp, ARGV[3])
return {'OK', exp, avail - qty, now}
