-- Puts the buyer in the product's line, or returns the place they already have (a ticket that
-- is waiting, admitted or used). Before the sale starts the order is the random ARGV[4], so
-- the pre-queue is shuffled; after it, arrivals are FIFO.
-- KEYS[1] prefix:info
-- ARGV[1] prefix  ARGV[2] user  ARGV[3] new ticket  ARGV[4] random order in [0, 2^52)
-- ARGV[5] max waiting  ARGV[6] retain ms (tickets and the line: counted from the later of now
-- and the sale start)
-- ARGV[7] proof-of-work challenge id ('' none)  ARGV[8] its expiry ms  ARGV[9] its difficulty
-- (MAC and hash checked by the server): with info qpow > 0 every join needs a proof at least
-- that hard, unexpired by Redis time and not used before; it is marked used here
-- (prefix:q:pow:<id> until its expiry), so the join and the mark are one step. A join refused
-- for the line's sake (paused, full) leaves the proof unused: the buyer tries again with it.
-- ARGV[10] n rate limits (absent or '0': none): KEYS[2..1+n] their keys (prefix:rl:...),
-- ARGV[11..10+2n] their (emission, tolerance) in µs; checked before anything else of the join
-- (a limited join counts nothing, uses no proof), in this call rather than one of their own.
-- -> describe() | {'NOT_FOUND'} | {'QUEUE_OFF'} | {'FULL'} | {'PAUSED'} (new joiners only)
--    | {'POW_REQUIRED' | 'POW_STALE' | 'POW_REPLAYED', difficulty, nowMs}
--    | {'RATE_LIMITED', retryAfterMs}
local prefix = ARGV[1]
local info = redis.call('HMGET', KEYS[1], 'total', 'q', 'start', 'qpow', 'paused')
if not info[1] then return {'NOT_FOUND'} end
if info[2] ~= '1' then return {'QUEUE_OFF'} end
local now_u = now_us()  -- one TIME call for the limits and the join
local now = math.floor(now_u / 1000)
local nlimits = tonumber(ARGV[10] or '0') or 0
if nlimits > 0 then
  local wait = rate_limit(KEYS, 2, ARGV, 11, nlimits, now_u)
  if wait > 0 then return {'RATE_LIMITED', math.ceil(wait / 1000)} end
end
local pow = tonumber(info[4]) or 0
local pow_key, pow_exp = nil, 0
if pow > 0 then
  if (ARGV[7] or '') == '' or (tonumber(ARGV[9]) or 0) < pow then
    return {'POW_REQUIRED', pow, now}
  end
  pow_exp = tonumber(ARGV[8]) or 0
  if pow_exp <= now then return {'POW_STALE', pow, now} end
  pow_key = prefix .. ':q:pow:' .. ARGV[7]
  if redis.call('EXISTS', pow_key) == 1 then return {'POW_REPLAYED', pow, now} end
end
local keep = math.max(now, tonumber(info[3]) or 0) + tonumber(ARGV[6])
local ukey = prefix .. ':q:u:' .. ARGV[2]
local ticket = redis.call('GET', ukey)
if ticket then
  local t = redis.call('HMGET', prefix .. ':q:t:' .. ticket, 'state', 'adm')
  local live = t[1] == 'waiting' or t[1] == 'used' or
               (t[1] == 'admitted' and admission_end(KEYS[1], tonumber(t[2]) or 0, now) > now)
  if t[1] == 'waiting' and not redis.call('ZSCORE', prefix .. ':q:line', ticket) then live = false end
  if not live then ticket = nil end
end
if ticket then
  redis.call('ZADD', prefix .. ':q:seen', 'XX', now, ticket)
else
  -- While an admin has the sale paused, nobody new joins; those in the line keep their place.
  if info[5] == '1' then return {'PAUSED'} end
  if redis.call('ZCARD', prefix .. ':q:line') >= tonumber(ARGV[5]) then return {'FULL'} end
  ticket = ARGV[3]
  local order
  if now < (tonumber(info[3]) or 0) then
    order = tonumber(ARGV[4])
  else
    order = FIFO_BASE + redis.call('INCR', prefix .. ':q:seq')
  end
  local tkey = prefix .. ':q:t:' .. ticket
  -- Redis turns every number handed to redis.call into text (snprintf): each once. The times
  -- are below 10^14 ms, which tostring writes whole; the order may not be ('%d' is exact).
  local orders, nows, keeps = string.format('%d', order), tostring(now), tostring(keep)
  redis.call('ZADD', prefix .. ':q:line', orders, ticket)
  redis.call('ZADD', prefix .. ':q:seen', nows, ticket)
  redis.call('HSET', tkey, 'user', ARGV[2], 'state', 'waiting', 'joined', nows, 'order', orders)
  redis.call('PEXPIREAT', tkey, keeps)
  redis.call('SET', ukey, ticket, 'PXAT', keeps)
end
-- The join happened (a new place or the one the buyer had): the proof is used.
if pow_key then redis.call('SET', pow_key, '1', 'PXAT', pow_exp) end
keep_line(prefix, keep)
return describe(prefix, KEYS[1], ticket, now)
