-- After the order committed: confirming -> confirmed. The database is the truth, so this holds
-- whoever has the lease now (a sweeper that took it over will find the same order). A hold
-- that is no longer confirming can only have been settled from the database (confirmed: done)
-- or come back from a Redis that lost data (held/expired/cancelled): it is marked confirmed
-- (the buyer's counter keeps its units) and the caller reconciles the product from the
-- database (rebuild.hpp), which alone sets available and the held count. Adjusting them here
-- too would subtract the units twice when a stock sync ran between the commit and this.
-- KEYS[1] prefix:h:<rid>   ARGV[1] prefix  ARGV[2] rid  ARGV[3] orderId  ARGV[4] totalCents
-- -> 'OK' | 'RETAKEN' (reconcile the product) | 'MISSING'
local h = redis.call('HMGET', KEYS[1], 'state', 'qty', 'user')
if h[1] == 'confirming' then
  mark_confirmed(ARGV[1], ARGV[2], KEYS[1], ARGV[3], ARGV[4])
  return 'OK'
end
if h[1] == 'confirmed' then return 'OK' end
if h[1] == 'expired' or h[1] == 'cancelled' or h[1] == 'held' then
  if h[1] ~= 'held' then redis.call('INCRBY', ARGV[1] .. ':u:' .. h[3], tonumber(h[2])) end
  mark_confirmed(ARGV[1], ARGV[2], KEYS[1], ARGV[3], ARGV[4])
  return 'RETAKEN'
end
return 'MISSING'
