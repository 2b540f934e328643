-- Reservation ids of the product's live holds (held or confirming): the ones whose order the
-- caller looks up in the database before sync_stock.
-- KEYS[1] prefix:exp   ARGV[1] prefix
local out = {}
for _, rid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local state = redis.call('HGET', ARGV[1] .. ':h:' .. rid, 'state')
  if state == 'held' or state == 'confirming' then out[#out + 1] = rid end
end
return out
