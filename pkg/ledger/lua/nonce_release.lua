#!lua
-- nonce_release.lua: delete one claim of the sender's nonce journal, only if
-- the nonce is still claimed by the given transaction.
--
-- KEYS[1]  nonce journal         <p>:{nonce:<sender>}
--
-- ARGV[1]  nonce (decimal integer >= 0)
-- ARGV[2]  tx hash of the claim to delete
--
-- Returns 1 if the claim was deleted, 0 if the nonce is free or claimed by
-- another transaction.
local c = redis.call('HGET', KEYS[1], 'n:' .. ARGV[1])
if not c then
  return 0
end
local inv, att, hash = string.match(c, '^(%S+) (%S+) (%S+) ')
if hash ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[1], 'n:' .. ARGV[1])
local owner = 'o:' .. inv .. '#' .. att
if redis.call('HGET', KEYS[1], owner) == ARGV[1] then
  redis.call('HDEL', KEYS[1], owner)
end
return 1
