#!lua
-- create_publisher.lua: create a publisher account, its API token and its
-- host claims, all or nothing.
--
-- KEYS[1]  publisher hash          pc:reg:{reg}:pub:<publisher id>
-- KEYS[2]  publisher index (zset)  pc:reg:{reg}:pubs
-- KEYS[3]  token key               pc:reg:{reg}:ptok:<sha-256 hex>
-- KEYS[4…] claims of its hosts     pc:reg:{reg}:host:<host>
--
-- ARGV[1]  publisher id
-- ARGV[2]  created, unix milliseconds
-- ARGV[3]  token digest (sha-256 hex)
-- ARGV[4]  its hosts (space-separated, sorted; "" for none)
-- ARGV[5…] further field, value pairs of the hash
--
-- Returns "ok" (also when the same call is retried after a lost reply),
-- "exists" (the publisher id is taken), "token" (the token digest is) or
-- "taken:<i>:<owner>" (host KEYS[3+i] is another publisher's).
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'token_hash') == ARGV[3] then
    return 'ok'
  end
  return 'exists'
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 'token'
end
for i = 4, #KEYS do
  local owner = redis.call('GET', KEYS[i])
  if owner and owner ~= ARGV[1] then
    return 'taken:' .. (i - 3) .. ':' .. owner
  end
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'created', ARGV[2], 'updated', ARGV[2], 'token_hash', ARGV[3],
  'hosts', ARGV[4], unpack(ARGV, 5))
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
for i = 4, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1])
end
return 'ok'
