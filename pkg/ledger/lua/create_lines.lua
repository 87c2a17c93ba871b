#!lua
-- create_lines.lua: create an invoice from lines the caller computed (usage
-- by agreement and kind, subscription fees, a top-up), covering one or more
-- crawler-days: close each covered day to new commitments and mark it as
-- invoiced by this invoice, consume the crawler's carry-over balance into it.
-- Idempotent: an existing invoice is left alone.
--
-- KEYS[1]   invoice hash                        <p>:{acct}:inv:<slot>:<cur>
-- KEYS[2]   invoice history stream              <p>:{acct}:invh:<slot>:<cur>
-- KEYS[3]   carry-over balance                  <p>:{acct}:carry:<cur>
-- KEYS[4]   carry-over log stream               <p>:{acct}:carrylog:<cur>
-- KEYS[5..] aggregate hashes of the covered days <p>:{acct}:a:<day>
--
-- ARGV[1]   invoice id
-- ARGV[2]   account
-- ARGV[3]   day (YYYY-MM-DD): the invoice's date, its period's last day
-- ARGV[4]   currency
-- ARGV[5]   now, unix milliseconds
-- ARGV[6]   actor
-- ARGV[7]   first covered day, "" for the invoice's day alone
-- ARGV[8]   history reason
-- ARGV[9]   number of lines n; then n groups of 7: publisher, site, count,
--           amount, kind, agreement id, agreement version
-- ARGV[..]  after the lines: "1" to consume the carry-over balance, "0" not;
--           then the covered days, comma-separated ("" for none)
--
-- Returns {"exists"}, {"created"}, {"empty"} (no lines) or {"range"} (a
-- total beyond 2^53-1).
local MAX = 9007199254740991
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists'}
end
local cur = ARGV[4]
local n = tonumber(ARGV[9])
if n == 0 then
  return {'empty'}
end
local subtotal = 0
for i = 0, n - 1 do
  subtotal = subtotal + tonumber(ARGV[10 + i * 7 + 3])
  if subtotal > MAX then
    return {'range'}
  end
end
local carried = 0
if ARGV[10 + n * 7] == '1' then
  carried = tonumber(redis.call('GET', KEYS[3]) or '0')
end
if subtotal + carried > MAX then
  return {'range'}
end
for i = 5, #KEYS do
  redis.call('HSETNX', KEYS[i], 'closed', ARGV[5])
  redis.call('HSET', KEYS[i], 'inv|' .. cur, ARGV[3])
end
if carried ~= 0 then
  redis.call('SET', KEYS[3], '0')
  redis.call('XADD', KEYS[4], '*', 'invoice', ARGV[1], 'delta', string.format('%d', -carried),
    'balance', '0', 'kind', 'consumed', 'at', ARGV[5])
end
local h = {
  'id', ARGV[1], 'account', ARGV[2], 'day', ARGV[3], 'currency', cur,
  'status', 'draft', 'token', '0', 'created', ARGV[5], 'updated', ARGV[5],
  'carried_in', string.format('%d', carried), 'total', string.format('%d', subtotal + carried),
  'charged', '0', 'carried_out', '0', 'lines', tostring(n),
}
if ARGV[7] ~= '' then
  h[#h + 1] = 'from'
  h[#h + 1] = ARGV[7]
end
if ARGV[11 + n * 7] ~= '' then
  h[#h + 1] = 'covered'
  h[#h + 1] = ARGV[11 + n * 7]
end
redis.call('HSET', KEYS[1], unpack(h))
local names = {'publisher', 'site', 'count', 'amount', 'kind', 'agr', 'agrv'}
for i = 0, n - 1 do
  local p = 'l' .. i .. '.'
  local lh = {p .. 'credit', '0'}
  for j = 1, 7 do
    lh[#lh + 1] = p .. names[j]
    lh[#lh + 1] = ARGV[10 + i * 7 + j - 1]
  end
  redis.call('HSET', KEYS[1], unpack(lh))
end
redis.call('XADD', KEYS[2], '*', 'kind', 'create', 'from', '', 'to', 'draft', 'at', ARGV[5],
  'actor', ARGV[6], 'token', '0', 'reason', ARGV[8])
return {'created'}
