#!lua
-- append.lua: record one commitment, all or nothing.
--
-- KEYS[1]   stream of the crawler-day            <p>:{acct}:c:<day>
-- KEYS[2]   aggregate hash of the crawler-day    <p>:{acct}:a:<day>
-- KEYS[3]   archived public key                  <p>:{acct}:pk:<keyid>
-- KEYS[4]   dictionary of the crawler-day        <p>:{acct}:pr:<day>
-- KEYS[5..] replay keys, one per guarded id      <p>:{acct}:rp:<id>
--           (with the agreement arguments, ARGV[14] of them, then:)
--           quota counter, when ARGV[15] ~= ''    <p>:{acct}:q:<agreement>:<period start>
--           prepaid balance, when ARGV[19] ~= ''  <p>:{acct}:pp:<agreement>
--
-- ARGV[1]   request id
-- ARGV[2]   price, integer micro-units (0 <= price <= 2^53-1)
-- ARGV[3]   currency field suffix: "<CUR>"
-- ARGV[4]   site field suffix: "<CUR>|<publisher>|<site>"
-- ARGV[5]   daily cap in micro-units, 0 = none
-- ARGV[6]   max price in micro-units, 0 = none
-- ARGV[7]   replay keys expire at this unix time in milliseconds
-- ARGV[8]   public key JWK JSON, "" = already archived (or none to archive)
-- ARGV[9]   the body of the commitment's compact record
-- ARGV[10]  the id of the record's profile (16 bytes)
-- ARGV[11]  the profile, "" = already stored (checked: {"profile"} if not)
-- ARGV[12]  the id of the record's target (16 bytes)
-- ARGV[13]  the target, "" = already stored (checked likewise)
--
-- The dictionary numbers its entries: "n" counts them, "h<id>" holds an
-- entry's number, "<number>" the entry. The stream entry's field "c" holds
-- the record: byte 2, the profile's and the target's numbers (uvarints),
-- the body. A replay key holds the commitment's stream id packed as one
-- integer, "<ms><seq, 6 digits>" (Redis stores it in the key's object, not
-- in a string of its own), or "<ms>-<seq>" when seq has more digits; a
-- resent append is told from another request by its record, equal byte for
-- byte. Keys of older ledgers hold "<id> <request id>".
--
-- The agreement arguments, all present or all absent (a commitment without
-- an agreement sends ARGV[1..13] only):
-- ARGV[14]  number of replay keys
-- ARGV[15]  quota: requests the period includes (charged ARGV[2]), "" = no quota
-- ARGV[16]  quota: price of a request beyond them, "" = hard stop (refused)
-- ARGV[17]  quota: the body of the record of a request beyond them (price ARGV[16])
-- ARGV[18]  quota: the counter expires at this unix time in milliseconds
-- ARGV[19]  prepaid: micro-units drawn from the balance, "" = no prepaid
--
-- Returns {"ok", id, kind}, {"dup", id, kind} (idempotent retry: nothing
-- changed but the expiry of a replay key, set again to the same time so that
-- the script writes and a WAIT after it covers the first run too; no quota
-- is counted and no balance drawn again), {"replay", n} (KEYS[4+n] holds
-- another request), {"closed"}, {"maxprice"}, {"cap", spent},
-- {"range", spent}, {"quota", used} (hard stop: the period's quota is used
-- up), {"prepaid", balance} (the balance is below ARGV[19]), {"profile"}
-- (ARGV[11] or ARGV[13] is empty and that entry is not stored: send both).
-- kind is "overage" when the request was beyond the quota (recorded with
-- ARGV[16] and ARGV[17]), "" otherwise. Every refusal writes nothing.
--
-- Amounts: Lua numbers are doubles, exact for integers up to 2^53. The caller
-- keeps every amount below 2^53 and the script refuses a day total beyond
-- 2^53-1, so every comparison here is exact; sums are kept by HINCRBY (int64).
local MAX = 9007199254740991
local rid = ARGV[1]
local agreed = #ARGV > 13
local nreplay = #KEYS - 4
if agreed then
  nreplay = tonumber(ARGV[14])
end
local overage = agreed and ARGV[15] ~= '' and ARGV[16] ~= ''
local function uvarint(n)
  local s = ''
  while n >= 128 do
    s = s .. string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  return s .. string.char(n)
end
local pfield, tfield = 'h' .. ARGV[10], 'h' .. ARGV[12]
local entries = redis.call('HMGET', KEYS[4], pfield, tfield)
-- The record's head: its format and the numbers of its entries, once both
-- are in the dictionary.
local head = nil
if entries[1] and entries[2] then
  head = string.char(2) .. uvarint(tonumber(entries[1])) .. uvarint(tonumber(entries[2]))
end
-- vnext returns the value of the uvarint at s[i] and the index after it
-- (nil if s ends first).
local function vnext(s, i)
  local v, mul = 0, 1
  while true do
    local c = string.byte(s, i)
    if not c then
      return nil, nil
    end
    i = i + 1
    v = v + (c % 128) * mul
    if c < 128 then
      return v, i
    end
    mul = mul * 128
  end
