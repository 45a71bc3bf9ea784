"""The call queue's Lua scripts: each operation is one script, so it reads and changes the queue atomically.

Every script gets the keys it can be told before it runs as KEYS (the caller's hash, the practice's
queue, the agent named), and the key prefix as ARGV[1] to build the ones it finds as it runs (the agent a
match picks, the caller at a queue's head). The prefix is a Redis hash tag ("{careline:q}"), so every key
of the queue hashes to one slot: a Redis Cluster can hold them, and a script never touches a key outside
its declared keys' slot. The tag is one for all practices, not one per practice, because an agent may
answer for several practices: the match that rings the agent for one practice takes it out of the others'
available sets in the same atomic step, which a script can only do within one slot. Times are integer
milliseconds passed in by the caller, never Redis's TIME, so tests move time by passing values.

Keys (P is the prefix, "{careline:q}"; p a practice id or "all"; l a language, "*" for a caller who chose none):

| Key | Type | Holds |
| --- | --- | --- |
| P:call:{call_sid} | hash | state (waiting/offered/connected), practice, lang, score, agent |
| P:wait:{practice} | zset | waiting callers by score: arrival (ms) when urgent, NORMAL + arrival otherwise |
| P:wait:{practice}:{l} | zset | the same callers, one set per language, same scores |
| P:langs:{practice} | set | languages that have waiting callers (the match looks at these heads only) |
| P:offered:{practice} | set | callers whose offer is ringing an agent (for the snapshot) |
| P:seen | zset | waiting and offered callers by last heartbeat (ms), for the sweep |
| P:agent:{id} | hash | status, reason, practices ("1,2" or "all"), langs ("en,es"), idle (ms), call |
| P:avail:{p} | zset | available and wrap-up agents of practice p (or of every practice), by idle (ms) |
| P:avail:{p}:{l} | zset | the same, per language the agent speaks |
| P:duty:{p} | set | agents on duty: available, ringing, busy or in wrap-up |
| P:agents:{p} | set | every registered agent of p, whatever its status (for the snapshot) |

An agent's `idle` is when it became free: for an agent in wrap-up, the end of its wrap-up. An agent in
wrap-up sits in the available sets already, scored by that end, and a match takes only agents whose
score is not in the future: so a wrap-up ends by itself, with the idle time counted from its end, and no
operation has to move agents out of wrap-up first. Its hash says wrap-up until something else happens;
readers given a time show it available from then.

An agent answering for every practice sits in the "all" sets once instead of in every practice's, so a
match reads two heads (the practice's and "all"), adding a practice changes nothing, and no match scans
agents (only the snapshot lists them). A connected caller's hash is kept for CONNECTED_TTL_SECONDS
(`queueing.store`), so a retried answer is recognised and the call cannot join a queue again; a caller
who leaves the queue is deleted.

Scripts are kept lean, because each operation should cost about one plain Redis round trip: a script
carries only the helpers it uses, keys are built by plain concatenation, and only the fields needed are
read. The helpers are Lua text joined in front of a script's body, as `calllog.events` does.
"""
from __future__ import annotations

# A caller's score is its arrival in ms, plus this when it is not urgent: urgent callers sort first, then
# arrival (callers arriving in the same millisecond by call_sid). The score keeps both for good, so a
# caller put back after a missed offer takes its old place, and the grace test needs no extra read.
# 10^13 ms is the year 2286; every score stays an exact integer in a double.
NORMAL_SCORE_BASE = 10_000_000_000_000

_BASE = f"""
local P = ARGV[1]
local NORMAL = {NORMAL_SCORE_BASE}
"""

