-- Redis Cluster: a product just created in Redis is as the database has it: record this node
-- as the one its data was built on, so the loss check does not rebuild it mid-sale.
-- KEYS[1] prefix:epoch
-- -> 1
redis.call('SET', KEYS[1], string.match(redis.call('INFO', 'server'), 'run_id:(%x+)'))
return 1
