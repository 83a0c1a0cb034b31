-- Block a bucket (or one shared window) for ARGV[1] ms with reason ARGV[2]; never shortens
-- a longer block already in place. KEYS[1] block key. Returns {remaining ms, now us}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < ms then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ms)
  left = ms
end
return {left, now}
