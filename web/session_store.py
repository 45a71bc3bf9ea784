"""The console's sessions, kept on the server (Redis): Flask's `session` for every web entry point.

The browser holds only a random session id, signed with SECRET_KEY, in the cookie; the session's record lives in
Redis under `careline:session:{id}`: Flask's session data (who signed in and their password marker, Flask-WTF's
CSRF token), when it began and when its person was last active, by Careline's clock. So the server decides when
a session ends, and ending it there ends it everywhere: a copied cookie stops working with its record.

A signed-in session ends after IDLE_MINUTES without its person's activity and after MAX_HOURS in any case.
Activity is a request the person made: a page, a form, an action at the desk. The page's own background requests
(a dashboard's queue refreshes, the desk's status polls, its event stream, the softphone's token refresh) say so
with the BACKGROUND_HEADER, or are background by their endpoint (the desk's EventSource cannot send a header),
and do not count: a page left open does not keep its session alive. An agent on a call (ringing, talking, in
wrap-up) is at work, though the page may see no click for a long call: while the queue has them on one, their
session does not idle out (`on_a_call`, given by the app from the live queue).

Redis not answering means no session can be checked: the request is treated as signed out (`unavailable`), and
the sign-in page says why. Signing in and out replace the session's id (`ServerSession.clear`): a session id
planted before sign-in is worthless after it, and sign-out deletes the record.
"""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import redis
from flask import Flask, Request, Response
from flask import request as current_request
from flask.sessions import SessionInterface, SessionMixin, session_json_serializer
from itsdangerous import BadSignature, Signer
from werkzeug.datastructures import CallbackDict

log = logging.getLogger(__name__)

SESSION_KEY = "careline:session:{sid}"
IDLE_MINUTES = 15  # minutes without the person's activity after which a signed-in session ends
MAX_HOURS = 12  # hours after sign-in at which a session ends whatever the activity (one working day)
SID_BYTES = 32  # 256 random bits
BACKGROUND_HEADER = "X-Careline-Background"  # "1" on the console's own refreshes (console/static/*.js)
# Requests that are never a person's activity, whatever their headers: the desk's event stream (an EventSource
# cannot set a header), and the console's scripts and styles (fetched with a page, which counts itself).
BACKGROUND_ENDPOINTS = frozenset({"api.my_events", "console.static", "console.twilio_voice_sdk"})
# A session is written back only while its record exists, so a request that outlives a sign-out (or a time-out)
# never brings the record back; and activity alone moves `active_at` alone, so a request that changed nothing
# never writes back the data it read (which a concurrent request may have changed: a new CSRF token).
UPDATE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], unpack(ARGV))
  return 1
end
return 0
"""
SIGNED_OUT_KEY = "_signed_out"  # in a fresh session: why the previous one ended (idle | limit), for the sign-in page


class ServerSession(CallbackDict, SessionMixin):
    """Flask's session, backed by a Redis record. `sid` is None until it is first saved."""

    def __init__(self, initial: dict | None = None, sid: str | None = None, created_at: datetime | None = None,
                 active_at: datetime | None = None, unavailable: bool = False):
        def on_update(self) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.created_at = created_at
        self.active_at = active_at
        self.unavailable = unavailable  # Redis did not answer: no session could be read, none will be written
        self.replaced_sid: str | None = None  # the id (and record) `clear` retired
        self.modified = False
        self.accessed = False

    def clear(self) -> None:
        """Empty the session and retire its id: what is saved next gets a new id and a new start (sign-in,
        sign-out), and the old record is deleted."""
        if self.sid is not None:
            self.replaced_sid = self.sid
        self.sid, self.created_at, self.active_at = None, None, None
        super().clear()
        self.modified = True


