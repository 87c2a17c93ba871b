#!lua
-- set_dir_proof.lua: store a key's verified directory proof, only on a key
-- of that operator that is not revoked.
--
-- KEYS[1]  the key's record             pc:reg:{reg}:key:<keyid>
--
-- ARGV[1]  operator id
-- ARGV[2]  the proof (JSON)
--
-- Returns "ok", "notfound", "forbidden" (another operator's key) or
-- "revoked".
local rec = redis.call('HMGET', KEYS[1], 'operator', 'status')
if not rec[1] then
  return 'notfound'
end
if rec[1] ~= ARGV[1] then
  return 'forbidden'
end
if rec[2] == 'revoked' then
  return 'revoked'
end
redis.call('HSET', KEYS[1], 'dir_proof', ARGV[2])
return 'ok'
