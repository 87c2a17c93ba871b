#!lua
-- lock_acquire.lua: take a named lock and hand out a fencing token.
--
-- KEYS[1]  lock                  <p>:{lock:<name>}
-- KEYS[2]  token counter         <p>:{lock:<name>}:token
--
-- ARGV[1]  holder id (random per acquisition)
-- ARGV[2]  lock time to live, milliseconds
--
-- The lock's value is "<token> <holder>". Returns {"ok", token} when the lock
-- is ours (also when a resent call finds it already ours) or {"held"}.
local v = redis.call('GET', KEYS[1])
if v then
  local sp = string.find(v, ' ', 1, true)
  if string.sub(v, sp + 1) == ARGV[1] then
    return {'ok', string.sub(v, 1, sp - 1)}
  end
  return {'held'}
end
local token = string.format('%d', redis.call('INCR', KEYS[2]))
redis.call('SET', KEYS[1], token .. ' ' .. ARGV[1], 'PX', ARGV[2])
return {'ok', token}