# Agents: `a` is a table mirroring P:agent:{id}. `move` keeps the indexes right when the status changes;
# the script then writes the hash.
_AGENTS = """
local ON_DUTY = {available = true, ringing = true, busy = true, ['wrap-up'] = true}
local FREE = {available = true, ['wrap-up'] = true}  -- in the available sets, by `idle`

local function split(text)
  local out = {}
  for part in string.gmatch(text or '', '[^,]+') do out[#out + 1] = part end
  return out
end

local function scopes(a)
  if a.practices == 'all' then return {'all'} end
  return split(a.practices)
end

-- `reason` is not read: no operation keeps it across a change of status.
local function load_agent(id)
  local f = redis.call('HMGET', P .. ':agent:' .. id, 'status', 'practices', 'langs', 'idle', 'call')
  if not f[1] then return nil end
  return {id = id, status = f[1], practices = f[2] or '', langs = f[3] or '', idle = f[4] or '0', call = f[5] or '',
          reason = ''}
end

local function save_agent(a)
  redis.call('HSET', P .. ':agent:' .. a.id, 'status', a.status, 'reason', a.reason, 'practices', a.practices,
             'langs', a.langs, 'idle', a.idle, 'call', a.call)
end

local function set_available(a, add)
  local langs = split(a.langs)
  for _, s in ipairs(scopes(a)) do
    local k = P .. ':avail:' .. s
    if add then
      redis.call('ZADD', k, a.idle, a.id)
      for _, l in ipairs(langs) do redis.call('ZADD', k .. ':' .. l, a.idle, a.id) end
    else
      redis.call('ZREM', k, a.id)
      for _, l in ipairs(langs) do redis.call('ZREM', k .. ':' .. l, a.id) end
    end
  end
end

local function set_duty(a, on)
  local op = on and 'SADD' or 'SREM'
  for _, s in ipairs(scopes(a)) do redis.call(op, P .. ':duty:' .. s, a.id) end
end

-- Move the agent to `status`; set a.idle first when it becomes free (available, or wrap-up until then).
local function move(a, status)
  local old = a.status
  if old == status then return end
  if FREE[status] then set_available(a, true) elseif FREE[old] then set_available(a, false) end
  if (ON_DUTY[old] or false) ~= (ON_DUTY[status] or false) then set_duty(a, ON_DUTY[status] or false) end
  a.status = status
end
"""

_CALLERS = """
local function load_call(sid)
  local f = redis.call('HMGET', P .. ':call:' .. sid, 'state', 'practice', 'lang', 'score', 'agent')
  if not f[1] then return nil end
  return {sid = sid, state = f[1], practice = f[2], lang = f[3], score = f[4], agent = f[5] or ''}
end

local function queue(c)
  local k = P .. ':wait:' .. c.practice
  redis.call('ZADD', k, c.score, c.sid)
  redis.call('ZADD', k .. ':' .. c.lang, c.score, c.sid)
  redis.call('SADD', P .. ':langs:' .. c.practice, c.lang)
end

local function unqueue(c)
  local k = P .. ':wait:' .. c.practice
  redis.call('ZREM', k, c.sid)
  k = k .. ':' .. c.lang
  redis.call('ZREM', k, c.sid)
  if redis.call('ZCARD', k) == 0 then redis.call('SREM', P .. ':langs:' .. c.practice, c.lang) end
end

-- An offer ended unanswered: the caller goes back with its own score, so its priority and arrival.
local function requeue(c)
  redis.call('SREM', P .. ':offered:' .. c.practice, c.sid)
  queue(c)
  redis.call('HSET', P .. ':call:' .. c.sid, 'state', 'waiting', 'agent', '', 'delivery', '')
end
"""

# Take a waiting or offered caller out; an agent ringing for it is available again with its old idle
# time (the caller left; the agent did nothing wrong). Returns {sid, practice, score, lang, agent}.
_REMOVE_CALL = """
local function remove_call(sid)
  local c = load_call(sid)
  if not c or c.state == 'connected' then return nil end
  local agent = ''
  if c.state == 'waiting' then
    unqueue(c)
  else
    redis.call('SREM', P .. ':offered:' .. c.practice, sid)
    local a = load_agent(c.agent)
    if a and a.status == 'ringing' and a.call == sid then
      move(a, 'available')
      redis.call('HSET', P .. ':agent:' .. a.id, 'status', 'available', 'call', '')
      agent = a.id
    end
  end
  redis.call('ZREM', P .. ':seen', sid)
  redis.call('DEL', P .. ':call:' .. sid)
  return {sid, c.practice, c.score, c.lang, agent}
end
"""

