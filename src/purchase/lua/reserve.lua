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
local now_u = now_us()  -- one TIME call for the limits and the hold
local now = math.floor(now_u / 1000)
local qty = tonumber(ARGV[2])
local info = redis.call('HMGET', KEYS[1], 'limit', 'hold', 'start', 'q', 'paused')
if not info[1] then return {'NOT_FOUND'} end
local ikey = nil
if ARGV[7] and ARGV[7] ~= '' then
  -- A retry (the first answer was lost to a timeout) finds the hold the first attempt made.
  ikey = ARGV[5] .. ':k:' .. ARGV[1] .. ':' .. ARGV[7]
  local prev = redis.call('GET', ikey)
  if prev then
    local h = redis.call('HMGET', ARGV[5] .. ':h:' .. prev, 'qty', 'state', 'exp')
    if h[1] then
      return {'REPEATED', prev, tonumber(h[1]), h[2], tonumber(h[3]), now}
    end
  end
end
if info[5] == '1' then return {'SALE_PAUSED'} end
if info[3] and now < tonumber(info[3]) then return {'SALE_NOT_OPEN', tonumber(info[3])} end
local avail = tonumber(redis.call('GET', KEYS[2]) or '0')
if avail < qty then return {'SOLD_OUT', avail} end
-- The rate limits count only reserves that could take units: a refusal above costs nothing
-- and writes nothing (a stampede on a sold-out product must not write a key per request).
-- A waiting-room product has none: its admission is good for one hold, which caps a buyer
-- harder than any rate, and the limit's key would cost Redis a sixth more per hold.
local nlimits = tonumber(ARGV[8] or '0') or 0
if nlimits > 0 and info[4] ~= '1' then
  local wait = rate_limit(KEYS, 6, ARGV, 9, nlimits, now_u)
  if wait > 0 then return {'RATE_LIMITED', math.ceil(wait / 1000)} end
end
local tkey = nil
if info[4] == '1' then
  -- An admission is good once, for its buyer, until it expires.
  if ARGV[6] == '' then return {'NOT_ADMITTED'} end
  tkey = ARGV[5] .. ':q:t:' .. ARGV[6]
  local t = redis.call('HMGET', tkey, 'user', 'state', 'adm')
  if t[1] ~= ARGV[1] or t[2] ~= 'admitted' or tonumber(t[3]) <= now then
    return {'NOT_ADMITTED'}
  end
end
local used = tonumber(redis.call('GET', KEYS[4]) or '0')
local limit = tonumber(info[1])
if used + qty > limit then return {'LIMIT_REACHED', used, limit} end
if redis.call('EXISTS', KEYS[5]) == 1 then return {'DUPLICATE'} end
local hold = tonumber(info[2]) or tonumber(ARGV[4])
local exp = now + hold * 1000
-- Redis turns every number handed to redis.call into text (snprintf, the largest single cost
-- of this script), so each is converted once: the quantity as the server sent it (decimal),
-- the expiry, now, and the day the buyer's keys are kept to.
local q = ARGV[2]
local exps, nows, keep = tostring(exp), tostring(now), tostring(exp + RETAIN_MS)
redis.call('DECRBY', KEYS[2], q)
redis.call('INCRBY', ARGV[5] .. ':held', q)
-- A first hold of this buyer makes their keys: their expiry is set in one call each.
local fresh = redis.call('INCRBY', KEYS[4], q) == qty
keep_until(KEYS[4], keep, fresh)
redis.call('HSET', KEYS[5], 'user', ARGV[1], 'qty', q, 'state', 'held', 'exp', exps,
           'created', nows)
redis.call('ZADD', KEYS[3], exps, ARGV[3])
local uhkey = ARGV[5] .. ':uh:' .. ARGV[1]
redis.call('SADD', uhkey, ARGV[3])
keep_until(uhkey, keep, fresh)
if ikey then redis.call('SET', ikey, ARGV[3], 'PX', hold * 1000 + FINISHED_MS) end
if tkey then
  -- The buyer stays active (counted against maxActive) until the hold ends.
  redis.call('HSET', tkey, 'state', 'used', 'usedAt', nows, 'rid', ARGV[3])
  redis.call('HSET', KEYS[5], 'adm', '1')
  redis.call('ZADD', ARGV[5] .. ':q:active', exps, ARGV[1])
end
return {'OK', exp, avail - qty, now}
