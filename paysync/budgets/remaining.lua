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
  local calls, inter, block_ms, why = 0, 0, -2, ''
  if n == 0 then
    calls = redis.call('ZCOUNT', key, string.format('(%d', now - span), '+inf')
    block_ms, why = redis.call('PTTL', KEYS[2 + 2 * i]), redis.call('GET', KEYS[2 + 2 * i]) or ''
  else
    local g = math.ceil(span / n)
    local low = math.floor(now / g) - n
    local h = redis.call('HMGET', key, 'k', 'c', 's', 'p', 't', 'b', 'r')
    local cur, c, s, p, last = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]), tonumber(h[5]) or 0
    if cur ~= nil and math.floor(last / g) >= low then
      for j = p, low - 1 do
        s = s - (tonumber(redis.call('HGET', KEYS[2 + 2 * i], j)) or 0)
      end
      if cur < low then s = s - c end
      calls, inter = s % PACK, math.floor(s / PACK)
    end
    local until_us = tonumber(h[6]) or 0
    if until_us > now then block_ms, why = math.ceil((until_us - now) / 1000), h[7] or '' end
  end
  out[#out + 1] = calls
  out[#out + 1] = inter
  out[#out + 1] = block_ms
  out[#out + 1] = why
end
return out
