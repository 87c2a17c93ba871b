#!lua
-- offer_agreement.lua: store a publisher's offer, as version n of an
-- agreement. Version 1 creates the agreement and its indexes; version n > 1
-- must follow the latest (n - 1), of the same publisher and account, and
-- withdraws that version if it is still offered. A stored version's content
-- is never written again.
--
-- KEYS[1]  agreement head       pc:reg:{reg}:agr:<id>
-- KEYS[2]  version n            pc:reg:{reg}:agr:<id>:v:<n>
-- KEYS[3]  version n - 1        pc:reg:{reg}:agr:<id>:v:<n-1>
-- KEYS[4]  all agreements       pc:reg:{reg}:agrs
-- KEYS[5]  account's agreements pc:reg:{reg}:op:<op id>:agrs
-- KEYS[6]  publisher's          pc:reg:{reg}:pub:<publisher id>:agrs
-- KEYS[7]  the pair's           pc:reg:{reg}:pub:<publisher id>:agrs:<op id>
-- KEYS[8]  the operator         pc:reg:{reg}:op:<op id>
-- KEYS[9]  the publisher        pc:reg:{reg}:pub:<publisher id>
--
-- ARGV[1]  agreement id
-- ARGV[2]  version n
-- ARGV[3]  publisher id
-- ARGV[4]  account (operator id)
-- ARGV[5]  the version's content (JSON)
-- ARGV[6]  now, unix milliseconds
-- ARGV[7]  most agreement ids one publisher may hold with one account
-- ARGV[8]  most versions of one agreement
--
-- Returns "ok", "noaccount", "nopublisher", "exists" (version 1 of a taken
-- id), "notfound" (version n > 1 of an unknown id), "forbidden" (another
-- publisher's agreement), "account" (another account than the agreement's),
-- "stale" (version n - 1 is not the latest), "limit" or "versions".
if redis.call('EXISTS', KEYS[8]) == 0 then
  return 'noaccount'
end
if redis.call('EXISTS', KEYS[9]) == 0 then
  return 'nopublisher'
end
local n = tonumber(ARGV[2])
if n == 1 then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return 'exists'
  end
  if redis.call('SCARD', KEYS[7]) >= tonumber(ARGV[7]) then
    return 'limit'
  end
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'publisher', ARGV[3], 'account', ARGV[4], 'latest', 1, 'accepted', 0, 'created', ARGV[6])
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
  redis.call('SADD', KEYS[5], ARGV[1])
  redis.call('SADD', KEYS[6], ARGV[1])
  redis.call('SADD', KEYS[7], ARGV[1])
else
  local head = redis.call('HMGET', KEYS[1], 'publisher', 'account', 'latest')
  if not head[1] then
    return 'notfound'
  end
  if head[1] ~= ARGV[3] then
    return 'forbidden'
  end
  if head[2] ~= ARGV[4] then
    return 'account'
  end
  if tonumber(head[3]) ~= n - 1 then
    return 'stale'
  end
  if n > tonumber(ARGV[8]) then
    return 'versions'
  end
  if redis.call('HGET', KEYS[3], 'state') == 'offered' then
    redis.call('HSET', KEYS[3], 'state', 'withdrawn', 'decided_at', ARGV[6])
  end
  redis.call('HSET', KEYS[1], 'latest', n)
end
if redis.call('HSETNX', KEYS[2], 'content', ARGV[5]) == 0 then
  return redis.error_reply('offer_agreement: version content exists')
end
redis.call('HSET', KEYS[2], 'state', 'offered', 'offered_at', ARGV[6])
return 'ok'
