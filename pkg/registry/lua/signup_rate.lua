#!lua
-- signup_rate.lua: count one sign-up attempt of a client address in the
-- current minute.
--
-- KEYS[1]  counter   pc:reg:{reg}:rl:signup:<ip>:<unix minute>
--
-- ARGV[1]  the counter's lifetime, milliseconds
--
-- Returns the count including this attempt.
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
