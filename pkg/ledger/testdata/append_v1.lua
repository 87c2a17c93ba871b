#!lua
-- append.lua: record one commitment, all or nothing.
--
-- KEYS[1]   stream of the crawler-day            <p>:{acct}:c:<day>
-- KEYS[2]   aggregate hash of the crawler-day    <p>:{acct}:a:<day>
-- KEYS[3]   archived public key                  <p>:{acct}:pk:<keyid>
-- KEYS[4]   profiles of the crawler-day          <p>:{acct}:pr:<day>
-- KEYS[5..] replay keys, one per guarded id      <p>:{acct}:rp:<id>
--
-- ARGV[1]   request id
-- ARGV[2]   price, integer micro-units (0 <= price <= 2^53-1)
-- ARGV[3]   currency field suffix: "<CUR>"
-- ARGV[4]   site field suffix: "<CUR>|<publisher>|<site>"
-- ARGV[5]   daily cap in micro-units, 0 = none
-- ARGV[6]   max price in micro-units, 0 = none
-- ARGV[7]   replay keys expire at this unix time in milliseconds
-- ARGV[8]   public key JWK JSON, "" = already archived (or none to archive)
-- ARGV[9]   the commitment's compact record, stored in the entry's field "c"
-- ARGV[10]  the id of the record's profile (16 bytes)
-- ARGV[11]  the profile, "" = already stored (checked: {"profile"} if not)
--
-- Returns {"ok", id}, {"dup", id} (idempotent retry: nothing changed but the
-- expiry of a replay key, set again to the same time so that the script
-- writes and a WAIT after it covers the first run too),
-- {"replay", n} (KEYS[4+n] holds another request), {"closed"},
-- {"maxprice"}, {"cap", spent}, {"range", spent}, {"profile"} (ARGV[11] is
-- empty and the profile is not stored: send it).
--
-- Amounts: Lua numbers are doubles, exact for integers up to 2^53. The caller
-- keeps every amount below 2^53 and the script refuses a day total beyond
-- 2^53-1, so every comparison here is exact; sums are kept by HINCRBY (int64).
local MAX = 9007199254740991
local rid = ARGV[1]
local dup, dupkey = nil, nil
local seen = redis.call('MGET', unpack(KEYS, 5))
for i = 1, #seen do
  local v = seen[i]
  if v then
    local sp = string.find(v, ' ', 1, true)
    if string.sub(v, sp + 1) ~= rid then
      return {'replay', tostring(i)}
    end
    dup, dupkey = string.sub(v, 1, sp - 1), KEYS[4 + i]
  end
end
if dup then
  -- A write, so that this connection's replication offset passes the first
  -- run's (which may have come on another connection): WAIT then means it.
  redis.call('PEXPIREAT', dupkey, ARGV[7])
  return {'dup', dup}
end
local mfield = 'm|' .. ARGV[3]
local agg = redis.call('HMGET', KEYS[2], 'closed', mfield)
if agg[1] then
  return {'closed'}
end
local price = tonumber(ARGV[2])
local maxprice = tonumber(ARGV[6])
if maxprice > 0 and price > maxprice then
  return {'maxprice'}
end
local spentstr = agg[2] or '0'
local spent = tonumber(spentstr)
if spent + price > MAX then
  return {'range', spentstr}
end
local cap = tonumber(ARGV[5])
if cap > 0 and spent + price > cap then
  return {'cap', spentstr}
end
if ARGV[11] == '' then
  if redis.call('HEXISTS', KEYS[4], ARGV[10]) == 0 then
    return {'profile'}
  end
else
  redis.call('HSETNX', KEYS[4], ARGV[10], ARGV[11])
end
local id = redis.call('XADD', KEYS[1], '*', 'c', ARGV[9])
redis.call('HINCRBY', KEYS[2], 'n|' .. ARGV[3], 1)
redis.call('HINCRBY', KEYS[2], mfield, ARGV[2])
redis.call('HINCRBY', KEYS[2], 'n|' .. ARGV[4], 1)
redis.call('HINCRBY', KEYS[2], 'm|' .. ARGV[4], ARGV[2])
local v = id .. ' ' .. rid
for i = 5, #KEYS do
  redis.call('SET', KEYS[i], v, 'PXAT', ARGV[7])
end
if ARGV[8] ~= '' then
  redis.call('SET', KEYS[3], ARGV[8], 'NX')
end
return {'ok', id}
