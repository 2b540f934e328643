-- Several reserves of one product in one call (the server's batches, purchase/README.md):
-- each is reserve.lua's, in order, as if each were its own call. The product, its sale and
-- Redis TIME are read once for all of them; the units of all their holds are taken in one
-- DECRBY, before any hold is written, and the holds are scheduled to expire in one ZADD
-- (reserve_finish).
-- KEYS[1] prefix:info  KEYS[2] prefix:avail  KEYS[3] prefix:exp, then per reserve:
--   prefix:u:<user>, prefix:h:<rid>, and its n rate-limit keys
-- ARGV[1] default hold seconds  ARGV[2] prefix  ARGV[3] the number of reserves, then per
--   reserve: user, quantity, rid, admission ticket (''), idempotency key (''), n, and its 2n
--   rate-limit specs (see reserve.lua)
-- -> one reply per reserve, in order, each as reserve.lua's; a reserve that fails with a
--    Redis error (a bug) gets that error as its reply, and the others are not affected
local P = reserve_start(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])
P.batch = {take = 0, used = {}, holds = {}, idem = {}, tickets = {}}
local out = {}
local k, a = 4, 4
for i = 1, tonumber(ARGV[3]) do
  local n = tonumber(ARGV[a + 5])
  local ukey, hkey, user, q, rid = KEYS[k], KEYS[k + 1], ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local ok, refused, absent, fresh, ikey, tkey, after =
    pcall(reserve_check, P, ukey, hkey, user, q, rid, ARGV[a + 3], ARGV[a + 4], KEYS, k + 2, ARGV,
          a + 6, n)
  if not ok then
    out[i] = {err = err_text(refused)}
  elseif refused then
    out[i] = refused
  else
    out[i] = {plan = true, ukey = ukey, hkey = hkey, user = user, q = q, rid = rid,
              absent = absent, fresh = fresh, ikey = ikey, tkey = tkey, after = after}
  end
  k = k + 2 + n
  a = a + 6 + 2 * n
end
return reserve_finish(P, out)
