#!lua
-- append.lua: record one commitment, all or nothing.
--
-- KEYS[1]   stream of the crawler-day            <p>:{acct}:c:<day>
-- KEYS[2]   aggregate hash of the crawler-day    <p>:{acct}:a:<day>
-- KEYS[3]   archived public key                  <p>:{acct}:pk:<keyid>
-- KEYS[4]   profiles of the crawler-day          <p>:{acct}:pr:<day>
-- KEYS[5..] replay keys, one per guarded id      <p>:{acct}:rp:<id>
--           (with the agreement arguments, ARGV[12] of them, then:)
--           quota counter, when ARGV[13] ~= ''    <p>:{acct}:q:<agreement>:<period start>
--           prepaid balance, when ARGV[17] ~= ''  <p>:{acct}:pp:<agreement>
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
-- The agreement arguments, all present or all absent (a commitment without
-- an agreement sends ARGV[1..11] only):
-- ARGV[12]  number of replay keys
-- ARGV[13]  quota: requests the period includes (charged ARGV[2]), "" = no quota
-- ARGV[14]  quota: price of a request beyond them, "" = hard stop (refused)
-- ARGV[15]  quota: the compact record of a request beyond them (price ARGV[14])
-- ARGV[16]  quota: the counter expires at this unix time in milliseconds
-- ARGV[17]  prepaid: micro-units drawn from the balance, "" = no prepaid
--
-- Returns {"ok", id, kind}, {"dup", id, kind} (idempotent retry: nothing
-- changed but the expiry of a replay key, set again to the same time so that
-- the script writes and a WAIT after it covers the first run too; no quota
-- is counted and no balance drawn again), {"replay", n} (KEYS[4+n] holds
-- another request), {"closed"}, {"maxprice"}, {"cap", spent},
-- {"range", spent}, {"quota", used} (hard stop: the period's quota is used
-- up), {"prepaid", balance} (the balance is below ARGV[17]), {"profile"}
-- (ARGV[11] is empty and the profile is not stored: send it). kind is
-- "overage" when the request was beyond the quota (recorded with ARGV[14]
-- and ARGV[15]), "" otherwise. Every refusal writes nothing.
--
-- Amounts: Lua numbers are doubles, exact for integers up to 2^53. The caller
-- keeps every amount below 2^53 and the script refuses a day total beyond
-- 2^53-1, so every comparison here is exact; sums are kept by HINCRBY (int64).
local MAX = 9007199254740991
local rid = ARGV[1]
local agreed = #ARGV > 11
local nreplay = #KEYS - 4
if agreed then
  nreplay = tonumber(ARGV[12])
end
local dup, dupkey = nil, nil
local seen = redis.call('MGET', unpack(KEYS, 5, 4 + nreplay))
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
  local kind = ''
  if agreed and ARGV[13] ~= '' and ARGV[14] ~= '' then
    -- Which of the two records did the first run store?
    local e = redis.call('XRANGE', KEYS[1], dup, dup)
    if e[1] and e[1][2][2] == ARGV[15] then
      kind = 'overage'
    end
  end
  return {'dup', dup, kind}
end
local mfield = 'm|' .. ARGV[3]
local agg = redis.call('HMGET', KEYS[2], 'closed', mfield)
if agg[1] then
  return {'closed'}
end
local pricestr, rec, kind = ARGV[2], ARGV[9], ''
local nextkey = 5 + nreplay
local qkey, pkey, drawn = nil, nil, 0
if agreed and ARGV[13] ~= '' then
  qkey = KEYS[nextkey]
  nextkey = nextkey + 1
  local used = redis.call('GET', qkey) or '0'
  if tonumber(used) >= tonumber(ARGV[13]) then
    if ARGV[14] == '' then
      return {'quota', used}
    end
    pricestr, rec, kind = ARGV[14], ARGV[15], 'overage'
  end
end
if agreed and ARGV[17] ~= '' then
  pkey = KEYS[nextkey]
  drawn = tonumber(ARGV[17])
end
local price = tonumber(pricestr)
local maxprice = tonumber(ARGV[6])
-- The max price bounds what the request costs the crawler: what is charged
-- and what is drawn from its prepaid balance.
if maxprice > 0 and price + drawn > maxprice then
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
if pkey then
  local balance = redis.call('GET', pkey) or '0'
  if tonumber(balance) < drawn then
    return {'prepaid', balance}
  end
end
if ARGV[11] == '' then
  if redis.call('HEXISTS', KEYS[4], ARGV[10]) == 0 then
    return {'profile'}
  end
else
  redis.call('HSETNX', KEYS[4], ARGV[10], ARGV[11])
end
if qkey then
  -- Every request of the period counts, overage too: a new version's
  -- Included applies to what the period has used.
  redis.call('INCR', qkey)
  redis.call('PEXPIREAT', qkey, ARGV[16])
end
if pkey and drawn > 0 then
  redis.call('DECRBY', pkey, ARGV[17])
end
local id = redis.call('XADD', KEYS[1], '*', 'c', rec)
redis.call('HINCRBY', KEYS[2], 'n|' .. ARGV[3], 1)
redis.call('HINCRBY', KEYS[2], mfield, pricestr)
redis.call('HINCRBY', KEYS[2], 'n|' .. ARGV[4], 1)
redis.call('HINCRBY', KEYS[2], 'm|' .. ARGV[4], pricestr)
local v = id .. ' ' .. rid
for i = 5, 4 + nreplay do
  redis.call('SET', KEYS[i], v, 'PXAT', ARGV[7])
end
if ARGV[8] ~= '' then
  redis.call('SET', KEYS[3], ARGV[8], 'NX')
end
return {'ok', id, kind}
