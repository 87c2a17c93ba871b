#!lua
-- prepaid_dispute.lua: a card dispute of a top-up takes its credit back
-- (the chargeback) or gives it back (the dispute won), once per dispute id,
-- in either order.
--
-- KEYS[1]  prepaid balance      <p>:{acct}:pp:<agreement>
-- KEYS[2]  top-ups credited     <p>:{acct}:ppt:<agreement>  (see agreement.go:
--                               top-up id → amount; "r|<top-up>" taken back by
--                               its refund; "d|<top-up>|<dispute>" taken back
--                               by the dispute's chargeback; "w|<top-up>|<dispute>"
--                               given back when it was won, "p" while its
--                               chargeback is not known; "c|<top-up>" the
--                               dispute whose chargeback holds the credit;
--                               "a|stop" why automatic top-ups stopped:
--                               "<refund|chargeback>|<version>|<unix ms>|<top-up>")
--
-- ARGV[1]  top-up id
-- ARGV[2]  the top-up's amount, integer micro-units
-- ARGV[3]  dispute id
-- ARGV[4]  "take" (a chargeback) or "give" (a reinstatement)
-- ARGV[5]  take: the dispute's amount, integer micro-units (1..the top-up's)
-- ARGV[6]  take: the top-up's agreement version (0 unknown), recorded in
--          "a|stop" with the top-up id: automatic top-ups stop until the
--          settler clears it (prepaid_resume.lua)
-- ARGV[7]  take: now, Unix milliseconds, recorded in "a|stop" too
--
-- Returns {status, moved, balance}. take: "ok" (took moved: min(the
-- dispute's amount, the top-up's amount, the balance), 0 when its refund or
-- another dispute holds the credit already), "dup" (taken before: nothing
-- changed), "matched" (the dispute was won before: nothing taken). A top-up
-- never credited is recorded as credited, less the dispute's amount taken
-- back: the balance gains the rest. give:
-- "ok" (gave back what its chargeback took), "dup" (given before: nothing
-- changed), "pending" (no chargeback yet: recorded so that it takes
-- nothing). Or {"conflict", amount} (the top-up was credited another
-- amount) or {"range", balance} (the balance would pass 2^53-1): nothing
-- changed.
local MAX = 9007199254740991
local tu, dispute = ARGV[1], ARGV[3]
local dfield, wfield, cfield = 'd|' .. tu .. '|' .. dispute, 'w|' .. tu .. '|' .. dispute, 'c|' .. tu
local bal = redis.call('GET', KEYS[1]) or '0'
local credited = redis.call('HGET', KEYS[2], tu)
if credited and credited ~= ARGV[2] then
  return {'conflict', credited}
end
if ARGV[4] == 'take' then
  local prev = redis.call('HGET', KEYS[2], dfield)
  if prev then
    return {'dup', prev, bal}
  end
  if redis.call('HEXISTS', KEYS[2], wfield) == 1 then
    redis.call('HSET', KEYS[2], dfield, '0', wfield, '0')
    return {'matched', '0', bal}
  end
  local disputed = tonumber(ARGV[5])
  local stop = 'chargeback|' .. ARGV[6] .. '|' .. ARGV[7] .. '|' .. tu
  if not credited then
    local take = math.min(disputed, tonumber(ARGV[2]))
    local rest = tonumber(ARGV[2]) - take
    if tonumber(bal) + rest > MAX then
      return {'range', bal}
    end
    local takestr = string.format('%d', take)
    redis.call('HSET', KEYS[2], tu, ARGV[2], dfield, takestr, cfield, dispute, 'a|stop', stop)
    if rest > 0 then
      bal = string.format('%d', redis.call('INCRBY', KEYS[1], string.format('%d', rest)))
    end
    return {'ok', takestr, bal}
  end
  if redis.call('HEXISTS', KEYS[2], 'r|' .. tu) == 1 or redis.call('HEXISTS', KEYS[2], cfield) == 1 then
    redis.call('HSET', KEYS[2], dfield, '0', 'a|stop', stop)
    return {'ok', '0', bal}
  end
  local take = math.min(disputed, tonumber(credited), tonumber(bal))
  local takestr = string.format('%d', take)
  redis.call('HSET', KEYS[2], dfield, takestr, cfield, dispute, 'a|stop', stop)
  if take > 0 then
    bal = string.format('%d', redis.call('DECRBY', KEYS[1], takestr))
  end
  return {'ok', takestr, bal}
end
local given = redis.call('HGET', KEYS[2], wfield)
if given then
  if given == 'p' then
    given = '0'
  end
  return {'dup', given, bal}
end
local taken = redis.call('HGET', KEYS[2], dfield)
if not taken then
  redis.call('HSET', KEYS[2], wfield, 'p')
  return {'pending', '0', bal}
end
if tonumber(bal) + tonumber(taken) > MAX then
  return {'range', bal}
end
if tonumber(taken) > 0 then
  bal = string.format('%d', redis.call('INCRBY', KEYS[1], taken))
end
if redis.call('HGET', KEYS[2], cfield) == dispute then
  redis.call('HDEL', KEYS[2], cfield)
end
redis.call('HSET', KEYS[2], wfield, taken)
return {'ok', taken, bal}
