#!lua
-- create_publisher.lua: create a publisher account and its API token, all
-- or nothing.
--
-- KEYS[1]  publisher hash          pc:reg:{reg}:pub:<publisher id>
-- KEYS[2]  publisher index (zset)  pc:reg:{reg}:pubs
-- KEYS[3]  token key               pc:reg:{reg}:ptok:<sha-256 hex>
--
-- ARGV[1]  publisher id
-- ARGV[2]  created, unix milliseconds
-- ARGV[3]  token digest (sha-256 hex)
-- ARGV[4…] further field, value pairs of the hash
--
-- Returns "ok" (also when the same call is retried after a lost reply),
-- "exists" (the publisher id is taken) or "token" (the token digest is).
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'token_hash') == ARGV[3] then
    return 'ok'
  end
  return 'exists'
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 'token'
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'created', ARGV[2], 'updated', ARGV[2], 'token_hash', ARGV[3],
  unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
return 'ok'
