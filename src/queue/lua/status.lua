-- The caller's place in line; a poll also proves the waiter is still there.
-- KEYS[1] prefix:info   ARGV[1] prefix  ARGV[2] user  ARGV[3] ticket
-- -> describe() | {'NOT_FOUND'} | {'TICKET_NOT_FOUND'}
local prefix = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {'NOT_FOUND'} end
local tkey = prefix .. ':q:t:' .. ARGV[3]
local t = redis.call('HMGET', tkey, 'user', 'state')
if t[1] ~= ARGV[2] then return {'TICKET_NOT_FOUND'} end
local now = now_ms()
if t[2] == 'waiting' then redis.call('ZADD', prefix .. ':q:seen', 'XX', now, ARGV[3]) end
return describe(prefix, KEYS[1], ARGV[3], now)
