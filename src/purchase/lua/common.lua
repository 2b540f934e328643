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

local function rate_limit(keys, k0, args, a0, n, now, memo)
  if n == 1 then
    -- The usual case (per buyer only), without the tables of the general one. Its numbers are
    -- handed to redis.call as text made here ('%d' is cheaper than the '%.17g' Redis would
    -- use); `memo` (optional: a table kept across calls with the same `now`, a reserve batch's)
    -- keeps them for the next buyer with the same limit.
    local key = keys[k0]
    local iv = args[a0]
    local interval = tonumber(iv)
    local first, px
    if memo and memo.rl_iv == iv then
      first, px = memo.rl_first, memo.rl_px
    else
      first = string.format('%d', now + interval)
      px = string.format('%d', math.ceil(interval / 1000))
      if memo then memo.rl_iv, memo.rl_first, memo.rl_px = iv, first, px end
    end
    local old = redis.call('SET', key, first, 'NX', 'GET', 'PX', px)
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

-- One reserve's checks (reserve.lua's, in order): its reply when it is refused, or else nil
-- and its plan (absent, fresh, ikey, tkey, availableAfter: see reserve_write), which
-- reserve.lua or a batch's finish makes. Nothing is written here but its rate limit's key.
-- P is the product's part, read once for a call: P.info (HMGET limit, hold, start, q, paused),
-- P.prefix, P.hold (default seconds, text), P.exp_key, P.now_u / P.now (one TIME), P.avail_key
-- and P.avail (read once, then kept here as planned holds take units), and in a batch
-- (P.batch, see reserve_batch.lua) what its earlier plans will write, so a reserve sees the
-- batch's earlier ones as if each had been written on its own.
-- ukey, hkey: prefix:u:<user>, prefix:h:<rid>; q: the quantity as text; n rate limits with
-- keys K[k0..] and specs A[a0..] (see rate_limit).
local function reserve_check(P, ukey, hkey, user, q, rid, ticket, idem, K, k0, A, a0, n)
  local now, info, prefix, B = P.now, P.info, P.prefix, P.batch
  local qty = tonumber(q)
  if not info[1] then return {'NOT_FOUND'} end
  local ikey = nil
  if idem and idem ~= '' then
    -- A retry (the first answer was lost to a timeout) finds the hold the first attempt made.
    ikey = prefix .. ':k:' .. user .. ':' .. idem
    local mine = B and B.idem[ikey]
    if mine then return {'REPEATED', mine.rid, mine.qty, 'held', mine.exp, now, of = mine} end
    local prev = redis.call('GET', ikey)
    if prev then
      local h = redis.call('HMGET', prefix .. ':h:' .. prev, 'qty', 'state', 'exp')
      if h[1] then
        return {'REPEATED', prev, tonumber(h[1]), h[2], tonumber(h[3]), now}
      end
    end
  end
  if info[5] == '1' then return {'SALE_PAUSED'} end
  if info[3] and now < tonumber(info[3]) then return {'SALE_NOT_OPEN', tonumber(info[3])} end
  if not P.avail then P.avail = tonumber(redis.call('GET', P.avail_key) or '0') end
  local avail = P.avail
  if avail < qty then return {'SOLD_OUT', avail} end
  -- The rate limits count only reserves that could take units: a refusal above costs nothing
  -- and writes nothing (a stampede on a sold-out product must not write a key per request).
  -- A waiting-room product has none: its admission is good for one hold, which caps a buyer
  -- harder than any rate, and the limit's key would cost Redis a sixth more per hold.
  if n > 0 and info[4] ~= '1' then
    local wait = rate_limit(K, k0, A, a0, n, P.now_u, P)
    if wait > 0 then return {'RATE_LIMITED', math.ceil(wait / 1000)} end
  end
  local tkey = nil
  if info[4] == '1' then
    -- An admission is good once, for its buyer, until it expires.
    if ticket == '' then return {'NOT_ADMITTED'} end
    tkey = prefix .. ':q:t:' .. ticket
    if B and B.tickets[tkey] then return {'NOT_ADMITTED'} end
    local t = redis.call('HMGET', tkey, 'user', 'state', 'adm')
    if t[1] ~= user or t[2] ~= 'admitted' or tonumber(t[3]) <= now then
      return {'NOT_ADMITTED'}
    end
  end
  -- The buyer's units: read once a call; `absent`: no key yet, so it is made with its expiry
  -- in one call.
  local used, absent = B and B.used[ukey], false
  if used == nil then
    local v = redis.call('GET', ukey)
    absent = not v
    used = tonumber(v or '0')
  end
  local limit = tonumber(info[1])
  if used + qty > limit then return {'LIMIT_REACHED', used, limit} end
  if (B and B.holds[hkey]) or redis.call('EXISTS', hkey) == 1 then return {'DUPLICATE'} end
  local hold = tonumber(info[2]) or tonumber(P.hold)
  local exp = now + hold * 1000
  -- Redis turns every number handed to redis.call into text (snprintf, the largest single cost
  -- of this script), so each is converted once: the quantity as the server sent it (decimal),
  -- the expiry, now, and the day the buyer's keys are kept to.
  -- A call's holds share one expiry (one TIME, one product): converted once.
  if P.exp ~= exp then
    P.exp, P.exps, P.keep = exp, string.format('%d', exp), string.format('%d', exp + RETAIN_MS)
  end
  if not P.nows then P.nows = string.format('%d', now) end
  P.avail = avail - qty
  if B then
    B.take = B.take + qty
    B.used[ukey] = used + qty
    B.holds[hkey] = true
    -- .failed: set when this hold cannot be written (the batch's finish)
    if ikey then B.idem[ikey] = {rid = rid, qty = qty, exp = exp} end
    if tkey then B.tickets[tkey] = true end
  end
  return nil, absent, used == 0, ikey, tkey, avail - qty
end

-- Writes one planned hold, its units already taken: the buyer's count (`absent`: no key yet,
-- made with its expiry in one call) and list of holds, kept a day past the hold (`fresh`: the
-- buyer had no units, see keep_until); the hold; its idempotency key (ikey) and admission
-- (tkey). Its expiry (P.exp) is scheduled by the caller.
local function reserve_write(P, ukey, hkey, user, q, rid, absent, fresh, ikey, tkey)
  local prefix, keep = P.prefix, P.keep
  if absent then
    redis.call('SET', ukey, q, 'PXAT', keep)
  else
    redis.call('INCRBY', ukey, q)
    keep_until(ukey, keep, fresh)
  end
  redis.call('HSET', hkey, 'user', user, 'qty', q, 'state', 'held', 'exp', P.exps,
             'created', P.nows)
  local uhkey = prefix .. ':uh:' .. user
  redis.call('SADD', uhkey, rid)
  keep_until(uhkey, keep, fresh)
  if ikey then redis.call('SET', ikey, rid, 'PX', P.exp - P.now + FINISHED_MS) end
  if tkey then
    -- The buyer stays active (counted against maxActive) until the hold ends.
    redis.call('HSET', tkey, 'state', 'used', 'usedAt', P.nows, 'rid', rid)
    redis.call('HSET', hkey, 'adm', '1')
    redis.call('ZADD', prefix .. ':q:active', P.exps, user)
  end
