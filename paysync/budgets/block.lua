-- Block a bucket (or one shared window) for ARGV[1] ms with reason ARGV[2]; never shortens
-- a longer block already in place. KEYS[1] the block key, or with ARGV[3] = 1 the state
-- hash of a window's sub-window counters (the block is its fields 'b', end us, and 'r',
-- reason; see acquire.lua). Returns {remaining ms, now us}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ms = tonumber(ARGV[1])
if ARGV[3] == '1' then
  local left = math.ceil(((tonumber(redis.call('HGET', KEYS[1], 'b')) or 0) - now) / 1000)
  if left < ms then
    redis.call('HSET', KEYS[1], 'b', now + ms * 1000, 'r', ARGV[2])
    if redis.call('PTTL', KEYS[1]) < ms + 1000 then redis.call('PEXPIRE', KEYS[1], ms + 1000) end
    left = ms
  end
  return {left, now}
end
local left = redis.call('PTTL', KEYS[1])
if left < ms then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ms)
  left = ms
end
return {left, now}
