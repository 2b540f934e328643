-- One step of a product's line, run by every server about every 100 ms (concurrent runs are
-- safe: each is atomic and reads the shared counters). Drops waiters who stopped polling,
-- then admits the head of the line, at most:
--   the rate: by t ms into a Redis second, ceil(rate * (t + 1) / 1000) admissions in it,
--     so never more than admitPerSecond per second, spread over the second;
--   maxActive - active;
--   potential units - active (available + units in 'held' holds that may come back);
--   ARGV[3] per call.
-- KEYS[1] prefix:info   ARGV[1] prefix  ARGV[2] poll timeout ms  ARGV[3] batch
-- -> {'OK'|'OFF'|'PRE'|'PAUSED', soldOut 0/1, admitted, dropped, available} | {'NOT_FOUND'}
local prefix = ARGV[1]
local info = redis.call('HMGET', KEYS[1], 'total', 'q', 'qrate', 'qmax', 'qttl', 'start', 'paused')
if not info[1] then return {'NOT_FOUND'} end
local now = now_ms()
local potential = potential_units(prefix)
local soldout = 0
if potential <= 0 then soldout = 1 end
local available = tonumber(redis.call('GET', prefix .. ':avail') or '0')
if info[2] ~= '1' then return {'OFF', soldout, 0, 0, available} end
-- Paused by an admin: nobody is admitted and nobody dropped (waiters keep their place), and
-- the active set is left as it is: the resume moves its entries on by the pause's length.
if info[7] == '1' then return {'PAUSED', soldout, 0, 0, available} end
local active_key = prefix .. ':q:active'
redis.call('ZREMRANGEBYSCORE', active_key, '-inf', now)
local start = tonumber(info[6]) or 0
if now < start then return {'PRE', soldout, 0, 0, available} end
local batch = tonumber(ARGV[3])

-- A waiter's last poll counts from the sale start at the earliest, so the pre-queue keeps its
-- places until the start plus one timeout.
local dropped = 0
local cutoff = now - tonumber(ARGV[2])
if start < cutoff then
  local gone = redis.call('ZRANGEBYSCORE', prefix .. ':q:seen', '-inf', '(' .. cutoff,
                          'LIMIT', 0, batch)
  for _, ticket in ipairs(gone) do
    redis.call('ZREM', prefix .. ':q:line', ticket)
    redis.call('ZREM', prefix .. ':q:seen', ticket)
    redis.call('HSET', prefix .. ':q:t:' .. ticket, 'state', 'expired', 'endedAt', now)
  end
  dropped = #gone
  if dropped > 0 then redis.call('HINCRBY', prefix .. ':q:stats', 'dropped', dropped) end
end

local admitted = 0
if soldout == 0 then
  local active = redis.call('ZCARD', active_key)
  local rate = tonumber(info[3])
  local ttl = tonumber(info[5]) * 1000
  local sec = math.floor(now / 1000)
  local r = redis.call('HMGET', prefix .. ':q:rate', 'sec', 'n')
  local n = 0
  if tonumber(r[1]) == sec then n = tonumber(r[2]) end
  local allowed = math.min(rate, math.ceil(rate * ((now % 1000) + 1) / 1000))
  local cap = math.min(allowed - n, tonumber(info[4]) - active, potential - active, batch)
  if cap > 0 then
    local head = redis.call('ZRANGE', prefix .. ':q:line', 0, cap - 1)
    for _, ticket in ipairs(head) do
      local tkey = prefix .. ':q:t:' .. ticket
      local user = redis.call('HGET', tkey, 'user')
      redis.call('ZREM', prefix .. ':q:line', ticket)
      redis.call('ZREM', prefix .. ':q:seen', ticket)
      if user then
        redis.call('HSET', tkey, 'state', 'admitted', 'adm', now + ttl, 'admAt', now)
        keep_until(tkey, now + ttl + RETAIN_MS)
        keep_until(prefix .. ':q:u:' .. user, now + ttl + RETAIN_MS)
        redis.call('ZADD', active_key, now + ttl, user)
        admitted = admitted + 1
      end
    end
    if admitted > 0 then
      redis.call('HSET', prefix .. ':q:rate', 'sec', sec, 'n', n + admitted)
      redis.call('HINCRBY', prefix .. ':q:stats', 'admitted', admitted)
    end
  end
end
if admitted > 0 or dropped > 0 then
  keep_line(prefix, now + (tonumber(info[5]) or 0) * 1000 + RETAIN_MS)
end
return {'OK', soldout, admitted, dropped, available}
