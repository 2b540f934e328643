-- Rate limits for the route whose own script does not fold them in (confirm).
-- KEYS[1..n] the limits' keys (one slot: the product's)  ARGV[2i-1], ARGV[2i] limit i's
-- emission interval and tolerance (µs)
-- -> 0 (counted, go ahead) | ms until the request would pass (nothing counted)
local wait = rate_limit(KEYS, 1, ARGV, 1, #KEYS, now_us())
return math.ceil(wait / 1000)
