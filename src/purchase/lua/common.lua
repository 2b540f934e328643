-- The purchase scripts' prelude: each script gets the definitions below that it uses (and
-- those they use) in front of it, when the server starts (redis::LinkPrelude). Redis builds
-- every function of a script's text on every call, so an unused one costs each call about 1k
-- instructions. Only definitions at the top level (`local function f`, `local NAME = ...`).
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

-- Keeps `key` until `at` at least (ms since the epoch, a number or its text: text spares
-- Redis converting it): a key without an expiry gets this one, a later expiry stays, a missing
-- key stays missing. `fresh`: the caller has just made the key, so it likely has no expiry yet
-- and one PEXPIREAT NX sets it; otherwise the expiry is read first, one call when it already
-- lasts long enough (a line's keys between joins before the sale starts).
local function keep_until(key, at, fresh)
  if fresh then
    if redis.call('PEXPIREAT', key, at, 'NX') == 0 then redis.call('PEXPIREAT', key, at, 'GT') end
    return
  end
  local cur = redis.call('PEXPIRETIME', key)
  if cur == -1 or (cur >= 0 and cur < tonumber(at)) then redis.call('PEXPIREAT', key, at) end
end

-- The lowest expiry in a line's active set (prefix:q:active) that still counts as active at
-- `now`: while the sale is paused, an admission live at the pause's start stays active (its
-- clock stands still until the resume moves it on, product_pause.lua).
local function active_from(prefix, now)
  local p = redis.call('HMGET', prefix .. ':info', 'paused', 'pausedAt')
  if p[1] == '1' and tonumber(p[2]) then return math.min(now, tonumber(p[2])) end
  return now
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
-- the units of holds in state 'held' (units that may come back), so it drops here for those;
-- prefix:confirming lists the holds in state 'confirming' (few: the confirms in flight), so
-- the admin figures count both without walking every live hold.
local function release(prefix, rid, hkey, state)
  local h = redis.call('HMGET', hkey, 'user', 'qty', 'state')
  local qty = tonumber(h[2])
  redis.call('INCRBY', prefix .. ':avail', qty)
  if h[3] == 'held' then
    redis.call('DECRBY', prefix .. ':held', qty)
  elseif h[3] == 'confirming' then
    redis.call('SREM', prefix .. ':confirming', rid)
  end
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
  redis.call('SREM', prefix .. ':confirming', rid)
  end_hold(prefix, rid, hkey, redis.call('HGET', hkey, 'user'))
end

-- confirming -> held again (its confirm did not commit), still expiring at its old time.
local function restore_held(prefix, rid, hkey)
  local h = redis.call('HMGET', hkey, 'exp', 'qty')
  redis.call('HSET', hkey, 'state', 'held')
  redis.call('HDEL', hkey, 'lease', 'lid')
  redis.call('SREM', prefix .. ':confirming', rid)
  redis.call('INCRBY', prefix .. ':held', tonumber(h[2]))
  redis.call('ZADD', prefix .. ':exp', tonumber(h[1]), rid)
end

-- Units in a product's live holds (held and confirming), leaving out the holds in `sold` (a set
-- of reservation ids whose order is committed), the ids of the confirming ones counted, and
-- whether every live hold was read. Read from every live hold (prefix:exp) when the product has
-- at most `max_walk` of them (O(live holds): what the counters should say); else (max_walk -1:
-- always) from the counters the scripts keep, O(confirms in flight + #sold): prefix:held, less
-- the held holds in `sold`, and the holds in prefix:confirming still confirming.
local function live_units(prefix, max_walk, sold)
  local exp_key = prefix .. ':exp'
  local walked = redis.call('ZCARD', exp_key) <= tonumber(max_walk)
  local held, confirming, ids, rids = 0, 0, {}, nil
  if walked then
    rids = redis.call('ZRANGE', exp_key, 0, -1)
  else
    held = tonumber(redis.call('GET', prefix .. ':held') or '0')
    for rid in pairs(sold) do
      local h = redis.call('HMGET', prefix .. ':h:' .. rid, 'state', 'qty')
      if h[1] == 'held' then held = held - tonumber(h[2]) end
    end
    rids = redis.call('SMEMBERS', prefix .. ':confirming')
  end
  for _, rid in ipairs(rids) do
    if not sold[rid] then
      local h = redis.call('HMGET', prefix .. ':h:' .. rid, 'state', 'qty')
      if h[1] == 'held' and walked then
        held = held + tonumber(h[2])
      elseif h[1] == 'confirming' then
        confirming = confirming + tonumber(h[2])
        ids[#ids + 1] = rid
      end
    end
  end
  return held, confirming, ids, walked
end

-- Rate limits (src/abuse/README.md): GCRA over Redis TIME, shared by every server. keys[k0+i]
-- holds the theoretical arrival time (TAT, µs) of limit i; args[a0+2i], args[a0+2i+1] its
-- emission interval and tolerance (µs; tolerance = interval x (burst - 1)). All n pass or none
-- is counted: returns 0 having advanced every key, or the µs until all would pass (nothing
-- left written). A key lives only until its TAT, so an idle buyer costs no memory. A buyer's
-- first request in a window (the common case in a flash sale) costs one call: SET NX GET
-- writes the fresh state and says whether there was one (Redis >= 7.0).
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function rate_limit(keys, k0, args, a0, n, now)
  if n == 1 then
    -- The usual case (per buyer only), without the tables of the general one.
    local key = keys[k0]
    local interval = tonumber(args[a0])
    local old = redis.call('SET', key, now + interval, 'NX', 'GET', 'PX', math.ceil(interval / 1000))
    if not old then return 0 end
    local tat = math.max(tonumber(old) or 0, now)
    local w = tat - tonumber(args[a0 + 1]) - now
    if w > 0 then return w end
    tat = tat + interval
    redis.call('SET', key, tat, 'PX', math.ceil((tat - now) / 1000))
    return 0
  end
  local wait = 0
  local tats = {}
  local created = {}
  for i = 0, n - 1 do
    local interval = tonumber(args[a0 + 2 * i])
    local old = redis.call('SET', keys[k0 + i], string.format('%d', now + interval), 'NX', 'GET',
                           'PX', math.max(1, math.ceil(interval / 1000)))
    if old then
      local tat = tonumber(old) or 0
      if tat < now then tat = now end
      local w = tat - tonumber(args[a0 + 2 * i + 1]) - now
      if w > wait then wait = w end
      tats[i] = tat + interval
    else
      created[#created + 1] = keys[k0 + i]
    end
  end
  if wait > 0 then
    for _, key in ipairs(created) do redis.call('DEL', key) end
    return wait
  end
  for i = 0, n - 1 do
    if tats[i] then
      redis.call('SET', keys[k0 + i], string.format('%d', tats[i]), 'PX',
                 math.max(1, math.ceil((tats[i] - now) / 1000)))
    end
  end
  return 0
end
