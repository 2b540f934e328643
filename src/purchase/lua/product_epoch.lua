-- Redis Cluster: the Redis-loss check of one product, on the master that holds it. Each master
-- can lose data on its own (a failover to a replica that lagged, a restart from an AOF), so the
-- marker is per product: the run id of the node whose data was last rebuilt from the database.
-- KEYS[1] prefix:epoch
-- -> {marker or false, this node's run id}
local info = redis.call('INFO', 'server')
return {redis.call('GET', KEYS[1]), string.match(info, 'run_id:(%x+)')}
