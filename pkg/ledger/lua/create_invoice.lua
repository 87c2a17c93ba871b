#!lua
-- create_invoice.lua: build the invoice of one (crawler, day, currency) from the
-- day's aggregate, consume the crawler's carry-over balance into it, and close
-- the day to new commitments. Idempotent: an existing invoice is left alone.
--
-- KEYS[1]  aggregate hash of the crawler-day   <p>:{acct}:a:<day>
-- KEYS[2]  invoice hash                         <p>:{acct}:inv:<day>:<cur>
-- KEYS[3]  invoice history stream               <p>:{acct}:invh:<day>:<cur>
-- KEYS[4]  carry-over balance                   <p>:{acct}:carry:<cur>
-- KEYS[5]  carry-over log stream                <p>:{acct}:carrylog:<cur>
--
-- ARGV[1]  invoice id
-- ARGV[2]  account
-- ARGV[3]  day (YYYY-MM-DD)
-- ARGV[4]  currency
-- ARGV[5]  now, unix milliseconds
-- ARGV[6]  actor
--
-- Returns {"exists"}, {"created"}, {"empty"} (no usage in that currency) or
-- {"range"} (a total beyond 2^53-1).
--
-- Amounts stay integers: each is below 2^53 (append.lua guarantees it for the
-- day's total) and every sum is checked against 2^53-1, so doubles are exact.
local MAX = 9007199254740991
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'exists'}
end
redis.call('HSETNX', KEYS[1], 'closed', ARGV[5])
local cur = ARGV[4]
local npfx = 'n|' .. cur .. '|'
local mpfx = 'm|' .. cur .. '|'
local agg = redis.call('HGETALL', KEYS[1])
local lines = {}
local byname = {}
for i = 1, #agg, 2 do
  local f = agg[i]
  local kind = nil
  local name = nil
  if string.sub(f, 1, #npfx) == npfx then
    kind = 'count'
    name = string.sub(f, #npfx + 1)
  elseif string.sub(f, 1, #mpfx) == mpfx then
    kind = 'amount'
    name = string.sub(f, #mpfx + 1)
  end
  if kind then
    local l = byname[name]
    if not l then
      local bar = string.find(name, '|', 1, true)
      l = {name = name, publisher = string.sub(name, 1, bar - 1), site = string.sub(name, bar + 1), count = '0', amount = '0'}
      byname[name] = l
      lines[#lines + 1] = l
    end
    l[kind] = agg[i + 1]
  end
end
if #lines == 0 then
  return {'empty'}
end
table.sort(lines, function(a, b)
  return a.publisher < b.publisher or (a.publisher == b.publisher and a.site < b.site)
end)
local subtotal = 0
for _, l in ipairs(lines) do
  subtotal = subtotal + tonumber(l.amount)
  if subtotal > MAX then
    return {'range'}
  end
end
local carried = tonumber(redis.call('GET', KEYS[4]) or '0')
if subtotal + carried > MAX then
  return {'range'}
end
if carried ~= 0 then
  redis.call('SET', KEYS[4], '0')
  redis.call('XADD', KEYS[5], '*', 'invoice', ARGV[1], 'delta', string.format('%d', -carried),
    'balance', '0', 'kind', 'consumed', 'at', ARGV[5])
end
local h = {
  'id', ARGV[1], 'account', ARGV[2], 'day', ARGV[3], 'currency', cur,
  'status', 'draft', 'token', '0', 'created', ARGV[5], 'updated', ARGV[5],
  'carried_in', string.format('%d', carried), 'total', string.format('%d', subtotal + carried),
  'charged', '0', 'carried_out', '0', 'lines', tostring(#lines),
}
for i, l in ipairs(lines) do
  local p = 'l' .. (i - 1) .. '.'
  for _, kv in ipairs({{'publisher', l.publisher}, {'site', l.site}, {'count', l.count},
      {'amount', l.amount}, {'credit', '0'}}) do
    h[#h + 1] = p .. kv[1]
    h[#h + 1] = kv[2]
  end
end
redis.call('HSET', KEYS[2], unpack(h))
redis.call('XADD', KEYS[3], '*', 'kind', 'create', 'from', '', 'to', 'draft', 'at', ARGV[5],
  'actor', ARGV[6], 'token', '0', 'reason', 'created from the day\'s usage')
return {'created'}
