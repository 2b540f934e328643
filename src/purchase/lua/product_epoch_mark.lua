-- Redis Cluster: ends one product's rebuild by recording the node it was rebuilt on, unless
-- that node changed meanwhile (another run id: a restart or a failover) or lost the product
-- again (no info hash: a flush after the rebuild wrote it).
-- KEYS[1] prefix:epoch  KEYS[2] prefix:info  ARGV[1] run id seen before the rebuild
-- -> 1 recorded | 0 rebuild again
local info = redis.call('INFO', 'server')
if string.match(info, 'run_id:(%x+)') ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1
