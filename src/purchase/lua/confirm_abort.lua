-- The order did not commit. mode 'restore': back to held (still expiring at its old time), so a
-- retry can confirm. mode 'void': the database had no stock for it (Redis and the database
-- disagreed), so end the hold without returning units that the database does not have.
-- KEYS[1] prefix:h:<rid>   ARGV[1] prefix  ARGV[2] rid  ARGV[3] mode
-- -> 'OK' | 'SKIP'
local h = redis.call('HMGET', KEYS[1], 'state', 'exp', 'qty', 'user')
if h[1] ~= 'confirming' then return 'SKIP' end
if ARGV[3] == 'restore' then
  redis.call('HSET', KEYS[1], 'state', 'held')
  redis.call('HDEL', KEYS[1], 'lease')
  redis.call('INCRBY', ARGV[1] .. ':held', tonumber(h[3]))
  redis.call('ZADD', ARGV[1] .. ':exp', tonumber(h[2]), ARGV[2])
  return 'OK'
end
local ukey = ARGV[1] .. ':u:' .. h[4]
if tonumber(redis.call('DECRBY', ukey, tonumber(h[3]))) <= 0 then redis.call('DEL', ukey) end
leave_active(ARGV[1], KEYS[1], h[4])
redis.call('HSET', KEYS[1], 'state', 'cancelled', 'ended', now_ms(), 'void', 1)
redis.call('ZREM', ARGV[1] .. ':exp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], RETAIN_MS)
return 'OK'