end

-- The text of an error caught by pcall (a redis.call error is a table {err = ...}).
local function err_text(e)
  return type(e) == 'table' and e.err or tostring(e)
end

-- Makes the holds a batch planned (`out`: per reserve, in order, its refusal or its plan
-- {plan = true, ukey, hkey, user, q, rid, absent, fresh, ikey, tkey, after}; it becomes the
-- batch's replies). All their units are taken first, in one DECRBY and one INCRBY of
-- prefix:held, before anything of a hold is written: a failure after that loses units until
-- the next rebuild (src/purchase/README.md) and never sells one twice. Then each hold is
-- written under pcall (a Redis error is that reserve's reply, and a REPEATED of it in the same
-- batch gets the same error), and the written ones are scheduled to expire in one ZADD.
local function reserve_finish(P, out)
  local B = P.batch
  if B.take == 0 then return out end
  local units = string.format('%d', B.take)
  local ok, err = pcall(redis.call, 'DECRBY', P.avail_key, units)
  if ok then ok, err = pcall(redis.call, 'INCRBY', P.prefix .. ':held', units) end
  local z = {}
  for _, w in ipairs(out) do
    if w.plan then
      if not ok then
        w.err = err_text(err)
      else
        local wrote, e = pcall(reserve_write, P, w.ukey, w.hkey, w.user, w.q, w.rid, w.absent,
                               w.fresh, w.ikey, w.tkey)
        if wrote then
          z[#z + 1] = P.exps
          z[#z + 1] = w.rid
        else
          w.err = err_text(e)
        end
      end
    end
  end
  if #z > 0 then
    local zok, e = pcall(redis.call, 'ZADD', P.exp_key, unpack(z))
    if not zok then
      for _, w in ipairs(out) do
        if w.plan and not w.err then w.err = err_text(e) end
      end
    end
  end
  -- The replies, in order: a REPEATED comes after the hold it repeats.
  for i, r in ipairs(out) do
    if r.plan then
      if r.err and r.ikey then B.idem[r.ikey].failed = r.err end
      out[i] = r.err and {err = r.err} or {'OK', P.exp, r.after, P.now}
    elseif r.of then
      local failed = r.of.failed
      r.of = nil
      if failed then out[i] = {err = failed} end
    end
  end
  return out
end

-- The product's part of a reserve (see reserve_check): one TIME and one HMGET for a call.
local function reserve_start(info_key, avail_key, exp_key, hold, prefix)
  local now_u = now_us()
  return {info = redis.call('HMGET', info_key, 'limit', 'hold', 'start', 'q', 'paused'),
          prefix = prefix, hold = hold, avail_key = avail_key, exp_key = exp_key,
          now_u = now_u, now = math.floor(now_u / 1000)}
end

