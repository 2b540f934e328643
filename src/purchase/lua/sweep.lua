-- Returns the units of due holds; claims due confirming holds (lease ran out: their server died
-- or stalls) for settlement against the database by pushing their due time a lease ahead, so
-- that concurrent sweepers never handle one hold twice.
-- KEYS[1] prefix:exp   ARGV[1] prefix  ARGV[2] batch  ARGV[3] lease ms
-- -> {unitsReleased, {rid to settle...}, dueCount}
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local released = 0
local settle = {}
for _, rid in ipairs(due) do
  local hkey = ARGV[1] .. ':h:' .. rid
  local state = redis.call('HGET', hkey, 'state')
  if state == 'held' then
    released = released + release(ARGV[1], rid, hkey, 'expired')
  elseif state == 'confirming' then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), rid)
    settle[#settle + 1] = rid
  else
    redis.call('ZREM', KEYS[1], rid)
  end
end
return {released, settle, #due}
