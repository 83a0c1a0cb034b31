-- Acquire one call from a bucket, all-or-nothing, in one round trip.
-- KEYS[1] bucket block, KEYS[2] leases (zset lease -> expiry us), then per window i:
--   KEYS[1+2i] sliding log (zset token -> grant time us), KEYS[2+2i] window block.
-- ARGV[1] token, ARGV[2] concurrency cap (0: none), ARGV[3] lease us, then per window i:
--   ARGV[1+3i] name, ARGV[2+3i] cap for this caller, ARGV[3+3i] span us.
-- Returns {ok 0|1, wait us, binding reason, now us}; the clock is Redis TIME only.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local token, conc, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local nwin = (#KEYS - 2) / 2
local wait, reason = 0, ''
local function bind(w, why)
  if w > wait then wait, reason = w, why end
end

local function blocked(key)
  local ms = redis.call('PTTL', key)
  if ms > 0 then bind(ms * 1000, 'blocked') end
end

blocked(KEYS[1])
for i = 1, nwin do
  local key, cap, span = KEYS[1 + 2 * i], tonumber(ARGV[2 + 3 * i]), tonumber(ARGV[3 + 3 * i])
  blocked(KEYS[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
  local n = redis.call('ZCARD', key)
  if n >= cap then
    -- the (n - cap + 1)th oldest grant must leave the window before one more fits
    local oldest = redis.call('ZRANGE', key, n - cap, n - cap, 'WITHSCORES')
    bind(tonumber(oldest[2]) + span - now, ARGV[1 + 3 * i])
  end
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local n = redis.call('ZCARD', KEYS[2])
  if n >= conc then
    local first = redis.call('ZRANGE', KEYS[2], n - conc, n - conc, 'WITHSCORES')
    bind(tonumber(first[2]) - now, 'concurrency')
  end
end
if wait > 0 then
  return {0, wait, reason, now}
end

for i = 1, nwin do
  local key = KEYS[1 + 2 * i]
  redis.call('ZADD', key, now, token)
  redis.call('PEXPIRE', key, math.ceil(tonumber(ARGV[3 + 3 * i]) / 1000) + 1000)
end
if conc > 0 then
  redis.call('ZADD', KEYS[2], now + lease, token)
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[2], math.ceil((tonumber(last[2]) - now) / 1000) + 1000)
end
return {1, 0, '', now}
