#!lua
-- add_agent.lua: map an external agent URL to an operator; each URL maps to
-- exactly one operator.
--
-- KEYS[1]  agent key                  pc:reg:{reg}:agent:<agent URL>
-- KEYS[2]  the operator's agent set   pc:reg:{reg}:op:<op id>:agents
-- KEYS[3]  operator hash              pc:reg:{reg}:op:<op id>
--
-- ARGV[1]  agent URL
-- ARGV[2]  operator id
-- ARGV[3]  most agents per operator
--
-- Returns "ok", "exists" (already this operator's: nothing changed),
-- "taken" (another operator's), "nooperator", "suspended" or "limit".
local owner = redis.call('GET', KEYS[1])
if owner then
  if owner == ARGV[2] then
    return 'exists'
  end
  return 'taken'
end
local status = redis.call('HGET', KEYS[3], 'status')
if not status then
  return 'nooperator'
end
if status ~= 'active' then
  return 'suspended'
end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then
  return 'limit'
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return 'ok'
