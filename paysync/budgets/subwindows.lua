-- Shared by the scripts that keep counters (loaded in front of acquire.lua and observe.lua).
-- A counter window's state hash KEYS 'k' current sub-window, 'c' its count, 's' the sum of
-- every sub-window held, 'p' the oldest that may hold calls, 't' a time (us) in the latest
-- grant's sub-window, 'b' a block's end us; its history hash holds the other sub-windows
-- (see acquire.lua).
local PACK, HORIZON = 67108864, 60000000

-- Roll the window over to the sub-window of ``now``: close the current one into the
-- history and drop the sub-windows that left the window. Returns the sub-window width,
-- the current index, the oldest index in the window, the current count, the sum, the latest
-- grant, the block's end (or nil) and whether it rolled over.
local function roll(key, past, now, span, n)
  local g = math.ceil(span / n)
  local k = math.floor(now / g)
  local low = k - n
  local h = redis.call('HMGET', key, 'k', 'c', 's', 'p', 't', 'b')
  local cur, c, s, p, last = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]),
    tonumber(h[5]) or 0
  if cur == k then
    return g, k, low, c, s, last, tonumber(h[6]), false
  end
  if cur == nil or math.floor(last / g) < low then
    redis.call('DEL', past)
    s = 0
  else
    if c > 0 then redis.call('HINCRBY', past, cur, c) end
    if p < low then
      local names = {}
      for j = p, low - 1 do names[#names + 1] = j end
      for _, v in ipairs(redis.call('HMGET', past, unpack(names))) do
        if v then s = s - v end
      end
      redis.call('HDEL', past, unpack(names))
    end
  end
  c = tonumber(redis.call('HGET', past, k)) or 0
  if c > 0 then redis.call('HDEL', past, k) end
  redis.call('HSET', key, 'k', k, 'c', c, 's', s, 'p', low)
  return g, k, low, c, s, last, tonumber(h[6]), true
end

-- How long a counter window's keys live: the window, two sub-windows and the booking horizon.
local function counters_ttl(span, g)
  return math.floor((span + 2 * g + HORIZON) / 1000) + 1000
end
