-- The provider says ARGV[4] calls remain of ARGV[2] in the window whose state is KEYS[1]:
-- add phantom grants (now) so the window counts at least limit - remaining. Never removes
-- any, so it can only lower the budget. ARGV[1] token, ARGV[3] span us, ARGV[5] sub-windows
-- (0: a sliding log; see acquire.lua for both layouts). Returns {phantoms added, now us}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local span, n = tonumber(ARGV[3]), tonumber(ARGV[5])
local PACK = 67108864
local ttl = math.ceil(span / 1000) + 1000
local missing
if n == 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
  missing = tonumber(ARGV[2]) - tonumber(ARGV[4]) - redis.call('ZCARD', KEYS[1])
  local i = 0
  while i < missing do
    local args = {}
    for j = i + 1, math.min(missing, i + 500) do
      args[#args + 1] = now
      args[#args + 1] = 'phantom:' .. ARGV[1] .. ':' .. j
    end
    redis.call('ZADD', KEYS[1], unpack(args))
    i = i + 500
  end
  if missing > 0 then
    local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
    redis.call('PEXPIRE', KEYS[1], ttl + math.max(0, math.ceil((tonumber(newest[2]) - now) / 1000)))
  end
else
  local g = math.ceil(span / n)
  local low = math.floor(now / g) - n
  local h = redis.call('HMGET', KEYS[1], 'p', 's', 't')
  local p, s, last = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
  if p == nil or math.floor(last / g) < low then
    if p ~= nil then redis.call('DEL', KEYS[1]) end
    s, last = 0, 0
  elseif p < low then
    for j = p, low - 1 do
      local f = string.format('%d', j)
      s = s - (tonumber(redis.call('HGET', KEYS[1], f)) or 0)
      redis.call('HDEL', KEYS[1], f)
    end
  end
  missing = tonumber(ARGV[2]) - tonumber(ARGV[4]) - s % PACK
  if missing > 0 then
    redis.call('HINCRBY', KEYS[1], string.format('%d', math.floor(now / g)), missing)
    redis.call('HSET', KEYS[1], 's', string.format('%d', s + missing), 'p', string.format('%d', low),
               't', string.format('%d', math.max(now, last)))
    redis.call('PEXPIRE', KEYS[1], ttl + math.max(0, math.ceil((last - now) / 1000)))
  elseif p ~= nil and p < low and math.floor(last / g) >= low then
    redis.call('HSET', KEYS[1], 's', string.format('%d', s), 'p', string.format('%d', low))
  end
end
return {math.max(missing, 0), now}
