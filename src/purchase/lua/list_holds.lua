-- The buyer's live holds (held or confirming) of one product, oldest first.
-- KEYS[1] prefix:uh:<user>   ARGV[1] prefix
-- -> {nowMs, {rid, qty, state, expiresAtMs}, ...}
local out = {now_ms()}
local rows = {}
for _, rid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local h = redis.call('HMGET', ARGV[1] .. ':h:' .. rid, 'qty', 'state', 'exp', 'created')
  if h[2] == 'held' or h[2] == 'confirming' then
    rows[#rows + 1] = {rid, tonumber(h[1]), h[2], tonumber(h[3]), tonumber(h[4])}
  else
    redis.call('SREM', KEYS[1], rid)
  end
end
table.sort(rows, function(a, b) return a[5] < b[5] end)
for _, r in ipairs(rows) do out[#out + 1] = {r[1], r[2], r[3], r[4]} end
return out
