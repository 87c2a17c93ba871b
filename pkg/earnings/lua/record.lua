#!lua
-- record.lua: record one earning entry of a publisher, once.
--
-- KEYS[1]  entries hash (entry key -> JSON)   pc:earn:{pub:<id>}:e
-- KEYS[2]  entries by time (zset, ms)         pc:earn:{pub:<id>}:t
-- KEYS[3]  balances hash (currency -> micros) pc:earn:{pub:<id>}:bal
--
-- ARGV[1]  entry key ("<invoice>/<line>" or a reversal's key)
-- ARGV[2]  the entry as JSON
-- ARGV[3]  the entry's time, unix milliseconds
-- ARGV[4]  currency
-- ARGV[5]  net amount in micro-units (signed integer)
--
-- Returns "" when recorded, or the JSON recorded before under the key (and
-- changes nothing: an entry is idempotent by its key).
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  return old
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HINCRBY', KEYS[3], ARGV[4], ARGV[5])
return ''
