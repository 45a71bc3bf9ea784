"""The live call queue and the agents' state, in Redis: one queue per practice, every operation one script.

Each method is one round trip (an EVALSHA; redis-py loads a script Redis forgot and retries once), and
each script reads and changes the queue and the agents together, so under any interleaving of processes
a caller is connected at most once, an agent holds at most one caller and no caller vanishes. The layout
is described in `queueing.scripts`. Time is always passed in (seconds since the epoch, or an aware
datetime), never read here.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import redis
from redis.exceptions import NoScriptError

from core.redis_scripts import script
from queueing import scripts
from queueing.errors import AlreadyConnected
from queueing.model import (SETTABLE, AgentChange, AgentStatus, AgentView, CallerState, Connected, DeliveryClaim,
                            Match, QueuePosition, QueueSnapshot, Removed, WaitingCaller)

KEY_PREFIX = "{careline:q}"  # a hash tag: every key of the queue hashes to one Redis Cluster slot
CONNECTED_TTL_SECONDS = 6 * 3600  # seconds a connected caller is remembered: longer than any call's retries
SWEEP_REASON = "stale"  # why `sweep` removed a caller: its hold loop stopped touching it
HANGUP_REASON = "hangup"  # why `call_gone` removed a caller
CALL_ENDED_REASON = "call-ended"  # `call_gone` ended the call of a connected caller's agent
# The paths that deliver an offer to its caller (one per offer: scripts.CLAIM_DELIVERY). The first three are
# TwiML of the caller's own webhooks; 'rest' is dispatch's REST redirect to the connect URL.
DELIVERY_WEBHOOK = "webhook"  # the webhook that asked for the dispatch matched its own caller (joining, a turn)
DELIVERY_WAIT_LOOP = "wait-loop"  # a hold turn found its caller offered by a dispatch elsewhere
DELIVERY_REST = "rest"  # dispatch elsewhere redirected the call (claimed before the request is sent)
DELIVERY_PATHS = (DELIVERY_WEBHOOK, DELIVERY_WAIT_LOOP, DELIVERY_REST)
REST_ARRIVED = "rest-arrived"  # the redirect reached the connect URL: it takes the offer, as 'rest'
SWEEP_BATCH = 500  # callers one sweep removes at most, so one script stays short; sweep again for more
NO_LANGUAGE = "*"  # how a caller who chose no language is stored
NO_SKILL = ""  # how a caller who asked for no skill is stored
DEFAULT_SKILL_FALLBACK_SECONDS = 60  # [practices.skills] fallback_seconds when a practice gives none
_LANGUAGE = re.compile(r"[A-Za-z0-9-]+")  # language tags go into keys and comma lists
_SKILL = re.compile(r"[A-Za-z0-9_-]{1,64}")  # skills too: never "+" (a group's separator), ",", ":" or a space
_HASH_TAG = re.compile(r"\{[^{}]+\}")  # "{name}": Redis Cluster hashes only the part inside the braces

Now = float | datetime


def to_ms(now: Now) -> int:
    """`now` (seconds since the epoch, or an aware datetime) in integer milliseconds."""
    seconds = now.timestamp() if isinstance(now, datetime) else now
    return round(seconds * 1000)


class CallQueue:
    """The practices' call queues and the agents who answer them."""

    def __init__(self, client: redis.Redis, prefix: str = KEY_PREFIX):
        if not client.get_encoder().decode_responses:
            raise ValueError("CallQueue needs a Redis client with decode_responses=True")
        if not _HASH_TAG.fullmatch(prefix):
            raise ValueError(f"the queue's key prefix is a Redis hash tag such as {KEY_PREFIX!r}, not {prefix!r}")
        self.redis = client
        self.prefix = prefix

    def _run(self, source: str, keys: tuple[str, ...], *args) -> object:
        # `keys`: the keys the script is known to touch before it runs (at least one, for a cluster's routing);
        # the ones it finds as it runs (the agent a match picks) carry the same hash tag.
        # EVALSHA straight from the registered script's digest: redis-py's Script.__call__ costs a tenth
        # of a local round trip on top. A Redis that forgot the script gets it from Script.__call__.
        registered = script(self.redis, source)
        try:
            return self.redis.evalsha(registered.sha, len(keys), *keys, self.prefix, *args)
        except NoScriptError:
            return registered(keys=keys, args=(self.prefix, *args))

    # Callers

    def enqueue(self, practice_id: int, call_sid: str, *, urgent: bool, language: str | None, now: Now,
                skill: str | None = None) -> int:
        """Add a caller to its practice's queue; its 1-based position (0 while it is being offered).

        A caller who asks for a `skill` goes to an agent with it first (see `match`). A caller already queued
        is left as it is (Twilio retries webhooks); one connected before raises AlreadyConnected.
        """
        practice = int(practice_id)
        position = self._run(scripts.ENQUEUE, (self._key("call", call_sid), self._key("wait", practice),
                                               self._key("langs", practice), self._key("seen")),
                             call_sid, practice, int(bool(urgent)), _language_code(language), to_ms(now),
                             _skill_code(skill))
        if position < 0:
            raise AlreadyConnected(call_sid)
        return position

    def remove(self, call_sid: str, reason: str, now: Now) -> Removed | None:
        """Take a waiting or offered caller out (hang-up, a key, maximum wait); None when it was not there."""
        return _removed(self._run(scripts.REMOVE, (self._key("call", call_sid),), call_sid), reason, to_ms(now))

    def touch(self, call_sid: str, now: Now) -> QueuePosition | None:
        """Record the hold loop's heartbeat for a caller; returns where the caller is, None when gone."""
        return _position(call_sid, self._run(scripts.POSITION, self._position_keys(call_sid), call_sid, to_ms(now)))

    def position(self, call_sid: str) -> QueuePosition | None:
        """Where a caller is in its queue; None when it is not queued, offered or connected."""
        return _position(call_sid, self._run(scripts.POSITION, self._position_keys(call_sid), call_sid, ""))

    def call_gone(self, call_sid: str, now: Now, wrap_up_seconds: float) -> Removed | None:
        """Twilio says the call ended: take it out of the queue, or end its agent's call (wrap-up follows).

        Returns what it did: a Removed with reason "hangup" (its `agent_id` the agent whose ringing offer
        it cancelled), or with reason "call-ended" (its `agent_id` the agent now in wrap-up); None when the
        queue had nothing of the call (it never queued, or this was done already).
        """
        now_ms = to_ms(now)
        row = self._run(scripts.CALL_GONE, (self._key("call", call_sid),), call_sid, now_ms,
                        round(wrap_up_seconds * 1000))
        if row is None:
            return None
        what, *removed = row
        return _removed(removed, HANGUP_REASON if what == "removed" else CALL_ENDED_REASON, now_ms)

    def sweep(self, now: Now, stale_after_seconds: float, limit: int = SWEEP_BATCH) -> list[Removed]:
        """Remove callers not seen for `stale_after_seconds` (their call ended unnoticed); returns them."""
        now_ms = to_ms(now)
        rows = self._run(scripts.SWEEP, (self._key("seen"),), now_ms - round(stale_after_seconds * 1000), int(limit))
        return [_removed(row, SWEEP_REASON, now_ms) for row in rows]

    # Dispatch

    def match(self, practice_id: int, now: Now, language_grace_seconds: float,
              skill_fallback_seconds: float = DEFAULT_SKILL_FALLBACK_SECONDS) -> Match | None:
        """Offer the first caller that has an eligible agent to the longest-idle one; None when none can be.

        A caller who chose a language goes to an agent speaking it; with none available, to any agent once
        the caller has waited `language_grace_seconds`. A caller who asked for a skill goes to an agent with
        it; with none available, to any agent of the practice once it has waited `skill_fallback_seconds`.
        Skill and language together: the skill is kept longer (queueing.scripts explains the tiers).
        """
        now_ms = to_ms(now)
        practice = int(practice_id)
        row = self._run(scripts.MATCH, (self._key("langs", practice), self._key("wait", practice),
                                        self._key("offered", practice)),
                        practice, now_ms, round(language_grace_seconds * 1000), round(skill_fallback_seconds * 1000))
        if row is None:
            return None
        call_sid, agent_id, score, language, skill = row
        arrived_ms, urgent = _arrival(score)
        return Match(call_sid, int(agent_id), int(practice_id), urgent, _language(language),
                     (now_ms - arrived_ms) / 1000, skill or None)

    def offer_answered(self, call_sid: str, agent_id: int, now: Now) -> Connected | None:
        """The agent took the offered caller: connected, out of the queue, the agent busy.

        None when the offer no longer stands (the caller left, the agent was paused); the same answer again
        returns the connection with `repeated` True.
        """
        row = self._run(scripts.OFFER_ANSWERED, (self._key("call", call_sid), self._agent_key(agent_id),
                                                 self._key("seen")),
                        call_sid, int(agent_id), CONNECTED_TTL_SECONDS)
        if row is None:
            return None
        repeated, practice_id, score, delivered_by = row
        return Connected(call_sid, int(agent_id), int(practice_id), (to_ms(now) - _arrival(score)[0]) / 1000,
                         repeated == 1, delivered_by)

    def claim_delivery(self, call_sid: str, agent_id: int, path: str) -> DeliveryClaim | None:
        """Claim the standing offer of `call_sid` to `agent_id` for one delivery path (DELIVERY_PATHS) in one
        step; None when that offer is not standing. See scripts.CLAIM_DELIVERY for who may take it from whom."""
        if path not in DELIVERY_PATHS + (REST_ARRIVED,):
            raise ValueError(f"unknown delivery path {path!r}")
        row = self._run(scripts.CLAIM_DELIVERY, (self._key("call", call_sid),), call_sid, int(agent_id), path)
        return None if row is None else DeliveryClaim(row[0] == 1, row[1])

    def release_delivery(self, call_sid: str, agent_id: int) -> bool:
        """The REST redirect of a claimed offer failed: a hold turn may deliver it now."""
        return self._run(scripts.RELEASE_DELIVERY, (self._key("call", call_sid),), call_sid, int(agent_id)) == 1

    def offer_missed(self, call_sid: str, agent_id: int, now: Now) -> bool:
        """The agent did not answer: the caller goes back to its place, the agent is paused ("missed").

        False when the offer no longer stands. (`now` changes nothing: the caller keeps its arrival time.)
        """
        return self._run(scripts.OFFER_MISSED, (self._key("call", call_sid), self._agent_key(agent_id)),
                         call_sid, int(agent_id)) == 1

    def call_ended(self, call_sid: str, agent_id: int, now: Now, wrap_up_seconds: float) -> bool:
        """The agent's call ended: wrap-up for `wrap_up_seconds`, then available; False if not on that call."""
        return self._run(scripts.CALL_ENDED, (self._agent_key(agent_id),), call_sid, int(agent_id), to_ms(now),
                         round(wrap_up_seconds * 1000)) == 1

    # Agents

    def set_agent(self, agent_id: int, status: AgentStatus | str, now: Now, *, reason: str | None = None,
                  practices: Iterable[int] | Literal["all"] | None = None,
                  languages: Iterable[str] | None = None, skills: Iterable[str] | None = None) -> AgentChange:
        """Register or update an agent and set it offline, available or paused.

        `practices` (ids, or "all"), `languages` and `skills` replace the agent's profile; None keeps it (a
        new agent has none). Available does not interrupt a ringing or busy agent. Offline or paused cancels a ringing
        offer, the caller going back to its place.
        """
        status = AgentStatus(status)
        if status not in SETTABLE:
            raise ValueError(f"an agent is set {', '.join(sorted(SETTABLE))}, not {status}")
        practices_text = "" if practices is None else _practices_text(practices)
        languages_text = "" if languages is None else _languages_text(languages)
        skills_text = "" if skills is None else _skills_text(skills)
        row = self._run(scripts.SET_AGENT, (self._agent_key(agent_id),), int(agent_id), status.value, to_ms(now),
                        reason or "",
                        int(practices is not None), practices_text, int(languages is not None), languages_text,
                        int(skills is not None), skills_text)
        new_status, released, requeued, new_reason, before_status, before_reason = row
        return AgentChange(int(agent_id), AgentStatus(new_status), released or None, requeued == 1, new_reason or None,
                           AgentStatus(before_status), before_reason or None)

    def agent(self, agent_id: int, now: Now | None = None) -> AgentView | None:
        """An agent; given `now`, one whose wrap-up has ended shows as available (one command, HMGET)."""
        raw = self.redis.hmget(self._agent_key(agent_id), *_AGENT_FIELDS)
        return _agent_view_or_none(int(agent_id), raw, now)

    def agents(self, agent_ids: Iterable[int], now: Now | None = None) -> dict[int, AgentView]:
        """Several agents by id, in one round trip (a pipeline of HMGETs); those never registered are left out."""
        ids = [int(agent_id) for agent_id in agent_ids]
        pipe = self.redis.pipeline(transaction=False)
        for agent_id in ids:
            pipe.hmget(self._agent_key(agent_id), *_AGENT_FIELDS)
        views = (_agent_view_or_none(agent_id, raw, now) for agent_id, raw in zip(ids, pipe.execute()))
        return {view.agent_id: view for view in views if view is not None}

    def _agent_key(self, agent_id: int) -> str:
        return self._key("agent", int(agent_id))

    def _key(self, *parts: object) -> str:
        return ":".join((self.prefix, *map(str, parts)))

    def _position_keys(self, call_sid: str) -> tuple[str, str]:
        return self._key("call", call_sid), self._key("seen")

    # Reading

    def snapshot(self, practice_id: int, now: Now) -> QueueSnapshot:
        """The practice's callers (offered first, then waiting in order) and its agents, at one instant.

        An agent whose wrap-up is over by `now` shows as available.
        """
        practice = int(practice_id)
        callers_flat, agents_flat = self._run(scripts.SNAPSHOT, (self._key("offered", practice), self._key(
            "wait", practice), self._key("agents", practice), self._key("agents", "all")), practice)
        offered, waiting = [], []
        for i in range(0, len(callers_flat), 6):
            call_sid, state, score, language, agent, skill = callers_flat[i:i + 6]
            arrived_ms, urgent = _arrival(score)
            caller = WaitingCaller(call_sid, arrived_ms / 1000, urgent, _language(language), CallerState(state),
                                   int(agent) if agent else None, skill or None)
            (offered if caller.state == CallerState.OFFERED else waiting).append((int(score), caller))
        offered.sort(key=lambda pair: pair[0])
        now_ms = to_ms(now)
        agents = [_agent_view(int(agents_flat[i]), *agents_flat[i + 1:i + 8], now_ms=now_ms)
                  for i in range(0, len(agents_flat), 8)]
        return QueueSnapshot(int(practice_id), tuple(caller for _, caller in offered + waiting),
                             tuple(sorted(agents, key=lambda view: view.agent_id)))

    def on_duty(self, practice_id: int) -> int:
        """How many agents are on duty for the practice: available, ringing, busy or in wrap-up."""
        practice = int(practice_id)
        return self._run(scripts.ON_DUTY, (self._key("duty", practice), self._key("duty", "all")), practice)