# KEYS: P:call:{call_sid}, P:wait:{practice}, P:langs:{practice}, P:seen.
# ARGV: prefix, call_sid, practice, urgent (1/0), language ("*": none), now (ms).
# A known caller is left as it is (a retried webhook). Returns its 1-based position, 0 when it is being
# offered, -1 when it was connected already.
ENQUEUE = _BASE + """
local sid, practice, lang = ARGV[2], ARGV[3], ARGV[5]
local ck = KEYS[1]
local known = redis.call('HMGET', ck, 'state', 'practice')
if known[1] == 'connected' then return -1 end
if known[1] == 'offered' then return 0 end
if known[1] then return redis.call('ZRANK', P .. ':wait:' .. known[2], sid) + 1 end
local score = tonumber(ARGV[6])
if ARGV[4] ~= '1' then score = NORMAL + score end
redis.call('HSET', ck, 'state', 'waiting', 'practice', practice, 'lang', lang, 'score', score)
local k = KEYS[2]
redis.call('ZADD', k, score, sid)
redis.call('ZADD', k .. ':' .. lang, score, sid)
redis.call('SADD', KEYS[3], lang)
redis.call('ZADD', KEYS[4], ARGV[6], sid)
return redis.call('ZRANK', k, sid) + 1
"""

# KEYS: P:langs:{practice}, P:wait:{practice}, P:offered:{practice}.
# ARGV: prefix, practice, now (ms), language grace (ms).
# The candidates are the head of each language's queue: with the longest-idle agent speaking it, or, with
# no such agent, with the longest-idle agent of any language once that caller waited the grace out. An
# urgent head still within the grace does not hide a non-urgent caller of its language past it. The
# candidate first in queue order wins; it becomes offered and its agent ringing.
# Returns {call_sid, agent, score, language} or nil.
MATCH = _BASE + _AGENTS + """
local practice, now = ARGV[2], tonumber(ARGV[3])
local langs = redis.call('SMEMBERS', KEYS[1])
if #langs == 0 then return false end

-- The agent free longest. The sets are sorted by `idle`, so when the first has a wrap-up still running
-- (its end, in the future, as score) every other one has too.
local function first_free(key)
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if head[1] and tonumber(head[2]) <= now then return head[1], tonumber(head[2]) end
end

local function longest_idle(suffix)
  local x, x_idle = first_free(P .. ':avail:' .. practice .. suffix)
  local y, y_idle = first_free(P .. ':avail:all' .. suffix)
  if not x or (y and y_idle < x_idle) then return y end
  return x
end

local any_agent = longest_idle('')
if not any_agent then return false end
local cutoff = now - tonumber(ARGV[4])
local wait = KEYS[2]
local heads = {}
for _, lang in ipairs(langs) do
  local head = redis.call('ZRANGE', wait .. ':' .. lang, 0, 0, 'WITHSCORES')
  if head[1] then heads[#heads + 1] = {sid = head[1], score = tonumber(head[2]), lang = lang} end
end
-- queue order: score, then call_sid as the sorted sets do
local function before(sid, score, other_sid, other_score)
  return score < other_score or (score == other_score and sid < other_sid)
end
table.sort(heads, function(x, y) return before(x.sid, x.score, y.sid, y.score) end)

-- Heads in queue order; a later head can only win over a candidate found so far if it comes before it.
local best, best_score, best_agent, best_lang
for _, head in ipairs(heads) do
  if best and not before(head.sid, head.score, best, best_score) then break end
  local sid, score, agent = head.sid, head.score, any_agent
  if head.lang ~= '*' then
    agent = longest_idle(':' .. head.lang)
    if not agent then
      local arrived = score
      if score >= NORMAL then arrived = score - NORMAL end
      if arrived <= cutoff then
        agent = any_agent
      elseif score < NORMAL then
        local n = redis.call('ZRANGEBYSCORE', wait .. ':' .. head.lang, NORMAL, NORMAL + cutoff, 'WITHSCORES',
                             'LIMIT', 0, 1)
        if n[1] then sid, score, agent = n[1], tonumber(n[2]), any_agent end
      end
    end
  end
  if agent and (not best or before(sid, score, best, best_score)) then
    best, best_score, best_agent, best_lang = sid, score, agent, head.lang
  end
end
if not best then return false end

local ck = P .. ':call:' .. best
redis.call('ZREM', wait, best)
redis.call('ZREM', wait .. ':' .. best_lang, best)
if redis.call('ZCARD', wait .. ':' .. best_lang) == 0 then
  redis.call('SREM', KEYS[1], best_lang)
end
redis.call('SADD', KEYS[3], best)
redis.call('HSET', ck, 'state', 'offered', 'agent', best_agent, 'delivery', '')
local profile = redis.call('HMGET', P .. ':agent:' .. best_agent, 'practices', 'langs')
set_available({id = best_agent, practices = profile[1], langs = profile[2]}, false)
redis.call('HSET', P .. ':agent:' .. best_agent, 'status', 'ringing', 'call', best)
return {best, best_agent, best_score, best_lang}
"""

