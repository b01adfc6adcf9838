-- SPDX-License-Identifier: MIT
-- epoch.lua: the data set's epoch and newest seq, for a node that connects
-- and then every poll (broker/store/redis_engine.c).
--
-- Why a script: "the seq went backwards" must be judged and answered in
-- one step, or two nodes could each start an epoch of their own. A node
-- passes the epoch it knows and the newest seq it has seen: when the epoch
-- is missing (a new or emptied Redis), or is the node's own while the seq
-- is below what it saw (Redis lost acknowledged writes, or was replaced),
-- the proposed epoch starts; a node that finds an epoch other than its own
-- adopts it. The recent-message feed of the old epoch is dropped with it,
-- as its entry ids would be above the seqs the new epoch hands out.
--
-- ARGV: known_epoch ("" for none), seen_seq, proposed_epoch.
-- Reply: {epoch, seq}.
local P = KEYS[1]
local epoch = redis.call('GET', P .. 'epoch')
local seq_text = redis.call('GET', P .. 'seq') or '0'
local seq = tonumber(seq_text)
if not epoch or (epoch == ARGV[1] and seq < tonumber(ARGV[2])) then
  epoch = ARGV[3]
  redis.call('SET', P .. 'epoch', epoch)
  redis.call('DEL', P .. 'feed', P .. 'feed_top')
end
return {epoch, seq_text}
