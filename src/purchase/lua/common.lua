-- Prepended to every purchase script at build time.
-- Keys of product P share the hash tag {p:P}: prefix = '{p:P}'. Scripts derive hold and user
-- keys from the prefix; they are in the slot of KEYS[1], so a Redis Cluster routes them together.
local RETAIN_MS = 86400000 -- finished holds are kept a day for status reads and repeat confirms

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Returns a live hold's units to the product and ends the hold in `state`.
local function release(prefix, rid, hkey, state)
  local h = redis.call('HMGET', hkey, 'user', 'qty')
  local qty = tonumber(h[2])
  redis.call('INCRBY', prefix .. ':avail', qty)
  local ukey = prefix .. ':u:' .. h[1]
  if tonumber(redis.call('DECRBY', ukey, qty)) <= 0 then redis.call('DEL', ukey) end
  redis.call('HSET', hkey, 'state', state, 'ended', now_ms())
  redis.call('ZREM', prefix .. ':exp', rid)
  redis.call('PEXPIRE', hkey, RETAIN_MS)
  return qty
end

-- Marks a confirming hold confirmed with its order.
local function mark_confirmed(prefix, rid, hkey, order, total)
  redis.call('HSET', hkey, 'state', 'confirmed', 'order', order, 'total', total, 'ended', now_ms())
  redis.call('ZREM', prefix .. ':exp', rid)
  redis.call('PEXPIRE', hkey, RETAIN_MS)
end