# KEYS: P:call:{call_sid}, P:agent:{agent}, P:seen.
# ARGV: prefix, call_sid, agent, TTL of the connected caller's hash (s).
# Ringing and busy are both on duty and in no index, so only the hashes change.
# Returns {repeated (1: answered before), practice, score}, or nil when this offer is not standing.
OFFER_ANSWERED = _BASE + """
local sid, agent = ARGV[2], ARGV[3]
local ck = KEYS[1]
local c = redis.call('HMGET', ck, 'state', 'agent', 'practice', 'score', 'delivery')
if c[2] ~= agent then return false end
if c[1] == 'connected' then return {1, c[3], c[4], c[5] or ''} end
redis.call('SREM', P .. ':offered:' .. c[3], sid)
redis.call('ZREM', KEYS[3], sid)
redis.call('HSET', ck, 'state', 'connected')
redis.call('EXPIRE', ck, ARGV[4])
redis.call('HSET', KEYS[2], 'status', 'busy')
return {0, c[3], c[4], c[5] or ''}
"""

# One owner per offer. An offer reaches the caller in one of two ways: the TwiML of one of the caller's own
# webhooks dials the agent (its join, a hold turn), or dispatch redirects the call through Twilio's REST API
# to the connect URL. Twilio runs a redirect at once, also over a <Dial> in progress, so a redirect sent
# after a hold turn dialled would pull a caller out of the agent's ring or talk. Each path claims the offer
# here, in one step, before it acts; the other then does nothing. The caller's hash keeps the owner in
# `delivery`: '' (nobody yet), 'rest' (a redirect is being sent), 'rest-failed' (Twilio refused it or did
# not answer: a hold turn may take the offer), or the TwiML path that dialled ('webhook', 'wait-loop').
# KEYS: P:call:{call_sid}.
# ARGV: prefix, call_sid, agent, path. `path` 'rest' claims only an untouched offer; a TwiML path also one
# whose redirect failed, or that it holds already (a retried webhook); 'rest-arrived' (the redirect reached
# the connect URL: the caller runs no other document now) always takes it, as 'rest'.
# Returns {1 (claimed) or 0, the owner before}, or nil when the offer is not standing.
CLAIM_DELIVERY = _BASE + """
local sid, agent, path = ARGV[2], ARGV[3], ARGV[4]
local ck = KEYS[1]
local c = redis.call('HMGET', ck, 'state', 'agent', 'delivery')
if c[1] ~= 'offered' or c[2] ~= agent then return false end
local owner = c[3] or ''
local free
if path == 'rest' then
  free = owner == ''
elseif path == 'rest-arrived' then
  free, path = true, 'rest'
else
  free = owner == '' or owner == 'rest-failed' or owner == path
end
if not free then return {0, owner} end
redis.call('HSET', ck, 'delivery', path)
return {1, owner}
"""

# KEYS: P:call:{call_sid}.
# ARGV: prefix, call_sid, agent. The redirect of a 'rest' claim failed: a hold turn may deliver the offer.
# Returns 1, or 0 when the offer is not standing or not claimed by a redirect.
RELEASE_DELIVERY = _BASE + """
local sid, agent = ARGV[2], ARGV[3]
local ck = KEYS[1]
local c = redis.call('HMGET', ck, 'state', 'agent', 'delivery')
if c[1] ~= 'offered' or c[2] ~= agent or c[3] ~= 'rest' then return 0 end
redis.call('HSET', ck, 'delivery', 'rest-failed')
return 1
"""

