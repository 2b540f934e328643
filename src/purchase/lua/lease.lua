-- A lease that elects one server for a job (the reconciler): taken when free, renewed by its
-- holder, refused to anyone else. Expiry is Redis' own clock (PX), so a holder that dies or
-- stalls loses it after ARGV[2] ms without a single server clock involved.
-- KEYS[1] the lease key   ARGV[1] the caller's token   ARGV[2] ttl ms
-- -> 1 the caller holds it (taken or renewed) | 0 another holds it
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
