-- Acquire one call from a bucket, all-or-nothing, in one round trip: granted now, booked
-- for a later time within the caller's max wait, or refused with the wait.
-- KEYS[1] bucket block, KEYS[2] leases (zset lease -> expiry us), then two per window i:
--   a log: KEYS[1+2i] the log, KEYS[2+2i] its block;
--   counters: KEYS[1+2i] the current state, KEYS[2+2i] the closed sub-windows.
-- ARGV[1] token, ARGV[2] concurrency cap (0: none), ARGV[3] lease us, ARGV[4] interactive
-- 0|1, ARGV[5] max wait us, then six per window i from ARGV[6i]: name, sub-windows N (0: a
-- sliding log), usable calls, full reserve, reserve floor, span us.
-- A log is a zset token -> grant time us. Counters split time into sub-windows of width
-- ceil(span / N) (index = time us // width) and count calls + 2^26 * interactive calls per
-- sub-window: the state hash holds 'k' the current sub-window, 'c' its count, 's' the sum of
-- every sub-window held, 'p' the oldest one that may hold calls, 't' a time (us) in the
-- latest grant's sub-window (only that sub-window is ever read, so 't' is rewritten only
-- when it changes), 'b'/'r' a block's end us and reason; the history hash holds the other sub-windows
-- (closed ones, and bookings for later ones). A grant in the current sub-window writes
-- only the small state hash; the history changes once per sub-window.
-- A call fits at time T when the grants after T - span (with counters: in the sub-windows
-- from k(T) - N on), bookings for later times included, are fewer than the cap: every
-- sliding interval of the window's length that holds T lies in that range, so none ever
-- goes over; and the count only falls as T grows, so each window's earliest time is exact
-- and the latest of them (and of the blocks) fits every window.
-- Bookings go at most HORIZON ahead, so a key kept HORIZON past what it holds outlives it.
-- Returns a status line 'ok(0|1) wait-us now-us grant-time-us reason' (one line parses faster
-- than an array); the clock is Redis TIME only.
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local conc, lease, interactive = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4] == '1'
local maxwait = math.min(tonumber(ARGV[5]), HORIZON)
local nwin = (#KEYS - 2) / 2
-- numbers go to Redis as strings made here: '%d' costs less than Redis's own '%.17g'
local floor, fmt = math.floor, string.format

local at, reason = now, ''
local ms = redis.call('PTTL', KEYS[1])
if ms > 0 then at, reason = now + ms * 1000, 'blocked' end

local WIDTH, SUM, CURRENT, LAST = {}, {}, {}, {}
for i = 1, nwin do
  local key, o = KEYS[1 + 2 * i], 6 * i
  local n, usable, full, span = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2]), tonumber(ARGV[o + 3]), tonumber(ARGV[o + 5])
  local when = now
  if n == 0 then
    ms = redis.call('PTTL', KEYS[2 + 2 * i])
    if ms > 0 and now + ms * 1000 > at then at, reason = now + ms * 1000, 'blocked' end
    local cap = interactive and usable or usable - full
    local since = fmt('%d', now - span + 1)  -- whole microseconds: after now - span
    local count = redis.call('ZCOUNT', key, since, '+inf')
    if count >= cap then
      when = redis.call('ZRANGEBYSCORE', key, since, '+inf', 'WITHSCORES', 'LIMIT', count - cap, 1)[2] + span
    end
  else
    local past = KEYS[2 + 2 * i]
    local g, k, low, c, s, last, block, rolled = roll(key, past, now, span, n)
    if block and block > at then at, reason = block, 'blocked' end
    if rolled then
      local ttl = counters_ttl(span, g)
      redis.call('PEXPIRE', key, ttl)
      redis.call('PEXPIRE', past, ttl)
    end
    WIDTH[i], SUM[i], CURRENT[i], LAST[i] = g, s, c, last
    local floor_calls = tonumber(ARGV[o + 4])
    local calls, inter = s % PACK, floor(s / PACK)
    if calls >= (interactive and usable or usable - math.min(full, floor_calls + inter)) then
      -- sub-window j leaves at (j + N + 1) * width; bookings may fill sub-windows past k
      local top = math.max(k, floor(last / g))
      local names = {}
      for j = low, top do names[#names + 1] = j end
      local vals = redis.call('HMGET', past, unpack(names))
      when = (top + n + 1) * g
      for j = 1, #names do
        local v = (tonumber(vals[j]) or 0) + (names[j] == k and c or 0)
        calls, inter = calls - v % PACK, inter - floor(v / PACK)
        if calls < (interactive and usable or usable - math.min(full, floor_calls + inter)) then
          when = (names[j] + n + 1) * g
          break
        end
      end
    end
  end
  if when > at then at, reason = when, ARGV[o] end
end

if at - now > maxwait then
  return {ok = fmt('0 %d %d %d %s', at - now, now, now, reason)}
end
if conc > 0 then
  local since = fmt('%d', now + 1)
  local held = redis.call('ZCOUNT', KEYS[2], since, '+inf')
  if held >= conc then
    local first = redis.call('ZRANGEBYSCORE', KEYS[2], since, '+inf', 'WITHSCORES', 'LIMIT', held - conc, 1)
    return {ok = fmt('0 %d %d %d concurrency', first[2] - now, now, now)}
  end
end

local add = interactive and PACK + 1 or 1
-- A key must outlive what it now holds (need ms); its expiry is pushed to ttl ms only when it
-- would not, so that most grants write no expiry (one command less to persist).
local function keep(key, need, ttl)
  if redis.call('PTTL', key) < need then redis.call('PEXPIRE', key, fmt('%d', ttl)) end
end
for i = 1, nwin do
  local key, o = KEYS[1 + 2 * i], 6 * i
  local g = WIDTH[i]
  if g == nil then
    local span = tonumber(ARGV[o + 5])
    redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt('%d', now - span))
    redis.call('ZADD', key, fmt('%d', at), ARGV[1])
    keep(key, floor((at - now + span) / 1000) + 1000, floor((span + HORIZON) / 1000) + 1000)
  elseif floor(at / g) == floor(now / g) then
    if floor(LAST[i] / g) < floor(now / g) then
      redis.call('HSET', key, 'c', fmt('%d', CURRENT[i] + add), 's', fmt('%d', SUM[i] + add), 't', fmt('%d', at))
    else
      redis.call('HSET', key, 'c', fmt('%d', CURRENT[i] + add), 's', fmt('%d', SUM[i] + add))
    end
  else
    local past = KEYS[2 + 2 * i]
    redis.call('HINCRBY', past, floor(at / g), add)
    redis.call('PEXPIRE', past, counters_ttl(tonumber(ARGV[o + 5]), g))
    redis.call('HSET', key, 's', fmt('%d', SUM[i] + add), 't', fmt('%d', math.max(at, LAST[i])))
  end
end
if conc > 0 then
  redis.call('ZADD', KEYS[2], fmt('%d', at + lease), ARGV[1])
  keep(KEYS[2], floor((at - now + lease) / 1000) + 1000, floor((lease + HORIZON) / 1000) + 1000)
end
return {ok = fmt('1 %d %d %d %s', at - now, now, at, reason)}