# KEYS: P:call:{call_sid}, P:agent:{agent}.
# ARGV: prefix, call_sid, agent. The caller goes back to its place, the agent is paused ("missed").
# Returns 1, or 0 when this offer was not standing.
OFFER_MISSED = _BASE + _AGENTS + _CALLERS + """
local sid, agent = ARGV[2], ARGV[3]
local c = load_call(sid)
if not c or c.state ~= 'offered' or c.agent ~= agent then return 0 end
requeue(c)
local a = load_agent(agent)
set_duty(a, false)
redis.call('HSET', KEYS[2], 'status', 'paused', 'reason', 'missed', 'call', '')
return 1
"""

# The agent's call with `sid` ended: wrap-up until now + wrap (ms), then available. Returns true, or false
# when the agent is not busy with that call.
_END_CALL = """
local function end_call(agent, sid, now, wrap)
  local a = load_agent(agent)
  if not a or a.status ~= 'busy' or a.call ~= sid then return false end
  local status = 'available'
  if wrap > 0 then status = 'wrap-up' end
  a.idle = now + wrap
  set_available(a, true)
  redis.call('HSET', P .. ':agent:' .. a.id, 'status', status, 'idle', a.idle, 'call', '')
  return true
end
"""

# KEYS: P:agent:{agent}.
# ARGV: prefix, call_sid, agent, now (ms), wrap-up (ms). Returns 1, or 0 when the agent is not busy with it.
CALL_ENDED = _BASE + _AGENTS + _END_CALL + """
if end_call(ARGV[3], ARGV[2], tonumber(ARGV[4]), tonumber(ARGV[5])) then return 1 end
return 0
"""

# KEYS: P:agent:{agent}.
# ARGV: prefix, agent, status (offline/available/paused), now (ms), reason, practices given (1/0),
# practices ("all" or "1,2"), languages given (1/0), languages ("en,es"); what is not given is kept.
# Available applies to an offline or paused agent, and ends a wrap-up early (idle from now); a ringing or
# busy agent stays so. Offline or paused cancels a ringing offer (the caller goes back to its place) or
# lets go of a call.
# Returns {status, released call_sid or "", requeued (1/0), reason, status before, reason before}: the state
# before is read in the same script, so a caller can tell a real change from a no-op under any interleaving.
# Before is "offline" for an agent not registered yet (where every agent starts), and "available" for one
# whose wrap-up is over by `now`.
SET_AGENT = _BASE + _AGENTS + _CALLERS + """
local function index_agent(a, add)
  local op = add and 'SADD' or 'SREM'
  for _, s in ipairs(scopes(a)) do redis.call(op, P .. ':agents:' .. s, a.id) end
  if ON_DUTY[a.status] then set_duty(a, add) end
  if FREE[a.status] then set_available(a, add) end
end

local id, status, now = ARGV[2], ARGV[3], ARGV[4]
local a = load_agent(id)
local before_status, before_reason = 'offline', ''
if a then
  before_status = a.status
  if before_status == 'wrap-up' and tonumber(a.idle) <= tonumber(now) then before_status = 'available' end
  before_reason = redis.call('HGET', KEYS[1], 'reason') or ''
else
  a = {id = id, status = 'offline', reason = '', practices = '', langs = '', idle = '0', call = ''}
end
local practices, langs = a.practices, a.langs
if ARGV[6] == '1' then practices = ARGV[7] end
if ARGV[8] == '1' then langs = ARGV[9] end
if practices ~= a.practices or langs ~= a.langs then
  index_agent(a, false)
  a.practices, a.langs = practices, langs
  index_agent(a, true)
end
local released, requeued = '', 0
if status == 'available' then
  if a.status == 'wrap-up' and tonumber(a.idle) <= tonumber(now) then
    a.status = 'available'  -- free since its wrap-up ended; its place in the sets stays
  elseif a.status == 'offline' or a.status == 'paused' or a.status == 'wrap-up' then
    a.idle = now
    move(a, 'available')
  end
else
  if a.status == 'ringing' then
    local c = load_call(a.call)
    if c and c.state == 'offered' and c.agent == id then
      requeue(c)
      requeued = 1
    end
  end
  released = a.call
  a.call, a.reason = '', ARGV[5]
  move(a, status)
end
save_agent(a)
return {a.status, released, requeued, a.reason, before_status, before_reason}
"""

