#!lua
-- nonce_claim.lua: a signed transaction claims one nonce of its sender in the
-- sender's nonce journal, before it is recorded on its invoice or broadcast.
--
-- KEYS[1]  nonce journal         <p>:{nonce:<sender>}
--
-- ARGV[1]  nonce (decimal integer >= 0)
-- ARGV[2]  owner: "<invoice id>#<attempt>"
-- ARGV[3]  claim: "<invoice id> <attempt> <tx hash> <raw tx>"
--
-- Fields: n:<nonce> → claim, o:<owner> → nonce.
--
-- Returns {"ok"} when the nonce is now the owner's; {"owned", nonce, claim}
-- when the owner already holds a claim (this one is not stored: an attempt
-- signs one transaction, and a resent call finds its own claim here); or
-- {"taken", next} when another owner holds the nonce, next being the lowest
-- free nonce above it.
local owned = redis.call('HGET', KEYS[1], 'o:' .. ARGV[2])
if owned then
  return {'owned', owned, redis.call('HGET', KEYS[1], 'n:' .. owned) or ''}
end
if redis.call('HEXISTS', KEYS[1], 'n:' .. ARGV[1]) == 1 then
  local n = tonumber(ARGV[1]) + 1
  while redis.call('HEXISTS', KEYS[1], 'n:' .. string.format('%d', n)) == 1 do
    n = n + 1
  end
  return {'taken', string.format('%d', n)}
end
redis.call('HSET', KEYS[1], 'n:' .. ARGV[1], ARGV[3], 'o:' .. ARGV[2], ARGV[1])
return {'ok'}
