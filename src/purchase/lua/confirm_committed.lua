-- Marks confirmed, without returning their units, the live holds (held or confirming) whose
-- order the database has committed: Redis did not hear of the commit (a confirm that has not
-- finished, or Redis came back from before it). A held hold's units leave prefix:held. Holds
-- already ended, or gone, are left alone, so a repeat changes nothing. ReconcileProduct
-- (rebuild.hpp) calls it in chunks, under the product row lock, before sync_stock.lua.
-- KEYS[1] prefix:exp (routes the call)   ARGV[1] prefix
-- ARGV[2..] committed orders (rid, orderId, totalCents)
-- -> holds marked
local prefix = ARGV[1]
local marked = 0
for i = 2, #ARGV - 2, 3 do
  local rid = ARGV[i]
  local hkey = prefix .. ':h:' .. rid
  local h = redis.call('HMGET', hkey, 'state', 'qty')
  if h[1] == 'held' or h[1] == 'confirming' then
    if h[1] == 'held' then redis.call('DECRBY', prefix .. ':held', h[2]) end
    mark_confirmed(prefix, rid, hkey, ARGV[i + 1], ARGV[i + 2])
    marked = marked + 1
  end
end
return marked
