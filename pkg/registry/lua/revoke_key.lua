#!lua
-- revoke_key.lua: revoke one key of an operator.
--
-- KEYS[1]  key record   pc:reg:{reg}:key:<keyid>
--
-- ARGV[1]  operator id that asks
-- ARGV[2]  now, unix milliseconds
--
-- Returns "ok", "already" (revoked before: nothing changed), "notfound" or
-- "forbidden" (the key belongs to another operator).
local rec = redis.call('HMGET', KEYS[1], 'operator', 'status')
if not rec[1] then
  return 'notfound'
end
if rec[1] ~= ARGV[1] then
  return 'forbidden'
end
if rec[2] == 'revoked' then
  return 'already'
end
redis.call('HSET', KEYS[1], 'status', 'revoked', 'revoked', ARGV[2])
redis.call('HDEL', KEYS[1], 'dir_proof') -- a revoked key's directory proof is never served again
return 'ok'
