#!lua
-- payout_note.lua: the write-ahead record of a sending payout's transfer
-- (a signed chain transaction, before it is broadcast), or its rail
-- reference; at most one transaction per attempt.
--
-- KEYS[1]  payout hash        <prefix>:{pub:<id>}:po:<payout id>
-- KEYS[2]  history stream     <prefix>:{pub:<id>}:po:<payout id>:h
--
-- ARGV[1]  attempt            ARGV[2]  raw transaction ("" for none)
-- ARGV[3]  nonce              ARGV[4]  reference (tx hash, transfer id)
-- ARGV[5]  now, unix ms
--
-- Returns "ok", "missing", "status" (not sending), "attempt" (another
-- attempt) or "conflict" (the attempt recorded another transaction).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'missing'
end
if redis.call('HGET', KEYS[1], 'status') ~= 'sending' then
  return 'status'
end
if redis.call('HGET', KEYS[1], 'attempt') ~= ARGV[1] then
  return 'attempt'
end
local raw = redis.call('HGET', KEYS[1], 'raw_tx') or ''
if ARGV[2] ~= '' and raw ~= '' and raw ~= ARGV[2] then
  return 'conflict'
end
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], 'raw_tx', ARGV[2], 'nonce', ARGV[3])
end
redis.call('HSET', KEYS[1], 'reference', ARGV[4], 'updated', ARGV[5])
redis.call('XADD', KEYS[2], '*', 'kind', 'note', 'at', ARGV[5], 'actor', 'settler', 'reference', ARGV[4], 'attempt', ARGV[1])
return 'ok'
