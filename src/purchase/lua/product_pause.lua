-- Pauses (ARGV[1] = '1') or resumes ('0') a product's sale in Redis: reserve.lua refuses and
-- the waiting room admits nobody while info.paused = '1'. The database has the flag too
-- (products.paused); sync_stock.lua restores it from there.
-- A pause stops the clock of the waiting room's admissions: a buyer admitted before it keeps
-- the rest of their time for after it. The pause notes its start (info.pausedAt, Redis time);
-- the resume then moves every entry of the line's active set that was live at that start
-- (admitted buyers, and buyers holding units with their admission) later by the pause's length,
-- and the expiry of each admission not yet used with it. It does that ARGV[3] entries per call,
-- from the latest expiry down, with the sale still paused; the call that finishes clears the
-- flag. An entry moved is above the cursor (info.pauseCursor), so none is moved twice, and the
-- length (info.pauseLen) is fixed by the first call.
-- KEYS[1] prefix:info   ARGV[1] '1' | '0'   ARGV[2] prefix   ARGV[3] entries per call (resume)
-- -> 1 written (or nothing to do) | 2 resume not finished: call again
--    | 0 the product is not in Redis (the caller rebuilds it from the database)
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '1' then
  if redis.call('HSETNX', KEYS[1], 'paused', '1') == 1 then
    redis.call('HSET', KEYS[1], 'pausedAt', now_ms())
  end
  return 1
end
local st = redis.call('HMGET', KEYS[1], 'paused', 'pausedAt', 'pauseLen', 'pauseCursor')
local function resumed()
  redis.call('HDEL', KEYS[1], 'paused', 'pausedAt', 'pauseLen', 'pauseCursor')
  return 1
end
if st[1] ~= '1' or not st[2] then return resumed() end
local paused_at = tonumber(st[2])
local len = tonumber(st[3])
if not len then
  len = math.max(0, now_ms() - paused_at)
  redis.call('HSET', KEYS[1], 'pauseLen', len)
end
if len == 0 then return resumed() end
local prefix = ARGV[2]
local active = prefix .. ':q:active'
local batch = tonumber(ARGV[3])
local top = st[4] or '+inf'
local lowest = '(' .. paused_at
local page = redis.call('ZRANGE', active, top, lowest, 'BYSCORE', 'REV', 'LIMIT', 0, batch,
                        'WITHSCORES')
local n = #page / 2
if n == 0 then return resumed() end
local last = page[#page]
local function move(user, score)
  local until_ms = tonumber(score) + len
  redis.call('ZADD', active, 'XX', until_ms, user)
  local ticket = redis.call('GET', prefix .. ':q:u:' .. user)
  if not ticket then return end
  local tkey = prefix .. ':q:t:' .. ticket
  local t = redis.call('HMGET', tkey, 'state', 'adm')
  if t[1] == 'admitted' and tonumber(t[2]) and tonumber(t[2]) > paused_at then
    local adm = tonumber(t[2]) + len
    redis.call('HSET', tkey, 'adm', adm)
    keep_until(tkey, adm + RETAIN_MS)
    keep_until(prefix .. ':q:u:' .. user, adm + RETAIN_MS)
  end
end
for i = 1, #page, 2 do
  if page[i + 1] ~= last then move(page[i], page[i + 1]) end
end
-- Every entry at the page's lowest score, those past the page's end included: the next call
-- starts below it.
for _, user in ipairs(redis.call('ZRANGE', active, last, last, 'BYSCORE')) do move(user, last) end
keep_until(active, tonumber(last) + len + RETAIN_MS)
if n < batch then return resumed() end
redis.call('HSET', KEYS[1], 'pauseCursor', '(' .. last)
return 2
