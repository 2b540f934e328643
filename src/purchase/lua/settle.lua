-- Settles a confirming hold whose lease ran out, given what the database says. The sweeper
-- claimed it (sweep.lua set lid = its claim id ARGV[6]) and, when no order existed, revoked the
-- old lease in the database, so the old confirm can no longer commit.
-- KEYS[1] prefix:h:<rid>   ARGV[1] prefix  ARGV[2] rid  ARGV[3] '1' if its order exists
-- ARGV[4] orderId  ARGV[5] totalCents  ARGV[6] claim id
-- -> 'CONFIRMED' | 'RESTORED' | 'RELEASED' | 'SKIP'
local h = redis.call('HMGET', KEYS[1], 'state', 'exp', 'lid')
if h[1] ~= 'confirming' or h[3] ~= ARGV[6] then return 'SKIP' end
if ARGV[3] == '1' then
  mark_confirmed(ARGV[1], ARGV[2], KEYS[1], ARGV[4], ARGV[5])
  return 'CONFIRMED'
end
if tonumber(h[2]) > now_ms() then
  restore_held(ARGV[1], ARGV[2], KEYS[1])
  return 'RESTORED'
end
release(ARGV[1], ARGV[2], KEYS[1], 'expired')
return 'RELEASED'
