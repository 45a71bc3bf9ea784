"""The call queue's Lua scripts: each operation is one script, so it reads and changes the queue atomically.

Every script gets the keys it can be told before it runs as KEYS (the caller's hash, the practice's
queue, the agent named), and the key prefix as ARGV[1] to build the ones it finds as it runs (the agent a
match picks, the caller at a queue's head). The prefix is a Redis hash tag ("{careline:q}"), so every key
of the queue hashes to one slot: a Redis Cluster can hold them, and a script never touches a key outside
its declared keys' slot. The tag is one for all practices, not one per practice, because an agent may
answer for several practices: the match that rings the agent for one practice takes it out of the others'
available sets in the same atomic step, which a script can only do within one slot. Times are integer
milliseconds passed in by the caller, never Redis's TIME, so tests move time by passing values.

Keys (P is the prefix, "{careline:q}"; p a practice id or "all"; l a language, "*" for a caller who chose none;
s a skill; g a caller's group: its language `l` when it asked for no skill, `l+s` when it asked for skill s):

| Key | Type | Holds |
| --- | --- | --- |
| P:call:{call_sid} | hash | state (waiting/offered/connected), practice, lang, skill ("" for none), score, agent |
| P:wait:{practice} | zset | waiting callers by score: arrival (ms) when urgent, NORMAL + arrival otherwise |
| P:wait:{practice}:{g} | zset | the same callers, one set per group (language, or language and skill), same scores |
| P:langs:{practice} | set | groups that have waiting callers (the match looks at these heads only) |
| P:offered:{practice} | set | callers whose offer is ringing an agent (for the snapshot) |
| P:seen | zset | waiting and offered callers by last heartbeat (ms), for the sweep |
| P:agent:{id} | hash | status, reason, practices ("1,2" or "all"), langs ("en,es"), skills ("a,b"), idle (ms), call |
| P:avail:{p} | zset | available and wrap-up agents of practice p (or of every practice), by idle (ms) |
| P:avail:{p}:{l} | zset | the same, per language the agent speaks |
| P:avail:{p}:+{s} | zset | the same, per skill the agent has (whatever its languages) |
| P:avail:{p}:{l}+{s} | zset | the same, per language and skill the agent has both of |
| P:duty:{p} | set | agents on duty: available, ringing, busy or in wrap-up |
| P:agents:{p} | set | every registered agent of p, whatever its status (for the snapshot) |

An agent's `idle` is when it became free: for an agent in wrap-up, the end of its wrap-up. An agent in
wrap-up sits in the available sets already, scored by that end, and a match takes only agents whose
score is not in the future: so a wrap-up ends by itself, with the idle time counted from its end, and no
operation has to move agents out of wrap-up first. Its hash says wrap-up until something else happens;
readers given a time show it available from then.

Skills and languages (issue 16). A caller who asked for a skill goes to the longest-idle agent with the skill
who speaks its language; the two rules then relax one at a time, the skill last, each once the caller has
waited its own time: the language after the language grace (as for any caller), the skill after the
practice's skill fallback. So the match tries, in order, and takes the first tier that has a free agent:
an agent with the skill and the language (at once); with the skill in any language (after the grace); with
the language but not the skill (after the fallback); anyone of the practice (after both). A caller who
chose no language skips the language's tiers, one who asked for no skill the skill's (as before skills).
Languages are tags without "+" and skills names without "+" or ",", so the keys cannot collide.

An agent answering for every practice sits in the "all" sets once instead of in every practice's, so a
match reads two heads (the practice's and "all"), adding a practice changes nothing, and no match scans
agents (only the snapshot lists them). An agent with L languages and S skills sits in 1 + L + S + L*S sets per
scope; both are a handful, so a match still reads a bounded number of heads: at most four tiers, two heads
each, per group of waiting callers. A connected caller's hash is kept for CONNECTED_TTL_SECONDS
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
  local f = redis.call('HMGET', P .. ':agent:' .. id, 'status', 'practices', 'langs', 'idle', 'call', 'skills')
  if not f[1] then return nil end
  return {id = id, status = f[1], practices = f[2] or '', langs = f[3] or '', idle = f[4] or '0', call = f[5] or '',
          skills = f[6] or '', reason = ''}
end

local function save_agent(a)
  redis.call('HSET', P .. ':agent:' .. a.id, 'status', a.status, 'reason', a.reason, 'practices', a.practices,
             'langs', a.langs, 'skills', a.skills, 'idle', a.idle, 'call', a.call)
end

-- The suffixes of the available sets an agent sits in (see the layout): '', each language, each skill, and
-- each language with each skill.
local function avail_suffixes(a)
  local out = {''}
  local langs, skills = split(a.langs), split(a.skills)
  for _, l in ipairs(langs) do out[#out + 1] = ':' .. l end
  for _, s in ipairs(skills) do
    out[#out + 1] = ':+' .. s
    for _, l in ipairs(langs) do out[#out + 1] = ':' .. l .. '+' .. s end
  end
  return out
end

local function set_available(a, add)
  local suffixes = avail_suffixes(a)
  for _, s in ipairs(scopes(a)) do
    local k = P .. ':avail:' .. s
    for _, suffix in ipairs(suffixes) do
      if add then redis.call('ZADD', k .. suffix, a.idle, a.id) else redis.call('ZREM', k .. suffix, a.id) end
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
  local f = redis.call('HMGET', P .. ':call:' .. sid, 'state', 'practice', 'lang', 'score', 'agent', 'skill')
  if not f[1] then return nil end
  return {sid = sid, state = f[1], practice = f[2], lang = f[3], score = f[4], agent = f[5] or '', skill = f[6] or ''}
end

-- The caller's group: its own waiting set, and a member of P:langs:{practice} while that set holds anyone.
local function group(c)
  if c.skill ~= '' then return c.lang .. '+' .. c.skill end
  return c.lang
end

local function queue(c)
  local k = P .. ':wait:' .. c.practice
  local g = group(c)
  redis.call('ZADD', k, c.score, c.sid)
  redis.call('ZADD', k .. ':' .. g, c.score, c.sid)
  redis.call('SADD', P .. ':langs:' .. c.practice, g)
end

local function unqueue(c)
  local k = P .. ':wait:' .. c.practice
  local g = group(c)
  redis.call('ZREM', k, c.sid)
  k = k .. ':' .. g
  redis.call('ZREM', k, c.sid)
  if redis.call('ZCARD', k) == 0 then redis.call('SREM', P .. ':langs:' .. c.practice, g) end
end

-- An offer ended unanswered: the caller goes back with its own score, so its priority and arrival.
local function requeue(c)
  redis.call('SREM', P .. ':offered:' .. c.practice, c.sid)
  queue(c)
  redis.call('HSET', P .. ':call:' .. c.sid, 'state', 'waiting', 'agent', '', 'delivery', '')
end
"""

