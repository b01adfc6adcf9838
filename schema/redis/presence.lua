-- SPDX-License-Identifier: MIT
-- presence.lua: presence members shared by the nodes
-- (broker/store/redis_presence.c).
--
-- The members are one hash, field "TOPIC\nCLIENT", value "NODE\n" then "0"
-- (anonymous) or "1" and the user; each node's fields are also in a set of
-- its own, so that the node's members can go when it dies. Every change is
-- published on the presence channel as "J\n" or "L\n", the field, "\n",
-- the value.
--
-- Why a script: a node is dead when it has not beaten for `ttl` ms, by
-- Redis's clock (TIME), not by any node's; the node that beats first after
-- that removes its members and tells everyone, in one step, so that two
-- survivors never both send the leaves.
--
-- ARGV: "join", channel, node, field, value | "leave", channel, node, field
--     | "beat", channel, node, ttl_ms.
-- Reply: "beat": 1 when the node was not registered (new, or removed as
-- dead): it must announce its members again; else 0.
local P = KEYS[1]
local op, channel, node = ARGV[1], ARGV[2], ARGV[3]

if op == 'join' then
  redis.call('HSET', P .. 'pres', ARGV[4], ARGV[5])
  redis.call('SADD', P .. 'pres:' .. node, ARGV[4])
  redis.call('PUBLISH', channel, 'J\n' .. ARGV[4] .. '\n' .. ARGV[5])
  return 0
end

if op == 'leave' then
  local value = redis.call('HGET', P .. 'pres', ARGV[4])
  redis.call('SREM', P .. 'pres:' .. node, ARGV[4])
  if value and string.sub(value, 1, #node + 1) == node .. '\n' then
    redis.call('HDEL', P .. 'pres', ARGV[4])
    redis.call('PUBLISH', channel, 'L\n' .. ARGV[4] .. '\n' .. value)
  end
  return 0
end

-- beat
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local known = redis.call('ZSCORE', P .. 'nodes', node)
redis.call('ZADD', P .. 'nodes', now, node)
for _, dead in ipairs(redis.call('ZRANGEBYSCORE', P .. 'nodes', '-inf', now - tonumber(ARGV[4]))) do
  for _, field in ipairs(redis.call('SMEMBERS', P .. 'pres:' .. dead)) do
    local value = redis.call('HGET', P .. 'pres', field)
    if value and string.sub(value, 1, #dead + 1) == dead .. '\n' then
      redis.call('HDEL', P .. 'pres', field)
      redis.call('PUBLISH', channel, 'L\n' .. field .. '\n' .. value)
    end
  end
  redis.call('DEL', P .. 'pres:' .. dead)
  redis.call('ZREM', P .. 'nodes', dead)
end
if known then
  return 0
end
return 1
