-- Acquire one call from a bucket, all-or-nothing, in one round trip: granted now, booked
-- for a later time within the caller's max wait, or refused with the wait.
-- KEYS[1] bucket block, KEYS[2] leases (zset lease -> expiry us), then per window i:
--   KEYS[1+2i] window state, KEYS[2+2i] window block.
-- ARGV[1] token, ARGV[2] concurrency cap (0: none), ARGV[3] lease us, ARGV[4] interactive
-- 0|1, ARGV[5] max wait us, then six per window i from ARGV[6i]: name, sub-windows (0: a
-- sliding log), usable calls, full reserve, reserve floor, span us.
-- A log is a zset token -> grant time us. Sub-window counters are a hash: 'p' the oldest
-- sub-window index that may hold calls, 's' the packed sum of every sub-window held, 't'
-- the latest grant time us, and one field per sub-window index (time us // width) holding
-- calls + 2^26 * interactive calls.
-- A call fits at time T when the grants after T - span (with counters: in the sub-windows
-- from k(T) - N on), bookings for later times included, are fewer than the cap: every
-- sliding interval of the window's length that holds T lies in that range, so none ever
-- goes over, and the count only falls as T grows, so the earliest T is exact.
-- Returns {ok 0|1, wait us, reason, now us, grant time us}; the clock is Redis TIME only.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local token, conc, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local interactive, maxwait = ARGV[4] == '1', tonumber(ARGV[5])
local PACK = 67108864
local nwin = (#KEYS - 2) / 2
local at, reason = now, ''
local function later(when, why)
  if when > at then at, reason = when, why end
end
local function blocked(key)
  local ms = redis.call('PTTL', key)
  if ms > 0 then later(now + ms * 1000, 'blocked') end
end
local function cap(w, inter)
  if interactive then return w.usable end
  return w.usable - math.min(w.full, w.floor + inter)
end
local function fields(from, to)
  local out = {}
  for j = from, to do out[#out + 1] = j end
  return out
end
local function packed_sum(key, from, to)
  if to < from then return 0 end
  local sum = 0
  for _, v in ipairs(redis.call('HMGET', key, unpack(fields(from, to)))) do
    if v then sum = sum + tonumber(v) end
  end
  return sum
end

blocked(KEYS[1])
local win = {}
for i = 1, nwin do
  local o = 6 * i
  local w = {key = KEYS[1 + 2 * i], name = ARGV[o], n = tonumber(ARGV[o + 1]), usable = tonumber(ARGV[o + 2]),
             full = tonumber(ARGV[o + 3]), floor = tonumber(ARGV[o + 4]), span = tonumber(ARGV[o + 5])}
  blocked(KEYS[2 + 2 * i])
  if w.n == 0 then
    redis.call('ZREMRANGEBYSCORE', w.key, '-inf', now - w.span)
  else
    -- drop the sub-windows that left the window; the state stays N + 4 fields
    w.g = math.ceil(w.span / w.n)
    w.low = math.floor(now / w.g) - w.n
    local h = redis.call('HMGET', w.key, 'p', 's', 't')
    local p, s, last = tonumber(h[1]), tonumber(h[2]) or 0, tonumber(h[3]) or 0
    if p == nil or math.floor(last / w.g) < w.low then
      if p ~= nil then redis.call('DEL', w.key) end
      s, last = 0, 0
    elseif p < w.low then
      s = s - packed_sum(w.key, p, w.low - 1)
      redis.call('HDEL', w.key, unpack(fields(p, w.low - 1)))
      redis.call('HSET', w.key, 's', string.format('%d', s), 'p', string.format('%d', w.low))
    end
    w.s, w.last = s, last
  end
  win[i] = w
end

-- the earliest time from `at` on that each window admits one more call
local from = at
for i = 1, nwin do
  local w = win[i]
  if w.n == 0 then
    local c = cap(w, 0)
    local since = string.format('(%d', from - w.span)
    local n = redis.call('ZCOUNT', w.key, since, '+inf')
    if n >= c then
      local leaving = redis.call('ZRANGEBYSCORE', w.key, since, '+inf', 'WITHSCORES', 'LIMIT', n - c, 1)
      later(tonumber(leaving[2]) + w.span, w.name)
    end
  else
    local k = math.floor(from / w.g)
    local low = k - w.n
    local s = w.s - packed_sum(w.key, w.low, low - 1)
    local calls, inter = s % PACK, math.floor(s / PACK)
    if calls + 1 > cap(w, inter) then
      -- sub-window j leaves at (j + N + 1) * width; bookings may fill sub-windows past k
      local top = math.max(k, math.floor(w.last / w.g))
      local free = (top + w.n + 1) * w.g
      local vals = redis.call('HMGET', w.key, unpack(fields(low, top)))
      for j = low, top do
        local v = tonumber(vals[j - low + 1]) or 0
        calls, inter = calls - v % PACK, inter - math.floor(v / PACK)
        if calls + 1 <= cap(w, inter) then
          free = (j + w.n + 1) * w.g
          break
        end
      end
      later(free, w.name)
    end
  end
end

if at - now > maxwait then
  return {0, at - now, reason, now, now}
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  local n = redis.call('ZCARD', KEYS[2])
  if n >= conc then
    local first = redis.call('ZRANGE', KEYS[2], n - conc, n - conc, 'WITHSCORES')
    return {0, tonumber(first[2]) - now, 'concurrency', now, now}
  end
end

for i = 1, nwin do
  local w = win[i]
  local ttl = math.ceil((at - now + w.span) / 1000) + 1000
  if w.n == 0 then
    redis.call('ZADD', w.key, at, token)
  else
    local add = interactive and PACK + 1 or 1
    redis.call('HINCRBY', w.key, string.format('%d', math.floor(at / w.g)), add)
    redis.call('HSET', w.key, 's', string.format('%d', w.s + add), 't', string.format('%d', math.max(at, w.last)),
               'p', string.format('%d', w.low))
  end
  redis.call('PEXPIRE', w.key, ttl)
end
if conc > 0 then
  redis.call('ZADD', KEYS[2], at + lease, token)
  local ttl = math.ceil((at + lease - now) / 1000) + 1000
  if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
end
return {1, at - now, reason, now, at}