# Take a waiting or offered caller out; an agent ringing for it is available again with its old idle
# time (the caller left; the agent did nothing wrong). Returns {sid, practice, score, lang, agent, skill}.
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
  return {sid, c.practice, c.score, c.lang, agent, c.skill}
end
"""

# KEYS: P:call:{call_sid}, P:wait:{practice}, P:langs:{practice}, P:seen.
# ARGV: prefix, call_sid, practice, urgent (1/0), language ("*": none), now (ms), skill ("": none).
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
local skill = ARGV[7]
local g = lang
if skill ~= '' then g = lang .. '+' .. skill end
redis.call('HSET', ck, 'state', 'waiting', 'practice', practice, 'lang', lang, 'skill', skill, 'score', score)
local k = KEYS[2]
redis.call('ZADD', k, score, sid)
redis.call('ZADD', k .. ':' .. g, score, sid)
redis.call('SADD', KEYS[3], g)
redis.call('ZADD', KEYS[4], ARGV[6], sid)
return redis.call('ZRANK', k, sid) + 1
"""

# KEYS: P:langs:{practice}, P:wait:{practice}, P:offered:{practice}.
# ARGV: prefix, practice, now (ms), language grace (ms), skill fallback (ms).
# The candidates come from the head of each group's queue (a language, or a language and a skill). A group's
# tiers of agents (see the docstring) each open after a wait: at once, the grace, the fallback, both. For
# each tier that has a free agent, the group's candidate is its first caller in queue order who waited that
# long: the head, or, for an urgent head still within it, the first non-urgent caller past it (so an urgent
# head does not hide a non-urgent caller of its group who waited longer). A group's caller goes to the most
# preferred tier that found it. The candidate first in queue order wins; it becomes offered and its agent
# ringing. Returns {call_sid, agent, score, language, skill} or nil.
MATCH = _BASE + _AGENTS + """
local practice, now = ARGV[2], tonumber(ARGV[3])
local grace, fallback = tonumber(ARGV[4]), tonumber(ARGV[5])
local groups = redis.call('SMEMBERS', KEYS[1])
if #groups == 0 then return false end

-- The agent free longest. The sets are sorted by `idle`, so when the first has a wrap-up still running
-- (its end, in the future, as score) every other one has too.
local function first_free(key)
  local head = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if head[1] and tonumber(head[2]) <= now then return head[1], tonumber(head[2]) end
end

local found = {}  -- suffix -> agent id, or false: each set pair is read once per match
local function longest_idle(suffix)
  local known = found[suffix]
  if known ~= nil then return known or nil end
  local x, x_idle = first_free(P .. ':avail:' .. practice .. suffix)
  local y, y_idle = first_free(P .. ':avail:all' .. suffix)
  if not x or (y and y_idle < x_idle) then x = y end
  found[suffix] = x or false
  return x
end

if not longest_idle('') then return false end
local wait = KEYS[2]
-- queue order: score, then call_sid as the sorted sets do
local function before(sid, score, other_sid, other_score)
  return score < other_score or (score == other_score and sid < other_sid)
end

local heads = {}
for _, g in ipairs(groups) do
  local head = redis.call('ZRANGE', wait .. ':' .. g, 0, 0, 'WITHSCORES')
  if head[1] then
    local lang, skill = g, ''
    local plus = string.find(g, '+', 1, true)
    if plus then lang, skill = string.sub(g, 1, plus - 1), string.sub(g, plus + 1) end
    heads[#heads + 1] = {sid = head[1], score = tonumber(head[2]), group = g, lang = lang, skill = skill}
  end
end
table.sort(heads, function(x, y) return before(x.sid, x.score, y.sid, y.score) end)

-- The tiers of a group, most preferred first: {suffix of the agents' sets, wait (ms) before it opens}.
local function tiers(head)
  local lang, skill = head.lang, head.skill
  if skill == '' then
    if lang == '*' then return {{'', 0}} end
    return {{':' .. lang, 0}, {'', grace}}
  end
  if lang == '*' then return {{':+' .. skill, 0}, {'', fallback}} end
  return {{':' .. lang .. '+' .. skill, 0}, {':+' .. skill, grace}, {':' .. lang, fallback},
          {'', math.max(grace, fallback)}}
end

-- The group's first caller in queue order who has waited `after` ms: the head, or the first non-urgent one.
local function first_past(head, after)
  if after <= 0 then return head.sid, head.score end
  local cutoff = now - after
  local arrived = head.score
  if arrived >= NORMAL then arrived = arrived - NORMAL end
  if arrived <= cutoff then return head.sid, head.score end
  if head.score >= NORMAL then return nil end  -- non-urgent callers behind it arrived later still
  local n = redis.call('ZRANGEBYSCORE', wait .. ':' .. head.group, NORMAL, NORMAL + cutoff, 'WITHSCORES', 'LIMIT', 0, 1)
  if n[1] then return n[1], tonumber(n[2]) end
end

-- Heads in queue order; a later head can only win over a candidate found so far if it comes before it.
local best, best_score, best_agent, best_head
for _, head in ipairs(heads) do
  if best and not before(head.sid, head.score, best, best_score) then break end
  for _, tier in ipairs(tiers(head)) do
    local agent = longest_idle(tier[1])
    if agent then
      local sid, score = first_past(head, tier[2])
      -- strictly before: at a tie the more preferred tier, tried first, keeps the caller
      if sid and (not best or before(sid, score, best, best_score)) then
        best, best_score, best_agent, best_head = sid, score, agent, head
      end
    end
  end
end
if not best then return false end

local ck = P .. ':call:' .. best
local gk = wait .. ':' .. best_head.group
redis.call('ZREM', wait, best)
redis.call('ZREM', gk, best)
if redis.call('ZCARD', gk) == 0 then redis.call('SREM', KEYS[1], best_head.group) end
redis.call('SADD', KEYS[3], best)
redis.call('HSET', ck, 'state', 'offered', 'agent', best_agent, 'delivery', '')
local profile = redis.call('HMGET', P .. ':agent:' .. best_agent, 'practices', 'langs', 'skills')
set_available({id = best_agent, practices = profile[1], langs = profile[2], skills = profile[3] or ''}, false)
redis.call('HSET', P .. ':agent:' .. best_agent, 'status', 'ringing', 'call', best)
return {best, best_agent, best_score, best_head.lang, best_head.skill}
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
# practices ("all" or "1,2"), languages given (1/0), languages ("en,es"), skills given (1/0), skills
# ("billing,refills"); what is not given is kept.
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
  a = {id = id, status = 'offline', reason = '', practices = '', langs = '', skills = '', idle = '0', call = ''}
end
local practices, langs, skills = a.practices, a.langs, a.skills
if ARGV[6] == '1' then practices = ARGV[7] end
if ARGV[8] == '1' then langs = ARGV[9] end
if ARGV[10] == '1' then skills = ARGV[11] end
if practices ~= a.practices or langs ~= a.langs or skills ~= a.skills then
  index_agent(a, false)
  a.practices, a.langs, a.skills = practices, langs, skills
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
# Returns {"removed", sid, practice, score, lang, agent, skill}, {"ended", sid, practice, score, "", agent, skill}
# or nil.
CALL_GONE = _BASE + _AGENTS + _CALLERS + _REMOVE_CALL + _END_CALL + """
local sid = ARGV[2]
local c = redis.call('HMGET', KEYS[1], 'state', 'agent', 'practice', 'score', 'skill')
if not c[1] then return false end
if c[1] ~= 'connected' then
  local removed = remove_call(sid)
  if not removed then return false end
  return {'removed', unpack(removed)}
