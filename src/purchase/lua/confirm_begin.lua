-- Moves the caller's live hold held -> confirming under a lease: until the lease runs out only
-- the holder of lease id ARGV[5] may finish or abort it (every later script checks the id), and
-- a sweeper that takes a lost lease over revokes that id in the database first. A hold past its
-- expiry is released here rather than confirmed.
-- KEYS[1] prefix:h:<rid>   ARGV[1] prefix  ARGV[2] rid  ARGV[3] user  ARGV[4] lease ms
-- ARGV[5] lease id
-- -> {'OK', qty, expiresAtMs, leaseUntilMs} | {'NOT_FOUND'} | {'EXPIRED'} | {'CANCELLED'}
--    | {'CONFIRMING'} | {'CONFIRMED', orderId, totalCents, qty}
local h = redis.call('HMGET', KEYS[1], 'user', 'state', 'qty', 'exp', 'order', 'total')
if not h[1] or h[1] ~= ARGV[3] then return {'NOT_FOUND'} end
local state = h[2]
if state == 'held' then
  local now = now_ms()
  if tonumber(h[4]) <= now then
    release(ARGV[1], ARGV[2], KEYS[1], 'expired')
    return {'EXPIRED'}
  end
  local lease = now + tonumber(ARGV[4])
  redis.call('HSET', KEYS[1], 'state', 'confirming', 'lease', lease, 'lid', ARGV[5])
  redis.call('DECRBY', ARGV[1] .. ':held', tonumber(h[3]))
  redis.call('SADD', ARGV[1] .. ':confirming', ARGV[2])
  redis.call('ZADD', ARGV[1] .. ':exp', lease, ARGV[2])
  return {'OK', tonumber(h[3]), tonumber(h[4]), lease}
end
if state == 'confirmed' then return {'CONFIRMED', h[5], h[6], tonumber(h[3])} end
return {string.upper(state)}
