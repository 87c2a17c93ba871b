#!lua
-- signup.lua: create an operator and its API token, all or nothing.
--
-- KEYS[1]  operator hash          pc:reg:{reg}:op:<op id>
-- KEYS[2]  operator index (zset)  pc:reg:{reg}:ops
-- KEYS[3]  token key              pc:reg:{reg}:tok:<sha-256 hex>
--
-- ARGV[1]  operator id
-- ARGV[2]  name
-- ARGV[3]  contact
-- ARGV[4]  created, unix milliseconds
-- ARGV[5]  token digest (sha-256 hex)
--
-- Returns "ok" (also when the same call is retried after a lost reply) or
-- "exists" (the operator id or the token digest is taken).
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('HGET', KEYS[1], 'token_hash') == ARGV[5] then
    return 'ok'
  end
  return 'exists'
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 'exists'
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'contact', ARGV[3],
  'status', 'active', 'created', ARGV[4], 'token_hash', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('SET', KEYS[3], ARGV[1])
return 'ok'
