#!lua
-- decide_agreement.lua: accept, decline or withdraw the latest version of
-- an agreement while it is offered. Accepting records the acceptance,
-- marks the previously accepted version superseded, adds the version to
-- the three indexes of accepted versions (the account's, the publisher's,
-- everyone's; members "<id>:<n>", never removed) and bumps the account's
-- agreement generation; it fails "stale" when that generation or the
-- accepted version moved since the caller checked for overlaps, so that two
-- acceptances never both pass the check. Declining or withdrawing drops
-- the version's content, keeping its metadata and content_sha256 (versions
-- stored before digests existed keep their content).
--
-- KEYS[1]  agreement head          pc:reg:{reg}:agr:<id>
-- KEYS[2]  version n               pc:reg:{reg}:agr:<id>:v:<n>
-- KEYS[3]  accepted version        pc:reg:{reg}:agr:<id>:v:<accepted> (any key when none)
-- KEYS[4]  account's generation    pc:reg:{reg}:op:<op id>:agrs:gen
-- KEYS[5]  the operator            pc:reg:{reg}:op:<op id>
-- KEYS[6]  account's accepted      pc:reg:{reg}:op:<op id>:agrs:accepted
-- KEYS[7]  publisher's accepted    pc:reg:{reg}:pub:<publisher id>:agrs:accepted
-- KEYS[8]  every accepted version  pc:reg:{reg}:agrs:accepted
--
-- ARGV[1]  accept, decline or withdraw
-- ARGV[2]  version n
-- ARGV[3]  who asks: the account (accept, decline) or the publisher (withdraw)
-- ARGV[4]  now, unix milliseconds
-- ARGV[5]  the acceptance (JSON; accept only)
-- ARGV[6]  the generation the caller read (accept only)
-- ARGV[7]  the accepted version the caller read (accept only)
-- ARGV[8]  the agreement id
--
-- Returns "ok", "notfound", "forbidden", "notlatest", "state:<state>",
-- "suspended" or "stale".
local head = redis.call('HMGET', KEYS[1], 'publisher', 'account', 'latest', 'accepted')
if not head[1] then
  return 'notfound'
end
local action = ARGV[1]
if action == 'withdraw' then
  if head[1] ~= ARGV[3] then
    return 'forbidden'
  end
elseif head[2] ~= ARGV[3] then
  return 'forbidden'
end
if tonumber(head[3]) ~= tonumber(ARGV[2]) then
  return 'notlatest'
end
local state = redis.call('HGET', KEYS[2], 'state')
if state ~= 'offered' then
  return 'state:' .. tostring(state)
end
if action == 'accept' then
  if redis.call('HGET', KEYS[5], 'status') ~= 'active' then
    return 'suspended'
  end
  local gen = redis.call('GET', KEYS[4]) or '0'
  if gen ~= ARGV[6] or head[4] ~= ARGV[7] then
    return 'stale'
  end
  redis.call('HSET', KEYS[2], 'state', 'accepted', 'decided_at', ARGV[4], 'acceptance', ARGV[5])
  if tonumber(head[4]) > 0 then
    redis.call('HSET', KEYS[3], 'state', 'superseded')
  end
  redis.call('HSET', KEYS[1], 'accepted', ARGV[2])
  local member = ARGV[8] .. ':' .. ARGV[2]
  redis.call('SADD', KEYS[6], member)
  redis.call('SADD', KEYS[7], member)
  redis.call('SADD', KEYS[8], member)
  redis.call('INCR', KEYS[4])
elseif action == 'decline' or action == 'withdraw' then
  redis.call('HSET', KEYS[2], 'state', action == 'decline' and 'declined' or 'withdrawn', 'decided_at', ARGV[4])
  -- Rewritten rather than HDEL'd: a hash that held the content keeps its
  -- large encoding after a HDEL; the four small fields fit a listpack.
  local kept = redis.call('HMGET', KEYS[2], 'content_sha256', 'state', 'offered_at', 'decided_at')
  if kept[1] then
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[2], 'content_sha256', kept[1], 'state', kept[2], 'offered_at', kept[3], 'decided_at', kept[4])
  end
else
  return redis.error_reply('decide_agreement: unknown action')
end
return 'ok'
