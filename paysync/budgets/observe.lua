-- The provider says ARGV[4] calls remain of ARGV[2] in the window logged at KEYS[1]:
-- add phantom grants (now) so the log holds at least limit - remaining entries. Never
-- removes any, so it can only lower the budget. ARGV[1] token, ARGV[3] span us.
-- Returns {phantoms added, now us}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local span = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - span)
local missing = tonumber(ARGV[2]) - tonumber(ARGV[4]) - redis.call('ZCARD', KEYS[1])
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
  redis.call('PEXPIRE', KEYS[1], math.ceil(span / 1000) + 1000)
end
return {math.max(missing, 0), now}