# The queue's keys before they carried a hash tag ("careline:q:call:CA…"), by the kinds in queueing.scripts.
UNTAGGED_PREFIX = "careline:q"
_KINDS = ("call", "wait", "langs", "offered", "seen", "agent", "avail", "duty", "agents")


def upgrade_keys(client: redis.Redis, old_prefix: str = UNTAGGED_PREFIX, new_prefix: str = KEY_PREFIX) -> int:
    """Rename the queue's keys of an earlier layout (`old_prefix`) to the hash-tagged one; how many were renamed.

    Run at a deploy (the Procfile's release, `make run`), so agents keep their status and callers their places.
    Idempotent: a key already present under the new name is left as it is (RENAMENX), the old one with it.
    Only the queue's own kinds move (not, say, queueing.waits' handle times under the same old prefix).
    """
    renamed = 0
    for kind in _KINDS:
        for old in client.scan_iter(match=f"{old_prefix}:{kind}*", count=1000):
            name = old.decode() if isinstance(old, bytes) else old
            rest = name[len(old_prefix) + 1:]
            if rest == kind or rest.startswith(kind + ":"):
                renamed += bool(client.renamenx(name, f"{new_prefix}:{rest}"))
    return renamed


def _language_code(language: str | None) -> str:
    if not language:
        return NO_LANGUAGE
    if not _LANGUAGE.fullmatch(language):
        raise ValueError(f"not a language tag: {language!r}")
    return language


