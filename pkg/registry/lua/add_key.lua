#!lua
-- add_key.lua: register a key for an operator, optionally rotating the
-- operator's active keys, all or nothing.
--
-- KEYS[1]     record of the new key          pc:reg:{reg}:key:<keyid>
-- KEYS[2]     the operator's key set         pc:reg:{reg}:op:<op id>:keys
-- KEYS[3]     operator hash                  pc:reg:{reg}:op:<op id>
-- KEYS[4..]   records of every member of KEYS[2], as the caller read them
--
-- ARGV[1]  keyid
-- ARGV[2]  operator id
-- ARGV[3]  public JWK (JSON)
-- ARGV[4]  now, unix milliseconds (also the new key's created time)
-- ARGV[5]  "1" to rotate: active keys become rotated until ARGV[6]
-- ARGV[6]  valid_until of rotated keys, unix milliseconds
-- ARGV[7]  most usable keys (active, or rotated and not expired) allowed
-- ARGV[8]  a random id of this call, so that a retry is recognised
-- ARGV[9]  the key's verified directory proof (JSON), or "" for none
--
-- Returns {"ok", <keyids rotated...>}, {"dup"} (the keyid was ever
-- registered, by anyone), {"nooperator"}, {"suspended"}, {"limit"}, or
-- {"stale"} (KEYS[4..] no longer match the key set: read again and retry).
-- A retry of the same call after a lost reply returns {"ok"}.
local rec = redis.call('HMGET', KEYS[1], 'operator', 'call')
if rec[1] then
  if rec[1] == ARGV[2] and rec[2] == ARGV[8] then
    return {'ok'}
  end
  return {'dup'}
end
local status = redis.call('HGET', KEYS[3], 'status')
if not status then
  return {'nooperator'}
end
if status ~= 'active' then
  return {'suspended'}
end
if redis.call('SCARD', KEYS[2]) ~= #KEYS - 3 then
  return {'stale'}
end
local now = tonumber(ARGV[4])
local rotate = ARGV[5] == '1'
local usable = 1
local rotated = {}
for i = 4, #KEYS do
  local k = redis.call('HMGET', KEYS[i], 'operator', 'status', 'valid_until', 'id')
  if k[1] ~= ARGV[2] then
    return {'stale'}
  end
  if k[2] == 'active' then
    usable = usable + 1
    if rotate then
      table.insert(rotated, k[4])
    end
  elseif k[2] == 'rotated' and tonumber(k[3] or '0') > now then
    usable = usable + 1
  end
end
if usable > tonumber(ARGV[7]) then
  return {'limit'}
end
if rotate then
  for i = 4, #KEYS do
    if redis.call('HGET', KEYS[i], 'status') == 'active' then
      redis.call('HSET', KEYS[i], 'status', 'rotated', 'valid_until', ARGV[6])
    end
  end
end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'operator', ARGV[2], 'jwk', ARGV[3],
  'status', 'active', 'created', ARGV[4], 'call', ARGV[8])
if ARGV[9] and ARGV[9] ~= '' then
  redis.call('HSET', KEYS[1], 'dir_proof', ARGV[9])
end
redis.call('SADD', KEYS[2], ARGV[1])
local out = {'ok'}
for _, id in ipairs(rotated) do
  table.insert(out, id)
end
return out
