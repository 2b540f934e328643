-- Pauses (ARGV[1] = '1') or resumes ('0') a product's sale in Redis: reserve.lua refuses and
-- the waiting room admits nobody while info.paused = '1'. The database has the flag too
-- (products.paused); sync_stock.lua restores it from there.
-- KEYS[1] prefix:info   ARGV[1] '1' | '0'
-- -> 1 written | 0 the product is not in Redis (the caller rebuilds it from the database)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '1' then redis.call('HSET', KEYS[1], 'paused', '1')
else redis.call('HDEL', KEYS[1], 'paused') end
return 1
