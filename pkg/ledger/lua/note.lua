#!lua
-- note.lua: record settlement fields of an invoice that is charging, without
-- changing its status: the rail's write-ahead record (a signed transaction,
-- its nonce and hash, stored before it is broadcast) or another note of a
-- charge attempt. Fenced, and idempotent by a note id.
--
-- KEYS[1]  invoice hash                  <p>:{acct}:inv:<day>:<cur>
-- KEYS[2]  charge attempts stream        <p>:{acct}:inva:<day>:<cur>
--
-- ARGV[1]  fencing token (integer >= 1)
-- ARGV[2]  note id (random per call; a resent call with the same id is a no-op)
-- ARGV[3]  now, unix milliseconds
-- ARGV[4]  charge attempt number of a write-ahead record, "" when the note carries none
-- ARGV[5]  the write-ahead record's raw transaction, "" when none
-- ARGV[6]  ns: number of field/value pairs to set
-- ARGV[7 .. 6+2*ns]        field/value pairs to set on the invoice
-- ARGV[7+2*ns ..]          field/value pairs of a charge attempt to record (may be none)
--
-- Returns {"ok"}, {"notfound"}, {"fenced", highest token},
-- {"transition", current status} (the invoice is not charging) or
-- {"conflict", tx hash} (the attempt already has another write-ahead record:
-- at most one transaction is ever signed for one charge attempt).
--
-- A write-ahead record equal to the stored one (same attempt, same raw
-- transaction) is a no-op that returns {"ok"}.
local inv = KEYS[1]
local st = redis.call('HMGET', inv, 'status', 'token', 'last_tx', 'wa_attempt', 'raw_tx', 'tx_hash')
if not st[1] then
  return {'notfound'}
end
if st[3] == ARGV[2] then
  return {'ok'}
end
if tonumber(ARGV[1]) < tonumber(st[2]) then
  return {'fenced', st[2]}
end
if st[1] ~= 'charging' then
  return {'transition', st[1]}
end
local wa = ARGV[4]
if wa ~= '' and st[4] == wa and st[5] then
  if st[5] == ARGV[5] then
    return {'ok'}
  end
  return {'conflict', st[6] or ''}
end
local ns = tonumber(ARGV[6])
local h = {'token', ARGV[1], 'last_tx', ARGV[2], 'updated', ARGV[3]}
if wa ~= '' then
  h[#h + 1] = 'wa_attempt'
  h[#h + 1] = wa
end
for i = 7, 6 + 2 * ns do
  h[#h + 1] = ARGV[i]
end
redis.call('HSET', inv, unpack(h))
local first = 7 + 2 * ns
if #ARGV >= first then
  redis.call('XADD', KEYS[2], '*', unpack(ARGV, first))
end
return {'ok'}
