#!lua
-- rotate_publisher_token.lua: replace a publisher's API token; the old one
-- stops working at once.
--
-- KEYS[1]  publisher hash   pc:reg:{reg}:pub:<publisher id>
-- KEYS[2]  new token key    pc:reg:{reg}:ptok:<new sha-256 hex>
-- KEYS[3]  old token key    pc:reg:{reg}:ptok:<old sha-256 hex>
--
-- ARGV[1]  publisher id
-- ARGV[2]  new token digest (sha-256 hex)
-- ARGV[3]  old token digest, as the caller read it
--
-- Returns "ok", "missing" (no such publisher), "token" (the new digest is
-- taken) or "moved" (the token changed since the caller read it).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'missing'
end
if redis.call('HGET', KEYS[1], 'token_hash') ~= ARGV[3] then
  return 'moved'
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return 'token'
end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[1], 'token_hash', ARGV[2])
redis.call('SET', KEYS[2], ARGV[1])
return 'ok'
