#!lua
-- close_day.lua: close a crawler-day to new commitments and return its aggregate.
--
-- KEYS[1]  aggregate hash of the crawler-day   <p>:{acct}:a:<day>
--
-- ARGV[1]  close time, unix milliseconds (kept from the first close)
--
-- Returns the aggregate hash as a flat field/value array (HGETALL).
redis.call('HSETNX', KEYS[1], 'closed', ARGV[1])
return redis.call('HGETALL', KEYS[1])
