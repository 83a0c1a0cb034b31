-- The provider says ARGV[4] calls remain of ARGV[2] in a window: add phantom grants (now)
-- so the window counts at least limit - remaining. Never removes any, so it can only lower
-- the budget. KEYS[1], KEYS[2] the window's keys as in acquire.lua (a log and its block, or
-- the counters' state and history); ARGV[1] token, ARGV[3] span us, ARGV[5] sub-windows (0:
-- a sliding log). Returns {phantoms added, now us}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local span, n = tonumber(ARGV[3]), tonumber(ARGV[5])
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
    redis.call('PEXPIRE', KEYS[1], math.floor((span + HORIZON) / 1000) + 1000)
  end
  return {math.max(missing, 0), now}
end
-- counters: roll over to the current sub-window, then add
local key, past = KEYS[1], KEYS[2]
local g, _, _, c, s, last = roll(key, past, now, span, n)
missing = tonumber(ARGV[2]) - tonumber(ARGV[4]) - s % PACK
if missing > 0 then
  redis.call('HSET', key, 'c', c + missing, 's', s + missing, 't', math.max(now, last))
end
local ttl = counters_ttl(span, g)
redis.call('PEXPIRE', key, ttl)
redis.call('PEXPIRE', past, ttl)
return {math.max(missing, 0), now}
