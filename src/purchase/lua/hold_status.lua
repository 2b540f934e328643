-- One hold as its buyer sees it, read with Redis' clock (the caller labels a held hold past
-- its expiry "expired", even before a sweeper returned its units).
-- KEYS[1] prefix:h:<rid>
-- -> {user, qty, state, expiresAtMs, nowMs} | {} (no such hold)
local h = redis.call('HMGET', KEYS[1], 'user', 'qty', 'state', 'exp')
if not h[1] then return {} end
return {h[1], tonumber(h[2]), h[3], tonumber(h[4]), now_ms()}
