#!lua
-- set_publisher_hosts.lua: replace the hosts a publisher may sell, each
-- host held by at most one publisher, all or nothing.
--
-- KEYS[1]          publisher hash               pc:reg:{reg}:pub:<publisher id>
-- KEYS[2..n+1]     claims of the new hosts      pc:reg:{reg}:host:<host>
-- KEYS[n+2..]      claims of the hosts dropped  pc:reg:{reg}:host:<host>
--
-- ARGV[1]  publisher id
-- ARGV[2]  the hosts field the caller read (space-separated), to detect a
--          concurrent change
-- ARGV[3]  the new hosts field (space-separated, sorted)
-- ARGV[4]  n, the number of new hosts
-- ARGV[5]  updated, unix milliseconds
--
-- Returns "ok", "missing" (no such publisher), "stale" (the hosts changed
-- since the caller read them: read again) or "taken:<i>:<owner>" (new host
-- i, 1-based, is another publisher's; nothing was changed).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'missing'
end
if (redis.call('HGET', KEYS[1], 'hosts') or '') ~= ARGV[2] then
  return 'stale'
end
local n = tonumber(ARGV[4])
for i = 1, n do
  local owner = redis.call('GET', KEYS[1 + i])
  if owner and owner ~= ARGV[1] then
    return 'taken:' .. i .. ':' .. owner
  end
end
for i = 1, n do
  redis.call('SET', KEYS[1 + i], ARGV[1])
end
for i = n + 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
  end
end
redis.call('HSET', KEYS[1], 'hosts', ARGV[3], 'updated', ARGV[5])
return 'ok'