end
-- ridtext returns the encoded request id of a record body starting at s[i]
-- (its time offset, then the request id's text: a kind byte and one string,
-- or two for a tagged text), or nil.
local function ridtext(s, i)
  local _, j = vnext(s, i)
  if not j then
    return nil
  end
  local tag = string.byte(s, j)
  if tag ~= 0 and tag ~= 1 and tag ~= 2 then
    return nil
  end
  local k, n = j + 1, nil
  for _ = 1, (tag == 2 and 2 or 1) do
    n, k = vnext(s, k)
    if not n then
      return nil
    end
    k = k + n
  end
  if k - 1 > #s or k - j <= 2 then
    return nil -- cut short, or an empty id
  end
  return string.sub(s, j, k - 1)
end
local dup, dupkey, dupkind = nil, nil, ''
local seen = redis.call('MGET', unpack(KEYS, 5, 4 + nreplay))
for i = 1, #seen do
  local v = seen[i]
  if v then
    local sp = string.find(v, ' ', 1, true)
    local id, same = nil, false
    if sp then
      id = string.sub(v, 1, sp - 1)
      same = string.sub(v, sp + 1) == rid
    else
      id = v
      if not string.find(v, '-', 1, true) then
        id = string.sub(v, 1, -7) .. '-' .. tostring(tonumber(string.sub(v, -6)))
      end
      if head then
        local e = redis.call('XRANGE', KEYS[1], id, id)
        local stored = e[1] and e[1][2][2]
        if stored == head .. ARGV[9] then
          same = true
        elseif overage and stored == head .. ARGV[17] then
          same, dupkind = true, 'overage'
        elseif stored then
          -- The same request id (minted by the server, never by the
          -- client) in a record that differs otherwise: a resend whose
          -- fields the caller re-derived, as the facilitator's second
          -- settle of one payment does with its time. It is the same
          -- request: answer with the first record.
          local _, b1 = vnext(stored, 2)
          local _, b2 = nil, nil
          if b1 then
            _, b2 = vnext(stored, b1)
          end
          local mine = ridtext(ARGV[9], 1)
          if b2 and mine and ridtext(stored, b2) == mine then
            same = true
          end
        end
      end
    end
    if not same then
      return {'replay', tostring(i)}
    end
    dup, dupkey = id, KEYS[4 + i]
  end
end
if dup then
  -- A write, so that this connection's replication offset passes the first
  -- run's (which may have come on another connection): WAIT then means it.
  redis.call('PEXPIREAT', dupkey, ARGV[7])
  return {'dup', dup, dupkind}
end
local mfield = 'm|' .. ARGV[3]
local agg = redis.call('HMGET', KEYS[2], 'closed', mfield)
if agg[1] then
  return {'closed'}
end
local pricestr, body, kind = ARGV[2], ARGV[9], ''
local nextkey = 5 + nreplay
local qkey, pkey, drawn = nil, nil, 0
if agreed and ARGV[15] ~= '' then
  qkey = KEYS[nextkey]
  nextkey = nextkey + 1
  local used = redis.call('GET', qkey) or '0'
  if tonumber(used) >= tonumber(ARGV[15]) then
    if ARGV[16] == '' then
      return {'quota', used}
    end
    pricestr, body, kind = ARGV[16], ARGV[17], 'overage'
  end
end
if agreed and ARGV[19] ~= '' then
  pkey = KEYS[nextkey]
  drawn = tonumber(ARGV[19])
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
if (not entries[1] and ARGV[11] == '') or (not entries[2] and ARGV[13] == '') then
  return {'profile'}
end
if not head then
  local function number(n, field, entry)
    if n then
      return tonumber(n)
    end
    n = redis.call('HINCRBY', KEYS[4], 'n', 1)
    redis.call('HSET', KEYS[4], field, tostring(n), tostring(n), entry)
    return n
  end
  local pn = number(entries[1], pfield, ARGV[11])
  local tn = number(entries[2], tfield, ARGV[13])
  head = string.char(2) .. uvarint(pn) .. uvarint(tn)
end
if qkey then
  -- Every request of the period counts, overage too: a new version's
  -- Included applies to what the period has used.
  redis.call('INCR', qkey)
  redis.call('PEXPIREAT', qkey, ARGV[18])
end
if pkey and drawn > 0 then
  redis.call('DECRBY', pkey, ARGV[19])
end
local id = redis.call('XADD', KEYS[1], '*', 'c', head .. body)
redis.call('HINCRBY', KEYS[2], 'n|' .. ARGV[3], 1)
redis.call('HINCRBY', KEYS[2], mfield, pricestr)
redis.call('HINCRBY', KEYS[2], 'n|' .. ARGV[4], 1)
redis.call('HINCRBY', KEYS[2], 'm|' .. ARGV[4], pricestr)
local ms, seq = string.match(id, '^(%d+)-(%d+)$')
local v = id
if #seq <= 6 and #ms <= 13 then
  v = ms .. string.rep('0', 6 - #seq) .. seq
end
for i = 5, 4 + nreplay do
  redis.call('SET', KEYS[i], v, 'PXAT', ARGV[7])
end
if ARGV[8] ~= '' then
  redis.call('SET', KEYS[3], ARGV[8], 'NX')
end
return {'ok', id, kind}
