-- Prepended to every purchase script at build time.
-- Keys of product P share the hash tag {p:P}: prefix = '{p:P}'. Scripts derive hold and user
-- keys from the prefix; they are in the slot of KEYS[1], so a Redis Cluster routes them together.
-- Per-buyer keys (units held or bought, live holds) live a day past their last use. Keys per
-- reserve live an hour past the hold's end: the finished hold (status reads, repeat confirms;
-- after that the database answers for confirmed ones) and its idempotency key. So at a steady
-- reserve rate Redis keeps about an hour of them, not a day.
local RETAIN_MS = 86400000
local FINISHED_MS = 3600000

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A hold made with a waiting-room admission keeps its buyer in the line's active set until
-- the hold ends (h[adm] = '1'); the buyer leaves it here.
local function leave_active(prefix, hkey, user)
  if redis.call('HGET', hkey, 'adm') == '1' then redis.call('ZREM', prefix .. ':q:active', user) end
end

-- prefix:uh:<user> lists the buyer's live holds (GET /purchase/reservations?productId=).
local function end_hold(prefix, rid, hkey, user)
  leave_active(prefix, hkey, user)
  redis.call('SREM', prefix .. ':uh:' .. user, rid)
  redis.call('ZREM', prefix .. ':exp', rid)
  redis.call('PEXPIRE', hkey, FINISHED_MS)
end

-- Returns a live hold's units to the product and ends the hold in `state`. prefix:held counts
-- the units of holds in state 'held' (units that may come back), so it drops here for those.
local function release(prefix, rid, hkey, state)
  local h = redis.call('HMGET', hkey, 'user', 'qty', 'state')
  local qty = tonumber(h[2])
  redis.call('INCRBY', prefix .. ':avail', qty)
  if h[3] == 'held' then redis.call('DECRBY', prefix .. ':held', qty) end
  local ukey = prefix .. ':u:' .. h[1]
  if tonumber(redis.call('DECRBY', ukey, qty)) <= 0 then redis.call('DEL', ukey) end
  redis.call('HSET', hkey, 'state', state, 'ended', now_ms())
  redis.call('HDEL', hkey, 'lid')
  end_hold(prefix, rid, hkey, h[1])
  -- Holds ended so far, by state (GET /admin/products/{id}); lost with Redis, like the holds.
  redis.call('HINCRBY', prefix .. ':stats', state, 1)
  return qty
end

-- Marks a confirming hold confirmed with its order.
local function mark_confirmed(prefix, rid, hkey, order, total)
  redis.call('HSET', hkey, 'state', 'confirmed', 'order', order, 'total', total, 'ended', now_ms())
  redis.call('HDEL', hkey, 'lid')
  end_hold(prefix, rid, hkey, redis.call('HGET', hkey, 'user'))
end

-- confirming -> held again (its confirm did not commit), still expiring at its old time.
local function restore_held(prefix, rid, hkey)
  local h = redis.call('HMGET', hkey, 'exp', 'qty')
  redis.call('HSET', hkey, 'state', 'held')
  redis.call('HDEL', hkey, 'lease', 'lid')
  redis.call('INCRBY', prefix .. ':held', tonumber(h[2]))
  redis.call('ZADD', prefix .. ':exp', tonumber(h[1]), rid)
end
