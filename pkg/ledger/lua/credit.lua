#!lua
-- credit.lua: set the credit of one invoice line while the invoice is draft or
-- held, and recompute the total. The credit is an absolute value (not an
-- increment), so a resent call changes nothing.
--
-- KEYS[1]  invoice hash            <p>:{acct}:inv:<day>:<cur>
-- KEYS[2]  invoice history stream  <p>:{acct}:invh:<day>:<cur>
--
-- ARGV[1]  line index (0-based)
-- ARGV[2]  credit, integer micro-units (0 removes the credit)
-- ARGV[3]  transition id (random per call; a resent call with the same id is a no-op)
-- ARGV[4]  now, unix milliseconds
-- ARGV[5]  actor
-- ARGV[6]  reason
--
-- Returns {"ok", total}, {"notfound"}, {"transition", current status},
-- {"noline", number of lines} or {"toomuch", line amount}.
local inv = KEYS[1]
local p = 'l' .. ARGV[1] .. '.'
local st = redis.call('HMGET', inv, 'status', 'last_tx', 'total', 'lines', p .. 'amount', p .. 'credit')
if not st[1] then
  return {'notfound'}
end
if st[2] == ARGV[3] then
  return {'ok', st[3]}
end
if st[1] ~= 'draft' and st[1] ~= 'held' then
  return {'transition', st[1]}
end
if not st[5] then
  return {'noline', st[4]}
end
local credit = tonumber(ARGV[2])
if credit > tonumber(st[5]) then
  return {'toomuch', st[5]}
end
local total = string.format('%d', tonumber(st[3]) + tonumber(st[6]) - credit)
redis.call('HSET', inv, p .. 'credit', ARGV[2], 'total', total, 'last_tx', ARGV[3], 'updated', ARGV[4])
redis.call('XADD', KEYS[2], '*', 'kind', 'credit', 'from', st[1], 'to', st[1], 'at', ARGV[4],
  'actor', ARGV[5], 'token', '0', 'reason', ARGV[6], 'line', ARGV[1], 'credit', ARGV[2])
return {'ok', total}