# KEYS: P:call:{call_sid}. ARGV: prefix, call_sid. Returns the removed caller (see _REMOVE_CALL) or nil.
REMOVE = _BASE + _AGENTS + _CALLERS + _REMOVE_CALL + """
return remove_call(ARGV[2]) or false
"""

# KEYS: P:call:{call_sid}.
# ARGV: prefix, call_sid, now (ms), wrap-up (ms). The call ended (Twilio's final status callback): a waiting or
# offered caller is taken out (see _REMOVE_CALL); a connected one ends its agent's call (see _END_CALL).
# Returns {"removed", sid, practice, score, lang, agent}, {"ended", sid, practice, score, "", agent} or nil.
CALL_GONE = _BASE + _AGENTS + _CALLERS + _REMOVE_CALL + _END_CALL + """
local sid = ARGV[2]
local c = redis.call('HMGET', KEYS[1], 'state', 'agent', 'practice', 'score')
if not c[1] then return false end
if c[1] ~= 'connected' then
  local removed = remove_call(sid)
  if not removed then return false end
  return {'removed', unpack(removed)}
end
if end_call(c[2], sid, tonumber(ARGV[3]), tonumber(ARGV[4])) then return {'ended', sid, c[3], c[4], '', c[2]} end
return false
"""

# KEYS: P:seen. ARGV: prefix, cutoff (ms), limit. Removes at most `limit` callers last seen at or before the cutoff.
# Returns the removed callers (see _REMOVE_CALL).
SWEEP = _BASE + _AGENTS + _CALLERS + _REMOVE_CALL + """
local out = {}
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'LIMIT', 0, ARGV[3])) do
  local removed = remove_call(sid)
  if removed then out[#out + 1] = removed else redis.call('ZREM', KEYS[1], sid) end
end
return out
"""

# KEYS: P:call:{call_sid}, P:seen.
# ARGV: prefix, call_sid, now (ms) or "" (read only). With a time, records the caller's heartbeat.
# Returns {state, rank (-1 unless waiting), agent} or nil.
POSITION = _BASE + """
local sid = ARGV[2]
local c = redis.call('HMGET', KEYS[1], 'state', 'practice', 'agent')
if not c[1] then return false end
if ARGV[3] ~= '' and c[1] ~= 'connected' then redis.call('ZADD', KEYS[2], 'XX', ARGV[3], sid) end
local rank = -1
if c[1] == 'waiting' then rank = redis.call('ZRANK', P .. ':wait:' .. c[2], sid) end
return {c[1], rank, c[3]}
"""

# KEYS: P:offered:{practice}, P:wait:{practice}, P:agents:{practice}, P:agents:all. ARGV: prefix, practice.
# Returns {callers, agents}: callers as flat {sid, state, score, lang, agent} groups,
# offered ones first; agents as flat {id, status, reason, call, practices, langs, idle} groups.
SNAPSHOT = _BASE + """
local callers = {}
local function add_caller(sid)
  local f = redis.call('HMGET', P .. ':call:' .. sid, 'state', 'score', 'lang', 'agent')
  callers[#callers + 1] = sid
  for i = 1, 4 do callers[#callers + 1] = f[i] or '' end
end
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do add_caller(sid) end
for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do add_caller(sid) end
local agents = {}
for _, id in ipairs(redis.call('SUNION', KEYS[3], KEYS[4])) do
  local f = redis.call('HMGET', P .. ':agent:' .. id, 'status', 'reason', 'call', 'practices', 'langs', 'idle')
  if f[1] then
    agents[#agents + 1] = id
    for i = 1, 6 do agents[#agents + 1] = f[i] or '' end
  end
end
return {callers, agents}
"""

# KEYS: P:duty:{practice}, P:duty:all. ARGV: prefix, practice.
# Returns how many agents are on duty for the practice.
ON_DUTY = """
return redis.call('SCARD', KEYS[1]) + redis.call('SCARD', KEYS[2])
"""
