-- One page of a product's live holds in expiry order (prefix:exp: a held hold's end, a
-- confirming one's lease), from after the cursor (score, rid; equal scores are in rid order).
-- Walks at most 20 x limit entries per call, so a page may come back short with a cursor.
-- KEYS[1] prefix:exp   ARGV[1] prefix  ARGV[2] cursor score ('' = from the start)
-- ARGV[3] cursor rid  ARGV[4] limit  ARGV[5] state ('' = held and confirming)
-- -> {nextScore ('' = no more), nextRid, {rid, user, qty, state, expiresAtMs, createdMs}, ...}
local prefix = ARGV[1]
local limit = tonumber(ARGV[4])
local from = '-inf'
local cscore = nil
if ARGV[2] ~= '' then
  cscore = tonumber(ARGV[2])
  from = ARGV[2]
end
local out = {}
local last_score, last_rid = nil, nil
local offset, scanned, budget = 0, 0, 20 * limit
local done = false
while not done and scanned < budget do
  local chunk = redis.call('ZRANGEBYSCORE', KEYS[1], from, '+inf', 'WITHSCORES', 'LIMIT',
                           offset, 100)
  if #chunk == 0 then
    last_score = nil
    break
  end
  offset = offset + #chunk / 2
  for i = 1, #chunk, 2 do
    local rid, score = chunk[i], tonumber(chunk[i + 1])
    if not (cscore and score == cscore and rid <= ARGV[3]) then
      scanned = scanned + 1
      last_score, last_rid = score, rid
      local h = redis.call('HMGET', prefix .. ':h:' .. rid, 'user', 'qty', 'state', 'created')
      if (h[3] == 'held' or h[3] == 'confirming') and (ARGV[5] == '' or ARGV[5] == h[3]) then
        out[#out + 1] = {rid, h[1], tonumber(h[2]), h[3], score, tonumber(h[4]) or 0}
        if #out >= limit then
          done = true
          break
        end
      end
      if scanned >= budget then break end
    end
  end
  if #chunk < 200 and not done and scanned < budget then
    last_score = nil
    break
  end
end
local result = {'', ''}
if last_score then result = {string.format('%.0f', last_score), last_rid} end
for _, r in ipairs(out) do result[#result + 1] = r end
return result
