#!lua
-- trim.lua: delete a crawler-day's commitment stream (and its dictionary) once every invoice of that
-- day is final (paid, void or carried). The aggregate and the invoices stay.
--
-- KEYS[1]     stream of the crawler-day         <p>:{acct}:c:<day>
-- KEYS[2]     aggregate hash of the crawler-day <p>:{acct}:a:<day>
-- KEYS[3]     dictionary of the crawler-day     <p>:{acct}:pr:<day>
-- KEYS[4..]   the invoice hash covering each currency in ARGV (same order):
--             the day's own, or the weekly or monthly invoice its inv|<cur>
--             field names (CreateLinesInvoice)
--
-- ARGV[1]     the day
-- ARGV[2..]   pairs: a currency the caller found in the aggregate, the day of
--             the invoice that covers it
--
-- Returns {"trimmed", n} (n = entries deleted, 0 if already gone),
-- {"stale"} (the aggregate's currencies or covering invoices differ from
-- ARGV: read again), {"open"} (the day is not closed),
-- {"noinvoice", currency, invoice day} or
-- {"unsettled", currency, status, invoice day}.
local want = {}
local nwant = 0
local agg = redis.call('HKEYS', KEYS[2])
local closed = false
for _, f in ipairs(agg) do
  if f == 'closed' then
    closed = true
  else
    local cur, rest = string.match(f, '^n|([^|]+)(.*)$')
    if cur and rest == '' then
      want[cur] = true
      nwant = nwant + 1
    end
  end
end
local npairs = (#ARGV - 1) / 2
if nwant ~= npairs then
  return {'stale'}
end
for i = 1, npairs do
  local cur, on = ARGV[2 * i], ARGV[2 * i + 1]
  if not want[cur] then
    return {'stale'}
  end
  local covering = redis.call('HGET', KEYS[2], 'inv|' .. cur) or ARGV[1]
  if covering ~= on then
    return {'stale'}
  end
end
if nwant > 0 and not closed then
  return {'open'}
end
for i = 1, npairs do
  local cur, on = ARGV[2 * i], ARGV[2 * i + 1]
  local st = redis.call('HGET', KEYS[3 + i], 'status')
  if not st then
    return {'noinvoice', cur, on}
  end
  if st ~= 'paid' and st ~= 'void' and st ~= 'carried' then
    return {'unsettled', cur, st, on}
  end
end
local n = redis.call('XLEN', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[3])
return {'trimmed', n}
