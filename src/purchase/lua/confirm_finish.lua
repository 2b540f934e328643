-- After the order committed: confirming -> confirmed. The database is the truth, so this holds
-- whoever has the lease now (a sweeper that took it over will find the same order). A hold
-- that is no longer confirming can only have been settled from the database (confirmed: done)
-- or come back from a Redis that lost data (held/expired/cancelled: the order's units are sold,
-- so take them back from the available count; it may dip below zero, reserves treat that as 0).
-- KEYS[1] prefix:h:<rid>   ARGV[1] prefix  ARGV[2] rid  ARGV[3] orderId  ARGV[4] totalCents
-- -> 'OK' | 'RETAKEN' | 'MISSING'
local h = redis.call('HMGET', KEYS[1], 'state', 'qty', 'user')
if h[1] == 'confirming' then
  mark_confirmed(ARGV[1], ARGV[2], KEYS[1], ARGV[3], ARGV[4])
  return 'OK'
end
if h[1] == 'confirmed' then return 'OK' end
if h[1] == 'expired' or h[1] == 'cancelled' or h[1] == 'held' then
  local qty = tonumber(h[2])
  if h[1] ~= 'held' then
    redis.call('DECRBY', ARGV[1] .. ':avail', qty)
    redis.call('INCRBY', ARGV[1] .. ':u:' .. h[3], qty)
  else
    redis.call('DECRBY', ARGV[1] .. ':held', qty)
  end
  mark_confirmed(ARGV[1], ARGV[2], KEYS[1], ARGV[3], ARGV[4])
  return 'RETAKEN'
end
return 'MISSING'
