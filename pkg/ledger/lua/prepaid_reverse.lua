#!lua
-- prepaid_reverse.lua: take back what is left of a top-up's credit, once per
-- top-up id (a refunded or disputed top-up): min(its amount, the balance).
--
-- KEYS[1]  prepaid balance      <p>:{acct}:pp:<agreement>
-- KEYS[2]  top-ups credited     <p>:{acct}:ppt:<agreement>  (top-up id → amount;
--                               "r|<top-up id>" → amount taken back)
--
-- ARGV[1]  top-up id
--
-- Returns {"ok", taken, balance} (taken back now), {"dup", taken, balance}
-- (taken back before: nothing changed) or {"notfound"} (no such top-up was
-- credited: nothing changed).
local amount = redis.call('HGET', KEYS[2], ARGV[1])
if not amount then
  return {'notfound'}
end
local rfield = 'r|' .. ARGV[1]
local prev = redis.call('HGET', KEYS[2], rfield)
if prev then
  return {'dup', prev, redis.call('GET', KEYS[1]) or '0'}
end
local balance = tonumber(redis.call('GET', KEYS[1]) or '0')
local take = tonumber(amount)
if balance < take then
  take = balance
end
local takestr = string.format('%d', take)
redis.call('HSET', KEYS[2], rfield, takestr)
local left = balance
if take > 0 then
  left = redis.call('DECRBY', KEYS[1], takestr)
end
return {'ok', takestr, tostring(left)}
