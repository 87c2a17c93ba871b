#!lua
-- hset_existing.lua: set fields of a hash only if the hash exists (an
-- operator's status or billing profile), so that an update never creates a
-- half record.
--
-- KEYS[1]  the hash                  pc:reg:{reg}:op:<op id>
--
-- ARGV     field, value pairs
--
-- Returns 1 when the fields were set, 0 when the hash does not exist.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
