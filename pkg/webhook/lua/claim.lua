-- claim.lua: claim one due delivery job with a lease.
-- KEYS[1] the due set (ZSET job id -> due time, ms)
-- ARGV[1] now (ms); ARGV[2] lease end (ms)
-- Returns the job id, or false when none is due. The job's score becomes
-- the lease end, so a worker that dies mid-delivery leaves it to be
-- claimed again then.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1)
if #ids == 0 then
  return false
end
redis.call('ZADD', KEYS[1], ARGV[2], ids[1])
return ids[1]
