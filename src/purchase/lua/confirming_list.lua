-- Reservation ids of the product's confirming holds.
-- KEYS[1] prefix:exp   ARGV[1] prefix
local out = {}
for _, rid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('HGET', ARGV[1] .. ':h:' .. rid, 'state') == 'confirming' then
    out[#out + 1] = rid
  end
end
return out
