-- Cancels the caller's live hold; its units are back at once. Repeating a cancel is a no-op.
-- KEYS[1] prefix:h:<rid>   ARGV[1] prefix  ARGV[2] rid  ARGV[3] user
-- -> {'OK', unitsReturned} | {'NOT_FOUND'} | {'CONFIRMING'} | {'CONFIRMED'} | {'EXPIRED'}
local h = redis.call('HMGET', KEYS[1], 'user', 'state')
if not h[1] or h[1] ~= ARGV[3] then return {'NOT_FOUND'} end
if h[2] == 'held' then return {'OK', release(ARGV[1], ARGV[2], KEYS[1], 'cancelled')} end
if h[2] == 'cancelled' then return {'OK', 0} end
return {string.upper(h[2])}
