#!lua
-- check.lua: record the result of checking an invoice's day (aggregate
-- against the stream of commitments) on a draft or held invoice. The first
-- result recorded wins; a later call returns it and changes nothing, so the
-- script is idempotent. Fenced.
--
-- KEYS[1]  invoice hash                  <p>:{acct}:inv:<day>:<cur>
-- KEYS[2]  invoice history stream        <p>:{acct}:invh:<day>:<cur>
--
-- ARGV[1]  fencing token (integer >= 1)
-- ARGV[2]  result: "ok" or "mismatch"
-- ARGV[3]  now, unix milliseconds
-- ARGV[4]  actor
-- ARGV[5]  reason
--
-- Returns {"ok", stored result}, {"notfound"}, {"fenced", highest token} or
-- {"transition", current status} (the invoice is neither draft nor held).
local inv = KEYS[1]
local st = redis.call('HMGET', inv, 'status', 'token', 'check')
if not st[1] then
  return {'notfound'}
end
if st[3] then
  return {'ok', st[3]}
end
if tonumber(ARGV[1]) < tonumber(st[2]) then
  return {'fenced', st[2]}
end
if st[1] ~= 'draft' and st[1] ~= 'held' then
  return {'transition', st[1]}
end
redis.call('HSET', inv, 'check', ARGV[2], 'checked', ARGV[3], 'token', ARGV[1], 'updated', ARGV[3])
redis.call('XADD', KEYS[2], '*', 'kind', 'check', 'from', st[1], 'to', st[1], 'at', ARGV[3],
  'actor', ARGV[4], 'token', ARGV[1], 'reason', ARGV[5])
return {'ok', ARGV[2]}
