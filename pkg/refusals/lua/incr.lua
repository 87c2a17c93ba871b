-- incr.lua: adds refusal counts to one publisher-day hash, its fields
-- bounded.
--
-- KEYS[1]  the publisher-day hash (<prefix>:{pub:<publisher>}:<day>)
-- ARGV[1]  unix time the hash expires at (the day's end plus retention)
-- ARGV[2]  max fields: a new field that would make more is counted in its
--          overflow field instead (which may itself be new: at most one per
--          reason and code); a field that is its own overflow always fits
-- ARGV[3..] triples: field, overflow field, increment
--
-- Returns the sum of the increments that went to an overflow field.
local key = KEYS[1]
local max = tonumber(ARGV[2])
local n = redis.call('HLEN', key)
local overflowed = 0
for i = 3, #ARGV, 3 do
  local f = ARGV[i]
  if redis.call('HEXISTS', key, f) == 0 then
    if n >= max and ARGV[i + 1] ~= f then
      f = ARGV[i + 1]
      overflowed = overflowed + tonumber(ARGV[i + 2])
    end
    if redis.call('HEXISTS', key, f) == 0 then
      n = n + 1
    end
  end
  redis.call('HINCRBY', key, f, ARGV[i + 2])
end
redis.call('EXPIREAT', key, ARGV[1])
return overflowed
