-- Renew (or, with release = 1, end) a lease that is still held; renewing never shortens it.
-- KEYS[1] leases; ARGV[1] lease token, ARGV[2] lease us from now, ARGV[3] release 0|1.
-- Also drops leases that expired (holders that died), which acquire only skips.
-- Returns a status line 'held(0|1) now-us': 0 when the lease had expired or was unknown.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not expiry or tonumber(expiry) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {ok = string.format('0 %d', now)}
end
if ARGV[3] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {ok = string.format('1 %d', now)}
end
local until_us = math.max(tonumber(expiry), now + tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], until_us, ARGV[1])
local ttl = math.ceil((until_us - now) / 1000) + 1000
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return {ok = string.format('1 %d', now)}
