-- A product's figures for /metrics, all O(1) or O(log n): live holds (held and confirming),
-- the due time of the one due first, units in held holds, the waiting room's line and active
-- admissions.
-- KEYS[1] prefix:exp   ARGV[1] prefix
-- -> {liveHolds, firstDueMs (-1: none), heldUnits, lineLength, activeAdmissions}
local prefix = ARGV[1]
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local due = -1
if first[2] then due = math.floor(tonumber(first[2])) end
return {redis.call('ZCARD', KEYS[1]), due,
        tonumber(redis.call('GET', prefix .. ':held') or '0'),
        redis.call('ZCARD', prefix .. ':q:line'),
        redis.call('ZCOUNT', prefix .. ':q:active', active_from(prefix, now_ms()), '+inf')}
