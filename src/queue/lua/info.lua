-- The public view of a product's line.
-- KEYS[1] prefix:info   ARGV[1] prefix
-- -> {'OK', enabled 0/1, length, admittedTotal, active, admitPerSecond, maxActive,
--     admissionTtlSeconds, soldOut 0/1, saleStartsAtMs (0 if open), dropped, nowMs}
--    | {'NOT_FOUND'}
local prefix = ARGV[1]
local info = redis.call('HMGET', KEYS[1], 'total', 'q', 'qrate', 'qmax', 'qttl', 'start')
if not info[1] then return {'NOT_FOUND'} end
local now = now_ms()
local stats = redis.call('HMGET', prefix .. ':q:stats', 'admitted', 'dropped')
local enabled = 0
if info[2] == '1' then enabled = 1 end
local soldout = 0
if potential_units(prefix) <= 0 then soldout = 1 end
return {'OK', enabled, redis.call('ZCARD', prefix .. ':q:line'), tonumber(stats[1]) or 0,
        redis.call('ZCOUNT', prefix .. ':q:active', '(' .. active_from(prefix, now), '+inf'),
        tonumber(info[3]) or 0, tonumber(info[4]) or 0, tonumber(info[5]) or 0, soldout,
        tonumber(info[6]) or 0, tonumber(stats[2]) or 0, now}
