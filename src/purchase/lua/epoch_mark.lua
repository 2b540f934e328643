-- Ends a full rebuild from the database: records the Redis run it rebuilt, unless Redis lost
-- data again meanwhile (FLUSHALL took the rebuild's guard key with it; a restart changes the
-- run id, which the next check compares).
-- KEYS[1] {ticketing}:epoch  KEYS[2] the rebuild's guard key   ARGV[1] run id seen before it
-- -> 1 recorded | 0 the guard is gone: rebuild again
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1])
return 1
