#!lua
-- prepaid_credit.lua: credit a prepaid balance once per top-up id.
--
-- KEYS[1]  prepaid balance      <p>:{acct}:pp:<agreement>
-- KEYS[2]  top-ups credited     <p>:{acct}:ppt:<agreement>  (top-up id → amount)
--
-- ARGV[1]  top-up id
-- ARGV[2]  amount, integer micro-units (1 <= amount <= 2^53-1)
--
-- Returns {"ok", balance} (credited), {"dup", balance} (this top-up was
-- credited with this amount already: nothing changed), {"conflict", amount}
-- (it was credited another amount: nothing changed) or {"range", balance}
-- (the balance would pass 2^53-1: nothing changed).
local MAX = 9007199254740991
local prev = redis.call('HGET', KEYS[2], ARGV[1])
if prev then
  if prev ~= ARGV[2] then
    return {'conflict', prev}
  end
  return {'dup', redis.call('GET', KEYS[1]) or '0'}
end
local balance = redis.call('GET', KEYS[1]) or '0'
if tonumber(balance) + tonumber(ARGV[2]) > MAX then
  return {'range', balance}
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {'ok', tostring(redis.call('INCRBY', KEYS[1], ARGV[2]))}