def _languages_text(languages: Iterable[str]) -> str:
    if isinstance(languages, str):
        raise ValueError(f"languages are a list of tags, not {languages!r}")
    languages = tuple(languages)
    for code in languages:
        if not code or not _LANGUAGE.fullmatch(code):
            raise ValueError(f"not a language tag: {code!r}")
    return ",".join(sorted(set(languages)))


def _skill_code(skill: str | None) -> str:
    if not skill:
        return NO_SKILL
    if not _SKILL.fullmatch(skill):
        raise ValueError(f"not a skill name: {skill!r}")
    return skill


def _skills_text(skills: Iterable[str]) -> str:
    if isinstance(skills, str):
        raise ValueError(f"skills are a list of names, not {skills!r}")
    skills = tuple(skills)
    for name in skills:
        if not name or not _SKILL.fullmatch(name):
            raise ValueError(f"not a skill name: {name!r}")
    return ",".join(sorted(set(skills)))


def _language(code: str) -> str | None:
    return None if code in (NO_LANGUAGE, "") else code


def _practices_text(practices: Iterable[int] | str) -> str:
    if practices == "all":
        return "all"
    if isinstance(practices, str):
        raise ValueError(f'practices are ids or "all", not {practices!r}')
    return ",".join(str(p) for p in sorted({int(p) for p in practices}))


