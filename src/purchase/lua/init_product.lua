-- Writes a product's sale settings and stock into Redis unless already there.
-- KEYS[1] prefix:info  KEYS[2] prefix:avail
-- ARGV: name, priceCents, limit, holdSeconds ('' = server default), total, available,
--       saleStartsAtMs ('' = open), then the waiting room: enabled ('1'/'0'), admitPerSecond,
--       maxActive, admissionTtlSeconds, powDifficulty ('' each when the product has no waiting
--       room)
-- -> 1 written | 0 already present
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'price', ARGV[2], 'limit', ARGV[3], 'total', ARGV[5])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'hold', ARGV[4]) end
if ARGV[7] and ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'start', ARGV[7]) end
if ARGV[8] and ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'q', ARGV[8], 'qrate', ARGV[9], 'qmax', ARGV[10], 'qttl', ARGV[11])
  if ARGV[12] and ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'qpow', ARGV[12]) end
end
redis.call('SET', KEYS[2], ARGV[6])
return 1
