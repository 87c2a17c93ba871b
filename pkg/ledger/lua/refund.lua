#!lua
-- refund.lua: the refunds of a paid invoice, one record per sequence number
-- (1, 2, …) in the invoice hash: r<seq>.amount, .status (pending, done,
-- failed), .ref, .error, .actor, .reason, .at, .raw_tx, .nonce. The hash
-- keeps refunds (the highest sequence), refunded (the done total) and
-- refund_pending (the pending total); refunded + refund_pending never
-- exceeds charged. Fenced like transition.lua.
--
-- KEYS[1]  invoice hash            <p>:{acct}:inv:<day>:<cur>
-- KEYS[2]  invoice history stream  <p>:{acct}:invh:<day>:<cur>
--
-- ARGV[1]  operation: begin, note or finish
-- ARGV[2]  fencing token (integer >= 1)
-- ARGV[3]  sequence number (integer >= 1)
-- ARGV[4]  now, unix milliseconds
-- begin:   ARGV[5] amount (integer micro-units > 0), ARGV[6] actor, ARGV[7] reason
-- note:    ARGV[5] raw tx ("" none), ARGV[6] nonce, ARGV[7] reference ("" none)
-- finish:  ARGV[5] done or failed, ARGV[6] reference, ARGV[7] error, ARGV[8] actor,
--          ARGV[9] reason
--
-- Returns {"ok", status}, {"exists", status, amount} (begin of a sequence that
-- is recorded: a resend when the amount is the same), {"notfound"},
-- {"fenced", highest token}, {"transition", invoice status}, {"sequence",
-- highest sequence}, {"toomuch", remaining}, {"norefund"}, {"final", status}
-- or {"conflict", raw tx}.
--
-- Amounts are integers below 2^53 (checked by the caller and by
-- create_invoice.lua), so the double arithmetic below is exact.
local inv = KEYS[1]
local op = ARGV[1]
local seq = ARGV[3]
local p = 'r' .. seq .. '.'
local st = redis.call('HMGET', inv, 'status', 'token', 'charged', 'refunded', 'refund_pending', 'refunds',
  p .. 'amount', p .. 'status', p .. 'raw_tx')
if not st[1] then
  return {'notfound'}
end
local token = tonumber(ARGV[2])
if token < tonumber(st[2] or '0') then
  return {'fenced', st[2]}
end
local refunded = tonumber(st[4] or '0')
local pending = tonumber(st[5] or '0')
local last = tonumber(st[6] or '0')
local function event(status, amount, ref, actor, reason)
  redis.call('XADD', KEYS[2], '*', 'kind', 'refund', 'from', st[1], 'to', st[1], 'at', ARGV[4],
    'actor', actor, 'token', ARGV[2], 'reason', reason, 'refund', seq, 'amount', amount,
    'refund_status', status, 'ref', ref)
end

if op == 'begin' then
  if st[7] then
    return {'exists', st[8], st[7]}
  end
  if st[1] ~= 'paid' then
    return {'transition', st[1]}
  end
  if tonumber(seq) ~= last + 1 then
    return {'sequence', string.format('%d', last)}
  end
  local amount = tonumber(ARGV[5])
  local remaining = tonumber(st[3] or '0') - refunded - pending
  if amount > remaining then
    return {'toomuch', string.format('%d', remaining)}
  end
  redis.call('HSET', inv, 'refunds', seq, 'refund_pending', string.format('%d', pending + amount),
    'token', ARGV[2], 'updated', ARGV[4],
    p .. 'amount', ARGV[5], p .. 'status', 'pending', p .. 'actor', ARGV[6], p .. 'reason', ARGV[7], p .. 'at', ARGV[4])
  event('pending', ARGV[5], '', ARGV[6], ARGV[7])
  return {'ok', 'pending'}
end

if not st[7] then
  return {'norefund'}
end

if op == 'note' then
  if st[8] ~= 'pending' then
    return {'final', st[8]}
  end
  if ARGV[5] ~= '' then
    if st[9] and st[9] ~= '' and st[9] ~= ARGV[5] then
      return {'conflict', st[9]}
    end
    redis.call('HSET', inv, p .. 'raw_tx', ARGV[5], p .. 'nonce', ARGV[6])
  end
  if ARGV[7] ~= '' then
    redis.call('HSET', inv, p .. 'ref', ARGV[7])
  end
  redis.call('HSET', inv, 'token', ARGV[2])
  return {'ok', 'pending'}
end

if op == 'finish' then
  local to = ARGV[5]
  if st[8] == to then
    return {'ok', to}
  end
  if st[8] ~= 'pending' then
    return {'final', st[8]}
  end
  local amount = tonumber(st[7])
  local sets = {p .. 'status', to, 'refund_pending', string.format('%d', pending - amount),
    'token', ARGV[2], 'updated', ARGV[4]}
  if to == 'done' then
    sets[#sets + 1] = 'refunded'
    sets[#sets + 1] = string.format('%d', refunded + amount)
  end
  if ARGV[6] ~= '' then
    sets[#sets + 1] = p .. 'ref'
    sets[#sets + 1] = ARGV[6]
  end
  if ARGV[7] ~= '' then
    sets[#sets + 1] = p .. 'error'
    sets[#sets + 1] = ARGV[7]
  end
  redis.call('HSET', inv, unpack(sets))
  event(to, st[7], ARGV[6], ARGV[8], ARGV[9])
  return {'ok', to}
end
return {'badop'}