def _arrival(score: str | int) -> tuple[int, bool]:
    """A caller's arrival (ms) and urgency, from its queue score."""
    score = int(score)
    if score >= scripts.NORMAL_SCORE_BASE:
        return score - scripts.NORMAL_SCORE_BASE, False
    return score, True


def _removed(row: list | None, reason: str, now_ms: int) -> Removed | None:
    if row is None:
        return None
    call_sid, practice_id, score, language, agent, skill = row
    arrived_ms, urgent = _arrival(score)
    return Removed(call_sid, int(practice_id), reason, urgent, _language(language), (now_ms - arrived_ms) / 1000,
                   int(agent) if agent else None, skill or None)


def _position(call_sid: str, row: list | None) -> QueuePosition | None:
    if row is None:
        return None
    state, rank, agent = row
    state = CallerState(state)
    if state == CallerState.WAITING:
        return QueuePosition(call_sid, state, rank + 1, rank)
    return QueuePosition(call_sid, state, 0, 0, int(agent) if agent else None)


_AGENT_FIELDS = ("status", "reason", "call", "practices", "langs", "idle", "skills")  # as `_agent_view` takes them


def _agent_view_or_none(agent_id: int, raw: list, now: Now | None) -> AgentView | None:
    if raw[0] is None:
        return None
    return _agent_view(agent_id, *raw, now_ms=None if now is None else to_ms(now))


def _agent_view(agent_id: int, status: str, reason: str, call: str, practices: str, langs: str, idle: str,
                skills: str | None = "", *, now_ms: int | None) -> AgentView:
    status, idle_ms = AgentStatus(status), int(idle or 0)
    if status == AgentStatus.WRAP_UP and now_ms is not None and idle_ms <= now_ms:
        status = AgentStatus.AVAILABLE  # its wrap-up is over; it has been free since (see queueing.scripts)
    return AgentView(
        agent_id, status, reason or None, call or None,
        "all" if practices == "all" else tuple(int(p) for p in practices.split(",") if p),
        tuple(code for code in (langs or "").split(",") if code),
        idle_ms / 1000 if status == AgentStatus.AVAILABLE else None,
        idle_ms / 1000 if status == AgentStatus.WRAP_UP else None,
        tuple(name for name in (skills or "").split(",") if name))
