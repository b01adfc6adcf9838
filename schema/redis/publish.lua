-- SPDX-License-Identifier: MIT
-- publish.lua: one batch of publish requests, atomically, for the Redis
-- engine (broker/store/redis_write.c builds the arguments).
--
-- Why one script: Redis runs it whole, so seq assignment, key dedupe,
-- expect_last, the topics bound, history with retention, the feed and the
-- notification of the other nodes happen in one step and one round trip
-- for many messages, with nothing of a refused request written. Every key
-- shares the hash tag of KEYS[1] (the prefix, "wsb:{wsb}:"), so the whole
-- script touches one hash slot.
--
-- ARGV: dedupe_ms, origin, max_topics, feed_max, channel, epoch, nreq,
-- then per request: npubs, then per publish 7 fields: topic, key ("" for
-- none), retain (messages kept for the topic), expire_ms (when its age
-- runs out), has_expect ("1"/"0"), expect_last, record (the message as
-- redis_record.c encodes it).
-- Reply: per request: status (0 ok, 3 full: topics, 4 conflict), extra
-- (the conflicting topic's newest seq), then per publish: seq, duplicate.
local P = KEYS[1]
local dedupe_ms = tonumber(ARGV[1])
local origin = ARGV[2]
local max_topics = tonumber(ARGV[3])
local feed_max = tonumber(ARGV[4])
local channel = ARGV[5]
local epoch = ARGV[6] -- the data set's epoch as the publishing node knows it
local nreq = tonumber(ARGV[7])
local FIELDS = 7

-- A seq as text: Lua's own conversion writes 1e+14 from 10^14 on.
local function str(n)
  return string.format('%d', n)
end

-- The global seq, read once and written once: nothing else runs while
-- the script does.
local seq_now = tonumber(redis.call('GET', P .. 'seq') or '0')
-- A batch is stored only in the epoch its node delivers in, and only while
-- the counter is not below what the feed already holds: otherwise the data
-- set went back (emptied, lost writes, replaced) and a new epoch is due.
-- Refused before anything is written, so that no key or entry is left, and
-- no seq a node delivered is handed out again in the epoch it knows.
if redis.call('GET', P .. 'epoch') ~= epoch or
    tonumber(redis.call('GET', P .. 'feed_top') or '0') > seq_now then
  return redis.error_reply('WSBSTALE the data set went back: the epoch is due to change')
end
local first_new = nil -- the batch's first new seq
local newest = {}  -- topic -> newest stored seq, as this script left it
local touched = {} -- topic -> its retain, for the topics this script stored to
local live = {}    -- what the other nodes are sent, in seq order

local function newest_of(topic)
  local v = newest[topic]
  if v == nil then
    local r = redis.call('ZREVRANGE', P .. 't:' .. topic, 0, 0, 'WITHSCORES')
    v = r[2] and tonumber(r[2]) or 0
    newest[topic] = v
  end
  return v
end

local function dedupe_key(topic, key)
  return P .. 'd:' .. topic .. '\n' .. key
end

local function note_trim(topic, seq)
  local cur = redis.call('HGET', P .. 'trim', topic)
  if not cur or tonumber(cur) < seq then
    redis.call('HSET', P .. 'trim', topic, str(seq))
  end
end

-- Count retention, once per topic per script (not per message): the
-- oldest seqs over `retain` go, in a few calls whatever their number.
local function trim(topic, retain)
  local key = P .. 't:' .. topic
  local over = redis.call('ZCARD', key) - retain
  if over <= 0 then
    return
  end
  local seqs = redis.call('ZRANGE', key, 0, over - 1)
  local members = {}
  for i, seq in ipairs(seqs) do
    members[i] = seq .. ' ' .. topic
  end
  for i = 1, #seqs, 1000 do -- unpack() takes a bounded number of values
    local last = math.min(i + 999, #seqs)
    redis.call('HDEL', P .. 'msg', unpack(seqs, i, last))
    redis.call('ZREM', P .. 'log', unpack(members, i, last))
    redis.call('ZREM', P .. 'exp', unpack(members, i, last))
  end
  redis.call('ZREMRANGEBYRANK', key, 0, over - 1)
  note_trim(topic, tonumber(seqs[#seqs]))
  redis.call('INCRBY', P .. 'trim_count', #seqs)
end

-- Whether request r (its publishes from ARGV[at]) may be stored: status
-- and extra as in the reply.
local function check(at, n)
  local next_seq = seq_now + 1
  local sim = {}  -- topic -> newest seq if the request is stored
  local keys = {} -- dedupe keys of the request
  local new_topics, counted = 0, {}
  for k = 0, n - 1 do
    local b = at + k * FIELDS
    local topic, key = ARGV[b], ARGV[b + 1]
    local dk = key ~= '' and dedupe_key(topic, key) or nil
    local dup = dk and (keys[dk] or redis.call('GET', dk))
    if not dup then
      local retain = tonumber(ARGV[b + 2])
      -- The topic's newest seq costs a lookup: only a condition or the
      -- topics bound needs it.
      local cur = sim[topic]
      if cur == nil and (ARGV[b + 4] == '1' or max_topics > 0) then
        cur = newest_of(topic)
      end
      if ARGV[b + 4] == '1' and cur ~= tonumber(ARGV[b + 5]) then
        return 4, cur
      end
      if retain > 0 then
        sim[topic] = next_seq
        if max_topics > 0 and not counted[topic] and cur == 0 then
          counted[topic] = true
          if not redis.call('ZSCORE', P .. 'topics', topic) then
            new_topics = new_topics + 1
          end
        end
      end
      if dk then keys[dk] = next_seq end
      next_seq = next_seq + 1
    end
  end
  if new_topics > 0 and redis.call('ZCARD', P .. 'topics') + new_topics > max_topics then
    return 3, 0
  end
  return 0, 0
end

-- What the script writes for its stored messages, gathered and written
-- at its end in one call per key (not one per message): Lua's calls into
-- Redis, not the commands, are most of a publish's cost.
local msg_args, log_args, exp_args = {}, {}, {}
local topic_args = {} -- topic -> {score, member, ...} for its set
local dropped = {}    -- topic -> newest seq retain=0 dropped
local n_dropped = 0

local function store(b, out)
  local topic, key = ARGV[b], ARGV[b + 1]
  local dk = key ~= '' and dedupe_key(topic, key) or nil
  local dup = dk and redis.call('GET', dk)
  if dup then
    out[#out + 1] = tonumber(dup)
    out[#out + 1] = 1
    return
  end
  seq_now = seq_now + 1
  local seq = seq_now
  first_new = first_new or seq
  local seq_text = str(seq)
  local retain = tonumber(ARGV[b + 2])
  local record = ARGV[b + 6]
  if retain > 0 then
    local member = seq_text .. ' ' .. topic
    local n = #msg_args
    msg_args[n + 1], msg_args[n + 2] = seq_text, record
    log_args[n + 1], log_args[n + 2] = seq_text, member
    exp_args[n + 1], exp_args[n + 2] = ARGV[b + 3], member
    local t = topic_args[topic]
    if not t then
      t = {}
      topic_args[topic] = t
      redis.call('ZADD', P .. 'topics', seq, topic) -- live from now on
    end
    t[#t + 1], t[#t + 2] = seq_text, seq_text
    newest[topic] = seq
    touched[topic] = retain
  else
    dropped[topic] = seq
    n_dropped = n_dropped + 1
  end
  if dk then
    redis.call('SET', dk, seq_text, 'PX', dedupe_ms)
  end
  live[#live + 1] = seq_text .. ' ' .. origin .. ' ' .. #record .. '\n' .. record
  out[#out + 1] = seq
  out[#out + 1] = 0
end

-- `cmd key` with args[1..] appended, 1000 pairs per call (unpack() takes
-- a bounded number of values).
local function write_pairs(cmd, key, args)
  for i = 1, #args, 2000 do
    redis.call(cmd, key, unpack(args, i, math.min(i + 1999, #args)))
  end
end

local out = {}
local at = 8
for r = 1, nreq do
  local n = tonumber(ARGV[at])
  at = at + 1
  local status, extra = check(at, n)
  out[#out + 1] = status
  out[#out + 1] = extra
  for k = 0, n - 1 do
    if status == 0 then
      store(at + k * FIELDS, out)
    else
      out[#out + 1] = 0
      out[#out + 1] = 0
    end
  end
  at = at + n * FIELDS
end
redis.call('SET', P .. 'seq', str(seq_now))
write_pairs('HSET', P .. 'msg', msg_args)
write_pairs('ZADD', P .. 'log', log_args)
write_pairs('ZADD', P .. 'exp', exp_args)
for topic, args in pairs(topic_args) do
  write_pairs('ZADD', P .. 't:' .. topic, args)
end
for topic, seq in pairs(dropped) do
  note_trim(topic, seq)
end
if n_dropped > 0 then
  redis.call('INCRBY', P .. 'trim_count', n_dropped)
end
for topic, retain in pairs(touched) do
  trim(topic, retain)
end
if #live > 0 then
  -- The feed holds the batch as the nodes were sent it, one entry per
  -- script, id FIRST-LAST; entries older than feed_max seqs go.
  local payload = table.concat(live)
  redis.call('XADD', P .. 'feed', 'MINID', '~', str(math.max(seq_now - feed_max, 0)),
    str(first_new) .. '-' .. str(seq_now), 'p', payload)
  redis.call('SET', P .. 'feed_top', str(seq_now))
  redis.call('PUBLISH', channel, payload)
end
return out
