#!lua
-- transition.lua: move an invoice from one status to another, compare-and-set,
-- fenced, recorded. The allowed "from" statuses for the target are passed in
-- by the caller (the transition table lives in Go, in one place).
--
-- KEYS[1]  invoice hash                  <p>:{acct}:inv:<day>:<cur>
-- KEYS[2]  invoice history stream        <p>:{acct}:invh:<day>:<cur>
-- KEYS[3]  charge attempts stream        <p>:{acct}:inva:<day>:<cur>
-- KEYS[4]  carry-over balance            <p>:{acct}:carry:<cur>
-- KEYS[5]  carry-over log stream         <p>:{acct}:carrylog:<cur>
--
-- ARGV[1]  target status
-- ARGV[2]  fencing token (integer >= 1)
-- ARGV[3]  transition id (random per call; a resent call with the same id is a no-op)
-- ARGV[4]  now, unix milliseconds
-- ARGV[5]  actor
-- ARGV[6]  reason
-- ARGV[7]  na: number of statuses the target may be reached from
-- ARGV[8 .. 7+na]            those statuses
-- ARGV[8+na]                 ns: number of field/value pairs to set
-- ARGV[9+na .. 8+na+2*ns]    field/value pairs to set on the invoice
-- ARGV[9+na+2*ns ..]         field/value pairs of a charge attempt to record (may be none)
--
-- Returns {"ok"}, {"notfound"}, {"fenced", highest token}, {"transition", current status}
-- or {"amounts", total, charged, carried_out} (a final status whose amounts do not add up).
--
-- Amounts are integers below 2^53 (checked by the caller and by create_invoice.lua),
-- so the double arithmetic below is exact.
local inv = KEYS[1]
local to = ARGV[1]
local st = redis.call('HMGET', inv, 'status', 'token', 'last_tx', 'total', 'charged', 'carried_out', 'carried_in')
local cur = st[1]
if not cur then
  return {'notfound'}
end
if cur == to and st[3] == ARGV[3] then
  return {'ok'}
end
local token = tonumber(ARGV[2])
if token < tonumber(st[2]) then
  return {'fenced', st[2]}
end
local na = tonumber(ARGV[7])
local allowed = false
for i = 8, 7 + na do
  if ARGV[i] == cur then
    allowed = true
  end
end
if not allowed then
  return {'transition', cur}
end
local ns = tonumber(ARGV[8 + na])
local sets = {}
local charged = st[5]
local carriedout = st[6]
for i = 9 + na, 8 + na + 2 * ns, 2 do
  sets[#sets + 1] = ARGV[i]
  sets[#sets + 1] = ARGV[i + 1]
  if ARGV[i] == 'charged' then charged = ARGV[i + 1] end
  if ARGV[i] == 'carried_out' then carriedout = ARGV[i + 1] end
end
if to == 'paid' or to == 'carried' then
  local c = tonumber(charged)
  if c + tonumber(carriedout) ~= tonumber(st[4]) or (to == 'carried' and c ~= 0) then
    return {'amounts', st[4], charged, carriedout}
  end
end
if to == 'paid' or to == 'carried' then
  -- A settled invoice shows no error: an earlier attempt's stays in the
  -- attempts stream, where it belongs.
  redis.call('HDEL', inv, 'error')
end
redis.call('HSET', inv, 'status', to, 'token', ARGV[2], 'last_tx', ARGV[3], 'updated', ARGV[4], unpack(sets))
redis.call('XADD', KEYS[2], '*', 'kind', 'transition', 'from', cur, 'to', to, 'at', ARGV[4],
  'actor', ARGV[5], 'token', ARGV[2], 'reason', ARGV[6])
local first = 9 + na + 2 * ns
if #ARGV >= first then
  redis.call('XADD', KEYS[3], '*', unpack(ARGV, first))
end
local id = redis.call('HGET', inv, 'id')
local delta = nil
local kind = nil
if (to == 'paid' or to == 'carried') and tonumber(carriedout) > 0 then
  delta = carriedout
  kind = 'carried'
elseif to == 'void' and tonumber(st[7]) > 0 then
  delta = st[7]
  kind = 'returned'
end
if delta then
  local bal = redis.call('INCRBY', KEYS[4], delta)
  redis.call('XADD', KEYS[5], '*', 'invoice', id, 'delta', delta, 'balance', string.format('%d', bal),
    'kind', kind, 'at', ARGV[4])
end
return {'ok'}