end
if end_call(c[2], sid, tonumber(ARGV[3]), tonumber(ARGV[4])) then
  return {'ended', sid, c[3], c[4], '', c[2], c[5] or ''}
end
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
# Returns {callers, agents}: callers as flat {sid, state, score, lang, agent, skill} groups,
# offered ones first; agents as flat {id, status, reason, call, practices, langs, idle, skills} groups.
SNAPSHOT = _BASE + """
local callers = {}
local function add_caller(sid)
  local f = redis.call('HMGET', P .. ':call:' .. sid, 'state', 'score', 'lang', 'agent', 'skill')
  callers[#callers + 1] = sid
  for i = 1, 5 do callers[#callers + 1] = f[i] or '' end
end
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do add_caller(sid) end
for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do add_caller(sid) end
local agents = {}
for _, id in ipairs(redis.call('SUNION', KEYS[3], KEYS[4])) do
  local f = redis.call('HMGET', P .. ':agent:' .. id, 'status', 'reason', 'call', 'practices', 'langs', 'idle',
                      'skills')
  if f[1] then
    agents[#agents + 1] = id
    for i = 1, 7 do agents[#agents + 1] = f[i] or '' end
  end
end
return {callers, agents}
"""

# KEYS: P:duty:{practice}, P:duty:all. ARGV: prefix, practice.
# Returns how many agents are on duty for the practice.
ON_DUTY = """
return redis.call('SCARD', KEYS[1]) + redis.call('SCARD', KEYS[2])
"""