class ServerSessionInterface(SessionInterface):
    """Sessions in Redis, on Careline's clock; paths under `skip_prefixes` (Twilio's webhooks) get none."""

    salt = "careline-session"

    def __init__(self, redis_client: redis.Redis, clock: Callable[[], datetime], skip_prefixes: tuple[str, ...] = (),
                 on_a_call: Callable[[int], bool] = lambda agent_id: False):
        self.redis = redis_client
        self.clock = clock
        self.skip_prefixes = skip_prefixes
        self.on_a_call = on_a_call  # whether the agent is on a call now (False when that cannot be read)

    def _signer(self, app: Flask) -> Signer | None:
        return Signer(app.secret_key, salt=self.salt) if app.secret_key else None

    def open_session(self, app: Flask, request: Request) -> ServerSession | None:
        if request.path.startswith(self.skip_prefixes):
            return self.make_null_session(app)
        signer = self._signer(app)
        if signer is None:
            return None  # Flask's null session: the console refuses to run without SECRET_KEY
        cookie = request.cookies.get(self.get_cookie_name(app))
        if not cookie:
            return ServerSession()
        try:
            sid = signer.unsign(cookie).decode("ascii")
        except (BadSignature, UnicodeDecodeError):
            return ServerSession()
        try:
            record = self.redis.hgetall(SESSION_KEY.format(sid=sid))
        except redis.RedisError as exc:
            log.warning("sessions: Redis does not answer (%s): the request is signed out", type(exc).__name__)
            return ServerSession(unavailable=True)
        if not _complete(record):
            return ServerSession()
        data = session_json_serializer.loads(record["data"])
        created_at = datetime.fromisoformat(record["created_at"])
        active_at = datetime.fromisoformat(record["active_at"])
        ended = self._ended(data, created_at, active_at, self.clock())
        if ended is not None:
            self._delete(sid)
            log.info("console: agent %s signed out: session %s", data.get("agent_id"), ended)
            fresh = ServerSession()
            fresh[SIGNED_OUT_KEY] = ended
            return fresh
        return ServerSession(data, sid=sid, created_at=created_at, active_at=active_at)

    def is_open(self, sid: str | None) -> bool:
        """Whether the session `sid` still lets its person in at Careline's clock (for a long request, such as the
        desk's event stream, that outlives its opening); False when Redis does not answer."""
        if sid is None:
            return False
        try:
            record = self.redis.hgetall(SESSION_KEY.format(sid=sid))
        except redis.RedisError:
            return False
        if not _complete(record):
            return False
        return self._ended(session_json_serializer.loads(record["data"]), datetime.fromisoformat(record["created_at"]),
                           datetime.fromisoformat(record["active_at"]), self.clock()) is None

    def _ended(self, data: dict, created_at: datetime, active_at: datetime, now: datetime) -> str | None:
        """Why a session is over at `now` ("idle", "limit"), or None. Only a signed-in session idles out, and not
        while its agent is on a call: the sign-in page's own session (its CSRF token) lasts MAX_HOURS."""
        if now - created_at >= timedelta(hours=MAX_HOURS):
            return "limit"
        if "agent_id" in data and now - active_at >= timedelta(minutes=IDLE_MINUTES) \
                and not self.on_a_call(data["agent_id"]):
            return "idle"
        return None

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession) or session.unavailable:
            return
        name, domain, path = self.get_cookie_name(app), self.get_cookie_domain(app), self.get_cookie_path(app)
        secure, samesite, httponly = (self.get_cookie_secure(app), self.get_cookie_samesite(app),
                                      self.get_cookie_httponly(app))
        if session.accessed:
            response.vary.add("Cookie")
        if session.replaced_sid is not None:
            self._delete(session.replaced_sid)
        if not session:
            if session.modified or session.replaced_sid is not None:
                response.delete_cookie(name, domain=domain, path=path, secure=secure, samesite=samesite,
                                       httponly=httponly)
                response.vary.add("Cookie")
            return
        now = self.clock()
        # The endpoint is known by now, not when the session was opened.
        activity = not is_background(current_request) or ("agent_id" in session and self.on_a_call(session["agent_id"]))
        new = session.sid is None
        if not (new or session.modified or (activity and "agent_id" in session)):
            return  # nothing to write: a background request of a session that did not change
        if new:
            session.sid, session.created_at, session.active_at = secrets.token_urlsafe(SID_BYTES), now, now
        elif activity:
            session.active_at = now
        key = SESSION_KEY.format(sid=session.sid)
        try:
            if new:
                with self.redis.pipeline(transaction=True) as pipe:
                    pipe.hset(key, mapping={"data": session_json_serializer.dumps(dict(session)),
                                            "created_at": session.created_at.isoformat(),
                                            "active_at": session.active_at.isoformat()})
                    # Redis's own expiry only sweeps records nobody comes back for; the times above decide.
                    pipe.expire(key, MAX_HOURS * 3600)
                    pipe.execute()
            elif session.modified:
                self.redis.eval(UPDATE_SCRIPT, 1, key, "data", session_json_serializer.dumps(dict(session)),
                                "active_at", session.active_at.isoformat())
            else:
                self.redis.eval(UPDATE_SCRIPT, 1, key, "active_at", session.active_at.isoformat())
        except redis.RedisError as exc:
            log.warning("sessions: Redis does not answer (%s): the session was not saved", type(exc).__name__)
            return
        if new:
            response.set_cookie(name, self._signer(app).sign(session.sid).decode("ascii"),
                                expires=self.get_expiration_time(app, session), httponly=httponly, domain=domain,
                                path=path, secure=secure, samesite=samesite)
            response.vary.add("Cookie")

    def _delete(self, sid: str) -> None:
        try:
            self.redis.delete(SESSION_KEY.format(sid=sid))
        except redis.RedisError as exc:
            log.warning("sessions: a session record was not deleted (%s)", type(exc).__name__)


def is_background(request: Request) -> bool:
    """Whether `request` is the page's own work rather than its person's (BACKGROUND_HEADER, BACKGROUND_ENDPOINTS)."""
    return request.headers.get(BACKGROUND_HEADER) == "1" or request.endpoint in BACKGROUND_ENDPOINTS


def _complete(record: dict) -> bool:
    """Whether a session's hash holds a whole record (a stray field alone is no session)."""
    return {"data", "created_at", "active_at"} <= set(record)
