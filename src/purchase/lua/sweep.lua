-- Returns the units of due holds; claims due confirming holds (lease ran out: their server died
-- or stalls) for settlement against the database: the claim gets its own lease id and a due
-- time a lease ahead, so that concurrent sweepers never handle one hold twice and the old
-- lease holder can no longer finish or abort it in Redis.
-- KEYS[1] prefix:exp   ARGV[1] prefix  ARGV[2] batch  ARGV[3] lease ms
-- -> {unitsReleased, {rid, oldLeaseId, claimId, ...}, dueCount}
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local released = 0
local settle = {}
for _, rid in ipairs(due) do
  local hkey = ARGV[1] .. ':h:' .. rid
  local h = redis.call('HMGET', hkey, 'state', 'lid')
  if h[1] == 'held' then
    released = released + release(ARGV[1], rid, hkey, 'expired')
  elseif h[1] == 'confirming' then
    local claim = 'sweep-' .. now .. '-' .. rid
    redis.call('HSET', hkey, 'lid', claim)
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), rid)
    settle[#settle + 1] = rid
    settle[#settle + 1] = h[2] or ''
    settle[#settle + 1] = claim
  else
    redis.call('ZREM', KEYS[1], rid)
  end
end
return {released, settle, #due}
