-- After a refund committed in the database: the buyer's per-product count (prefix:u:<user>,
-- units held or bought) goes down by the order's units, once per order however often this
-- runs (the marker prefix:rf:<orderId> remembers it). Available units are not touched here:
-- the caller reconciles them from the database (rebuild.hpp), which is idempotent.
-- KEYS[1] prefix:u:<user>  KEYS[2] prefix:rf:<orderId>   ARGV[1] units  ARGV[2] marker ttl ms
-- -> 1 applied now | 0 applied before
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', tonumber(ARGV[2])) then return 0 end
if tonumber(redis.call('DECRBY', KEYS[1], tonumber(ARGV[1]))) <= 0 then
  redis.call('DEL', KEYS[1])
end
return 1
