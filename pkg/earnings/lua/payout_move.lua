#!lua
-- payout_move.lua: one status change of a payout, with its fields.
--
-- KEYS[1]  payout hash        <prefix>:{pub:<id>}:po:<payout id>
-- KEYS[2]  balances hash      <prefix>:{pub:<id>}:bal
-- KEYS[3]  history stream     <prefix>:{pub:<id>}:po:<payout id>:h
--
-- ARGV[1]  target status
-- ARGV[2]  statuses it may come from, comma-separated (",a,b,")
-- ARGV[3]  now, unix ms
-- ARGV[4]  actor            ARGV[5]  reason
-- ARGV[6]  the attempt the caller acts on ("" for any)
-- ARGV[7]  "1" to start a new attempt (attempt + 1; the previous
--          attempt's transaction record is cleared)
-- ARGV[8…] field, value pairs to set
--
-- A move to "canceled" gives the amount back to the balance. Returns
-- {"ok", attempt}, {"missing"}, {"status", current} or {"attempt",
-- current attempt}.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return {'missing'}
end
local cur = redis.call('HGET', KEYS[1], 'status')
if not string.find(ARGV[2], ',' .. cur .. ',', 1, true) then
  return {'status', cur}
end
local attempt = redis.call('HGET', KEYS[1], 'attempt')
if ARGV[6] ~= '' and attempt ~= ARGV[6] then
  return {'attempt', attempt}
end
if ARGV[1] == 'canceled' then
  redis.call('HINCRBY', KEYS[2], redis.call('HGET', KEYS[1], 'currency'), tonumber(redis.call('HGET', KEYS[1], 'amount')))
end
if ARGV[7] == '1' then
  attempt = tostring(redis.call('HINCRBY', KEYS[1], 'attempt', 1))
  redis.call('HSET', KEYS[1], 'raw_tx', '', 'nonce', '', 'reference', '', 'error', '')
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated', ARGV[3])
if #ARGV >= 8 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 8))
end
redis.call('XADD', KEYS[3], '*', 'kind', 'transition', 'from', cur, 'to', ARGV[1], 'at', ARGV[3], 'actor', ARGV[4],
  'reason', ARGV[5], 'attempt', attempt)
return {'ok', attempt}
