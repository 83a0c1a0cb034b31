-- Read-only view of a bucket. KEYS as in acquire.lua; ARGV[i] span us of window i.
-- Returns {now us, in flight, bucket block ms, its reason, then per window:
--   grants in the log, window block ms, its reason}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {now, redis.call('ZCOUNT', KEYS[2], string.format('(%d', now), '+inf'),
             redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[1]) or ''}
for i = 1, (#KEYS - 2) / 2 do
  local since = string.format('(%d', now - tonumber(ARGV[i]))
  out[#out + 1] = redis.call('ZCOUNT', KEYS[1 + 2 * i], since, '+inf')
  out[#out + 1] = redis.call('PTTL', KEYS[2 + 2 * i])
  out[#out + 1] = redis.call('GET', KEYS[2 + 2 * i]) or ''
end
return out
