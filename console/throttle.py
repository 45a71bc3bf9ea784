"""Failed console sign-ins, counted per email in Redis: past the limit, sign-in refuses for a while.

werkzeug's scrypt hash already makes each guess cost tens of milliseconds; the counter stops a patient
guesser. It is kept per email (not per address: behind a proxy every request has the proxy's address).
"""
from __future__ import annotations

import hashlib
import logging

import redis

log = logging.getLogger(__name__)

FAILURES_KEY = "careline:console:sign-in-failures:{email}"  # a counter; {email} is a SHA-256 of the email
MAX_FAILURES = 10  # failed sign-ins per email within the window before refusing
WINDOW_SECONDS = 15 * 60  # seconds; counted from the first failure of the window


def _key(email: str) -> str:
    return FAILURES_KEY.format(email=hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest())


class SignInThrottle:
    """Counts failed sign-ins; Redis is passed in."""

    def __init__(self, redis_client: redis.Redis):
        self.redis = redis_client

    def refused(self, email: str) -> bool:
        """Whether sign-in for `email` is refused now. With Redis down it is not: the password check
        still stands, and managers can still sign in during an outage."""
        try:
            return int(self.redis.get(_key(email)) or 0) >= MAX_FAILURES
        except redis.RedisError as exc:
            log.warning("console: sign-in throttle unavailable (%s); not limiting", type(exc).__name__)
            return False

    def record_failure(self, email: str, pipeline=None) -> None:
        """Count one failed sign-in for `email`; the window starts at the first failure."""
        key = _key(email)
        try:
            pipe = pipeline if pipeline is not None else self.redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, WINDOW_SECONDS, nx=True)
            if pipeline is None:
                pipe.execute()
        except redis.RedisError as exc:
            log.warning("console: sign-in failure not counted (%s)", type(exc).__name__)

    def clear(self, email: str) -> None:
        """Forget the failures of `email` (after a successful sign-in)."""
        try:
            self.redis.delete(_key(email))
        except redis.RedisError as exc:
            log.warning("console: sign-in failures not cleared (%s)", type(exc).__name__)
