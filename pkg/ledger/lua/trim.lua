#!lua
-- trim.lua: delete a crawler-day's commitment stream (and its dictionary) once every invoice of that
-- day is final (paid, void or carried). The aggregate and the invoices stay.
--
-- KEYS[1]     stream of the crawler-day         <p>:{acct}:c:<day>
-- KEYS[2]     aggregate hash of the crawler-day <p>:{acct}:a:<day>
-- KEYS[3]     dictionary of the crawler-day     <p>:{acct}:pr:<day>
-- KEYS[4..]   invoice hashes of that day, one per currency in ARGV (same order)
--
-- ARGV[1..]   the currencies the caller found in the aggregate
--
-- Returns {"trimmed", n} (n = entries deleted, 0 if already gone),
-- {"stale"} (the aggregate's currencies differ from ARGV: read again),
-- {"open"} (the day is not closed), {"noinvoice", currency} or
-- {"unsettled", currency, status}.
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
if nwant ~= #ARGV then
  return {'stale'}
end
for _, cur in ipairs(ARGV) do
  if not want[cur] then
    return {'stale'}
  end
end
if nwant > 0 and not closed then
  return {'open'}
end
for i, cur in ipairs(ARGV) do
  local st = redis.call('HGET', KEYS[3 + i], 'status')
  if not st then
    return {'noinvoice', cur}
  end
  if st ~= 'paid' and st ~= 'void' and st ~= 'carried' then
    return {'unsettled', cur, st}
  end
end
local n = redis.call('XLEN', KEYS[1])
redis.call('DEL', KEYS[1], KEYS[3])
return {'trimmed', n}
