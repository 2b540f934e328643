-- Replaces a product's sale start and waiting-room settings (PATCH /admin/products/{id}).
-- KEYS[1] prefix:info
-- ARGV[1] saleStartsAtMs ('' = open now)  ARGV[2] enabled ('1'/'0', '' = no waiting room)
-- ARGV[3] admitPerSecond  ARGV[4] maxActive  ARGV[5] admissionTtlSeconds  ARGV[6] powDifficulty
-- -> 1 written | 0 the product is not in Redis (a warm-up writes it from the database)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'start')
else redis.call('HSET', KEYS[1], 'start', ARGV[1]) end
if ARGV[2] == '' then redis.call('HDEL', KEYS[1], 'q', 'qrate', 'qmax', 'qttl', 'qpow')
else
  redis.call('HSET', KEYS[1], 'q', ARGV[2], 'qrate', ARGV[3], 'qmax', ARGV[4], 'qttl', ARGV[5],
             'qpow', ARGV[6] or '0')
end
return 1
