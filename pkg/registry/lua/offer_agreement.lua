#!lua
-- offer_agreement.lua: store a publisher's offer, as version n of an
-- agreement. Version 1 creates the agreement and its indexes; version n > 1
-- must follow the latest (n - 1), of the same publisher and account, and
-- withdraws that version if it is still offered (dropping its content, as
-- any decline or withdrawal does). A stored version's content is never
-- written again. The pair (publisher, account) may hold at most ARGV[10]
-- pending offers (latest versions still offered), this one counted and the
-- version it supersedes not: the caller passes the pair's agreements and
-- the latest version it read of each, and the script counts their states
-- itself, failing "stale" if the pair or a latest version moved meanwhile.
--
-- KEYS[1]  agreement head       pc:reg:{reg}:agr:<id>
-- KEYS[2]  version n            pc:reg:{reg}:agr:<id>:v:<n>
-- KEYS[3]  version n - 1        pc:reg:{reg}:agr:<id>:v:<n-1>
-- KEYS[4]  all agreements       pc:reg:{reg}:agrs
-- KEYS[5]  account's agreements pc:reg:{reg}:op:<op id>:agrs
-- KEYS[6]  publisher's          pc:reg:{reg}:pub:<publisher id>:agrs
-- KEYS[7]  the pair's           pc:reg:{reg}:pub:<publisher id>:agrs:<op id>
-- KEYS[8]  the operator         pc:reg:{reg}:op:<op id>
-- KEYS[9]  the publisher        pc:reg:{reg}:pub:<publisher id>
-- KEYS[10] account's accepted   pc:reg:{reg}:op:<op id>:agrs:accepted
-- KEYS[11] publisher's accepted pc:reg:{reg}:pub:<publisher id>:agrs:accepted
-- KEYS[12] every accepted       pc:reg:{reg}:agrs:accepted
-- KEYS[13 + 2(i-1)]  the head of the pair's i-th agreement (i = 1..k)
-- KEYS[14 + 2(i-1)]  its latest version as the caller read it
--
-- ARGV[1]  agreement id
-- ARGV[2]  version n
-- ARGV[3]  publisher id
-- ARGV[4]  account (operator id)
-- ARGV[5]  the version's content (JSON)
-- ARGV[6]  now, unix milliseconds
-- ARGV[7]  most agreement ids one publisher may hold with one account
-- ARGV[8]  most versions of one agreement
-- ARGV[9]  SHA-256 of the version's canonical bytes (hex)
-- ARGV[10] most pending offers of the pair
-- ARGV[11] k, how many agreements the pair held when the caller read it
-- ARGV[12 + 2(i-1)]  the pair's i-th agreement id
-- ARGV[13 + 2(i-1)]  its latest version as the caller read it
--
-- Returns "ok", "noaccount", "nopublisher", "exists" (version 1 of a taken
-- id), "notfound" (version n > 1 of an unknown id), "forbidden" (another
-- publisher's agreement), "account" (another account than the agreement's),
-- "stale" (version n - 1 is not the latest, or the pair moved), "limit",
-- "versions" or "pending".
--
-- The first agreement of an account (of a publisher, of anyone) marks its
-- index of accepted versions complete ("*"): there is nothing older to
-- rebuild it from (see agreements_accepted.go).
if redis.call('EXISTS', KEYS[8]) == 0 then
  return 'noaccount'
end
if redis.call('EXISTS', KEYS[9]) == 0 then
  return 'nopublisher'
end
local n = tonumber(ARGV[2])
-- Count the pair's pending offers, the superseded one excepted.
local k = tonumber(ARGV[11])
if redis.call('SCARD', KEYS[7]) ~= k then
  return 'stale'
end
local pending = 0
for i = 1, k do
  local id, latest = ARGV[12 + 2 * (i - 1)], ARGV[13 + 2 * (i - 1)]
  if redis.call('SISMEMBER', KEYS[7], id) == 0 or redis.call('HGET', KEYS[13 + 2 * (i - 1)], 'latest') ~= latest then
    return 'stale'
  end
  if id ~= ARGV[1] and redis.call('HGET', KEYS[14 + 2 * (i - 1)], 'state') == 'offered' then
    pending = pending + 1
  end
end
if n == 1 then
  if redis.call('EXISTS', KEYS[1]) == 1 then
    return 'exists'
  end
  if k >= tonumber(ARGV[7]) then
    return 'limit'
  end
else
  local head = redis.call('HMGET', KEYS[1], 'publisher', 'account', 'latest')
  if not head[1] then
    return 'notfound'
  end
  if head[1] ~= ARGV[3] then
    return 'forbidden'
  end
  if head[2] ~= ARGV[4] then
    return 'account'
  end
  if tonumber(head[3]) ~= n - 1 then
    return 'stale'
  end
  if n > tonumber(ARGV[8]) then
    return 'versions'
  end
end
if pending >= tonumber(ARGV[10]) then
  return 'pending'
end
-- A version's content is never written twice: refused before any write,
-- so that an orphaned version key leaves nothing half-applied.
if redis.call('EXISTS', KEYS[2]) == 1 then
  return redis.error_reply('offer_agreement: version content exists')
end
if n == 1 then
  if redis.call('SCARD', KEYS[5]) == 0 then
    redis.call('SADD', KEYS[10], '*')
  end
  if redis.call('SCARD', KEYS[6]) == 0 then
    redis.call('SADD', KEYS[11], '*')
  end
  if redis.call('ZCARD', KEYS[4]) == 0 then
    redis.call('SADD', KEYS[12], '*')
  end
  redis.call('HSET', KEYS[1], 'id', ARGV[1], 'publisher', ARGV[3], 'account', ARGV[4], 'latest', 1, 'accepted', 0, 'created', ARGV[6])
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
  redis.call('SADD', KEYS[5], ARGV[1])
  redis.call('SADD', KEYS[6], ARGV[1])
  redis.call('SADD', KEYS[7], ARGV[1])
else
  if redis.call('HGET', KEYS[3], 'state') == 'offered' then
    redis.call('HSET', KEYS[3], 'state', 'withdrawn', 'decided_at', ARGV[6])
    -- Never accepted: keep its metadata and digest, drop its content
    -- (versions stored before digests existed keep theirs).
    -- Rewritten rather than HDEL'd: a hash that held the content keeps its
    -- large encoding after a HDEL; the four small fields fit a listpack.
    local kept = redis.call('HMGET', KEYS[3], 'content_sha256', 'state', 'offered_at', 'decided_at')
    if kept[1] then
      redis.call('DEL', KEYS[3])
      redis.call('HSET', KEYS[3], 'content_sha256', kept[1], 'state', kept[2], 'offered_at', kept[3], 'decided_at', kept[4])
    end
  end
  redis.call('HSET', KEYS[1], 'latest', n)
end
redis.call('HSET', KEYS[2], 'content', ARGV[5], 'state', 'offered', 'offered_at', ARGV[6], 'content_sha256', ARGV[9])
return 'ok'
