#!lua
-- prepaid_resume.lua: clear why automatic top-ups of a prepaid balance
-- stopped ("a|stop", written by prepaid_reverse.lua and prepaid_dispute.lua),
-- only if it still names the top-up the caller read: a refund or a
-- chargeback recorded since keeps them stopped.
--
-- KEYS[1]  top-ups credited     <p>:{acct}:ppt:<agreement>
--
-- ARGV[1]  the top-up id the stop named when the caller read it
--
-- Returns 1 (cleared) or 0 (no stop, or another top-up's: nothing changed).
local stop = redis.call('HGET', KEYS[1], 'a|stop')
if not stop then
  return 0
end
local last = string.match(stop, '^[^|]*|[^|]*|[^|]*|(.*)$')
if last ~= ARGV[1] then
  return 0
end
redis.call('HDEL', KEYS[1], 'a|stop')
return 1
