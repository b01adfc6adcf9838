-- SPDX-License-Identifier: MIT
-- housekeep.lua: one slice of retention by age, for the Redis engine
-- (broker/store/redis_engine.c runs it about once a second on every node;
-- running it twice does no harm).
--
-- Removes at most `max` messages whose age ran out, noting for each topic
-- the newest seq retention removed (what `recovered` is judged on); a
-- topic left with no message leaves the set of live topics. When the
-- notes outgrow the live topics by `spare`, the notes of topics holding
-- nothing collapse into one watermark (`trim_mark`), so what is remembered
-- stays bounded by the live topics.
--
-- ARGV: now_ms, max, spare, cursor (of the notes' HSCAN, "0" to start).
-- Reply: {messages removed, next cursor}.
local P = KEYS[1]
local now, max, spare = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cursor = ARGV[4]

local function note_trim(topic, seq)
  local cur = redis.call('HGET', P .. 'trim', topic)
  if not cur or tonumber(cur) < seq then
    redis.call('HSET', P .. 'trim', topic, string.format('%d', seq))
  end
end

local removed = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', P .. 'exp', '-inf', now, 'LIMIT', 0, max)) do
  local sp = string.find(member, ' ', 1, true)
  local seq, topic = string.sub(member, 1, sp - 1), string.sub(member, sp + 1)
  redis.call('HDEL', P .. 'msg', seq)
  redis.call('ZREM', P .. 'log', member)
  redis.call('ZREM', P .. 'exp', member)
  redis.call('ZREM', P .. 't:' .. topic, seq)
  if redis.call('ZCARD', P .. 't:' .. topic) == 0 then
    redis.call('ZREM', P .. 'topics', topic)
  end
  note_trim(topic, tonumber(seq))
  removed = removed + 1
end
if removed > 0 then
  redis.call('INCRBY', P .. 'trim_count', removed)
end

if redis.call('HLEN', P .. 'trim') > redis.call('ZCARD', P .. 'topics') + spare then
  local mark = tonumber(redis.call('GET', P .. 'trim_mark') or '0')
  local scan = redis.call('HSCAN', P .. 'trim', cursor, 'COUNT', max)
  cursor = scan[1]
  local kv = scan[2]
  for i = 1, #kv, 2 do
    if not redis.call('ZSCORE', P .. 'topics', kv[i]) then
      local s = tonumber(kv[i + 1])
      if s > mark then mark = s end
      redis.call('HDEL', P .. 'trim', kv[i])
    end
  end
  redis.call('SET', P .. 'trim_mark', string.format('%d', mark))
end
return {removed, cursor}
