-- Settles a confirming hold whose lease ran out, given what the database says.
-- KEYS[1] prefix:h:<rid>   ARGV[1] prefix  ARGV[2] rid  ARGV[3] '1' if its order exists
-- ARGV[4] orderId  ARGV[5] totalCents
-- -> 'CONFIRMED' | 'RESTORED' | 'RELEASED' | 'SKIP'
local h = redis.call('HMGET', KEYS[1], 'state', 'exp', 'qty')
if h[1] ~= 'confirming' then return 'SKIP' end
if ARGV[3] == '1' then
  mark_confirmed(ARGV[1], ARGV[2], KEYS[1], ARGV[4], ARGV[5])
  return 'CONFIRMED'
end
if tonumber(h[2]) > now_ms() then
  redis.call('HSET', KEYS[1], 'state', 'held')
  redis.call('HDEL', KEYS[1], 'lease')
  redis.call('INCRBY', ARGV[1] .. ':held', tonumber(h[3]))
  redis.call('ZADD', ARGV[1] .. ':exp', tonumber(h[2]), ARGV[2])
  return 'RESTORED'
end
release(ARGV[1], ARGV[2], KEYS[1], 'expired')
return 'RELEASED'
