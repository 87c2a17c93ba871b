#!lua
-- prepaid_reverse.lua: take back what is left of a top-up's credit for its
-- refund, once per top-up id: min(its amount, the balance), rounded down to
-- a multiple of the rail's unit.
--
-- KEYS[1]  prepaid balance      <p>:{acct}:pp:<agreement>
-- KEYS[2]  top-ups credited     <p>:{acct}:ppt:<agreement>  (see agreement.go:
--                               top-up id → amount; "r|<top-up id>" → taken
--                               back by its refund; "c|<top-up id>" → the
--                               dispute whose chargeback holds its credit)
--
-- ARGV[1]  top-up id
-- ARGV[2]  the top-up's amount, integer micro-units
-- ARGV[3]  unit: what is taken is a multiple of it (1 = any amount)
-- ARGV[4]  the top-up's agreement version (0 unknown), recorded in "a|stop"
--          ("refund|<version>|<unix ms>|<top-up>") when its credit is taken back:
--          automatic top-ups stop until the settler clears it
--          (prepaid_resume.lua)
-- ARGV[5]  now, Unix milliseconds, recorded in "a|stop" too
--
-- Returns {"ok", taken, balance} (taken back now), {"dup", taken, balance}
-- (taken back before: nothing changed), {"disputed", dispute} (a dispute's
-- chargeback holds the credit: nothing changed) or {"conflict", amount}
-- (the top-up was credited another amount: nothing changed). A top-up never
-- credited is recorded as credited and taken back whole (its balance is
-- unchanged), so that no later credit of it adds anything.
local rfield = 'r|' .. ARGV[1]
local prev = redis.call('HGET', KEYS[2], rfield)
if prev then
  return {'dup', prev, redis.call('GET', KEYS[1]) or '0'}
end
local holder = redis.call('HGET', KEYS[2], 'c|' .. ARGV[1])
if holder then
  return {'disputed', holder}
end
local amount = redis.call('HGET', KEYS[2], ARGV[1])
local balance = tonumber(redis.call('GET', KEYS[1]) or '0')
local stop = 'refund|' .. ARGV[4] .. '|' .. ARGV[5] .. '|' .. ARGV[1]
if not amount then
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2], rfield, ARGV[2], 'a|stop', stop)
  return {'ok', ARGV[2], string.format('%d', balance)}
end
if amount ~= ARGV[2] then
  return {'conflict', amount}
end
local take = tonumber(amount)
if balance < take then
  take = balance
end
local unit = tonumber(ARGV[3])
take = take - take % unit
local takestr = string.format('%d', take)
redis.call('HSET', KEYS[2], rfield, takestr, 'a|stop', stop)
local left = balance
if take > 0 then
  left = redis.call('DECRBY', KEYS[1], takestr)
end
return {'ok', takestr, string.format('%d', left)}
