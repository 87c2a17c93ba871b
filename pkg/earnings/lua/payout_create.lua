#!lua
-- payout_create.lua: create the payout of one publisher, period and
-- currency, once, taking its amount out of the publisher's balance in the
-- same step.
--
-- KEYS[1]  payout hash               <prefix>:{pub:<id>}:po:<payout id>
-- KEYS[2]  the publisher's payouts   <prefix>:{pub:<id>}:pos (zset, ms)
-- KEYS[3]  balances hash             <prefix>:{pub:<id>}:bal
-- KEYS[4]  payout history stream     <prefix>:{pub:<id>}:po:<payout id>:h
--
-- ARGV[1]  payout id        ARGV[2]  publisher   ARGV[3]  period
-- ARGV[4]  currency         ARGV[5]  amount (micros)
-- ARGV[6]  minimum payout (micros)
-- ARGV[7]  rail             ARGV[8]  destination
-- ARGV[9]  now, unix ms     ARGV[10] reason
--
-- Returns {"exists", status} when the payout exists (nothing changes),
-- {"short", balance} when a positive amount is above the balance (a
-- negative balance, after a chargeback, gets a carried payout of 0), else {"ok",
-- status}: "pending" (the amount is reserved) or "carried" (0, or below the
-- minimum: the balance stays for the next period).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'exists', redis.call('HGET', KEYS[1], 'status')}
end
local bal = tonumber(redis.call('HGET', KEYS[3], ARGV[4]) or '0')
local amount = tonumber(ARGV[5])
if amount > 0 and amount > bal then
  return {'short', tostring(bal)}
end
local status = 'pending'
if amount <= 0 or amount < tonumber(ARGV[6]) then
  status = 'carried'
  amount = 0
else
  redis.call('HINCRBY', KEYS[3], ARGV[4], -amount)
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'publisher', ARGV[2], 'period', ARGV[3], 'currency', ARGV[4],
  'amount', amount, 'minimum', ARGV[6], 'rail', ARGV[7], 'destination', ARGV[8], 'status', status,
  'attempt', 0, 'created', ARGV[9], 'updated', ARGV[9], 'reason', ARGV[10])
redis.call('ZADD', KEYS[2], ARGV[9], ARGV[1])
redis.call('XADD', KEYS[4], '*', 'kind', 'create', 'to', status, 'at', ARGV[9], 'actor', 'settler', 'reason', ARGV[10])
return {'ok', status}
