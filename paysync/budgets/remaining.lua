-- Read-only view of a bucket. KEYS as in acquire.lua; ARGV two per window i from
-- ARGV[2i-1]: sub-windows (0: a sliding log), span us.
-- Returns {now us, in flight, bucket block ms, its reason, then per window:
--   grants counted now, of them interactive (counters only), window block ms, its reason}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local PACK = 67108864
local out = {now, redis.call('ZCOUNT', KEYS[2], string.format('(%d', now), '+inf'),
             redis.call('PTTL', KEYS[1]), redis.call('GET', KEYS[1]) or ''}
for i = 1, (#KEYS - 2) / 2 do
  local key, n, span = KEYS[1 + 2 * i], tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  local calls, inter = 0, 0
  if n == 0 then
    calls = redis.call('ZCOUNT', key, string.format('(%d', now - span), '+inf')
  else
    local g = math.ceil(span / n)
    local low = math.floor(now / g) - n
    local h = redis.call('HMGET', key, 'p', 's', 't')
    local p, s, last = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
    if p ~= nil and math.floor(last / g) >= low then
      for j = p, low - 1 do
        s = s - (tonumber(redis.call('HGET', key, string.format('%d', j))) or 0)
      end
      calls, inter = s % PACK, math.floor(s / PACK)
    end
  end
  out[#out + 1] = calls
  out[#out + 1] = inter
  out[#out + 1] = redis.call('PTTL', KEYS[2 + 2 * i])
  out[#out + 1] = redis.call('GET', KEYS[2 + 2 * i]) or ''
end
return out
