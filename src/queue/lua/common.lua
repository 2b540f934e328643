-- The waiting-room scripts' prelude, after src/purchase/lua/common.lua: each script gets the
-- definitions of both that it uses (redis::LinkPrelude). Only top-level definitions here.
-- A line's keys share the product's hash tag: prefix = '{p:P}'.
--   prefix:q:line   zset ticket -> order (pre-queue: random below 2^52; then 2^52 + arrival seq)
--   prefix:q:seen   zset ticket -> last poll (ms), waiting tickets only
--   prefix:q:t:<ticket>  hash user, state (waiting|admitted|used|expired), joined, order,
--                   adm (admission expiry ms), admAt, usedAt, rid
--   prefix:q:u:<user>    the buyer's ticket
--   prefix:q:active zset user -> expiry ms: admitted buyers not yet finished
--   prefix:q:rate   hash sec, n: admissions in the current Redis second
--   prefix:q:seq, prefix:q:stats (admitted, dropped, keep: the line's keys' expiry, ms)
-- Nothing here lives forever (Redis runs with noeviction): a ticket and the buyer's ticket key
-- until a day (the join's retain time) after the later of joining and the sale start, and
-- after admission until a day past the admission's end; the line's own keys until a day (and
-- at most an hour more) after its last join, admission or drop.
local FIFO_BASE = 4503599627370496 -- 2^52: pre-queue orders are below, arrivals after start above

local LINE_KEYS = {':q:line', ':q:seen', ':q:active', ':q:rate', ':q:seq', ':q:stats'}

-- Keeps the line's keys until `at_ms` at least. Every join and admission asks for a few ms
-- more than the last, and pushing six expiries each time was a fifth of a join's Redis work
-- (bench/join-cost). So they are pushed to an hour past `at_ms`, noted as prefix:q:stats
-- 'keep'; within that hour a call only gives that expiry to a key that has none (one the line
-- has just made again after it emptied), with one PEXPIREAT NX each.
local LINE_KEEP_AHEAD_MS = 3600000
local function keep_line(prefix, at_ms)
  local stats = prefix .. ':q:stats'
  local kept = redis.call('HGET', stats, 'keep')  -- text: handed back to Redis as it is
  if kept and tonumber(kept) >= at_ms then
    for _, k in ipairs(LINE_KEYS) do redis.call('PEXPIREAT', prefix .. k, kept, 'NX') end
    return
  end
  local until_ms = at_ms + LINE_KEEP_AHEAD_MS
  redis.call('HSET', stats, 'keep', until_ms)
  for _, k in ipairs(LINE_KEYS) do keep_until(prefix .. k, until_ms) end
end

-- Units that could still be sold: available plus units in holds that may come back.
local function potential_units(prefix)
  local avail = tonumber(redis.call('GET', prefix .. ':avail') or '0')
  local held = tonumber(redis.call('GET', prefix .. ':held') or '0')
  return math.max(avail, 0) + math.max(held, 0)
end

-- When an admission that ends at `adm` (ms) ends, seen at `now`: while the sale is paused its
-- clock stands still (product_pause.lua moves it on at the resume), so one still good at the
-- pause's start is good for the time it had left then, counted from now.
local function admission_end(info_key, adm, now)
  local p = redis.call('HMGET', info_key, 'paused', 'pausedAt')
  local paused_at = p[1] == '1' and tonumber(p[2])
  if paused_at and adm > paused_at then return adm + math.max(0, now - paused_at) end
  return adm
end

-- {'OK', ticket, state, rank (-1 if not waiting), lineLength, admissionExpiryMs, soldOut 0/1,
--  nowMs, enabled 0/1, admitPerSecond, saleStartsAtMs (0 if open)}
local function describe(prefix, info_key, ticket, now)
  local info = redis.call('HMGET', info_key, 'q', 'qrate', 'start')
  local t = redis.call('HMGET', prefix .. ':q:t:' .. ticket, 'state', 'adm')
  local state = t[1] or 'expired'
  local adm = tonumber(t[2]) or 0
  if state == 'admitted' then adm = admission_end(info_key, adm, now) end
  local rank = -1
  if state == 'waiting' then
    rank = redis.call('ZRANK', prefix .. ':q:line', ticket)
    if not rank then
      state = 'expired'
      rank = -1
    end
  elseif state == 'admitted' and adm <= now then
    state = 'expired'
  end
  local soldout = 0
  if potential_units(prefix) <= 0 then soldout = 1 end
  local enabled = 0
  if info[1] == '1' then enabled = 1 end
  return {'OK', ticket, state, rank, redis.call('ZCARD', prefix .. ':q:line'), adm, soldout, now,
          enabled, tonumber(info[2]) or 0, tonumber(info[3]) or 0}
end
