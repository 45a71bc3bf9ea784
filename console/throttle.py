"""Failed console sign-ins, counted per email in Redis: past the limit, sign-in refuses for a while.

werkzeug's scrypt hash already makes each guess cost tens of milliseconds; the counter stops a patient
guesser. It is kept per email (not per address: behind a proxy every request has the proxy's address).
The window is timed by Careline's clock, as every other rule with a time in it, not by Redis's key expiry;
the expiry only clears the key afterwards.
"""
from __future__ import annotations

import hashlib
import logging
from datetime import datetime

import redis

from core.clock import Clock

log = logging.getLogger(__name__)

# A hash: `since` (ms since the epoch, the window's first failure) and `count`; {email} is a SHA-256 of the email.
FAILURES_KEY = "careline:console:sign-in-window:{email}"
MAX_FAILURES = 10  # failed sign-ins per email within the window before refusing
WINDOW_SECONDS = 15 * 60  # seconds; counted from the first failure of the window

# KEYS: the email's hash. ARGV: now (ms), window (ms). A failure after the window starts a new one.
_RECORD_FAILURE = """
local since = tonumber(redis.call('HGET', KEYS[1], 'since') or '')
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
if since == nil or now >= since + window then
  redis.call('HSET', KEYS[1], 'since', now, 'count', 1)
  redis.call('PEXPIRE', KEYS[1], window)
  return 1
end
return redis.call('HINCRBY', KEYS[1], 'count', 1)
"""


def _key(email: str) -> str:
    return FAILURES_KEY.format(email=hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest())


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


class SignInThrottle:
    """Counts failed sign-ins; Redis and the clock are passed in."""

    def __init__(self, redis_client: redis.Redis, clock: Clock):
        self.redis = redis_client
        self.clock = clock
        self._record = redis_client.register_script(_RECORD_FAILURE)

    def refused(self, email: str) -> bool:
        """Whether sign-in for `email` is refused now. With Redis down it is not: the password check
        still stands, and managers can still sign in during an outage."""
        try:
            since, count = self.redis.hmget(_key(email), "since", "count")
        except redis.RedisError as exc:
            log.warning("console: sign-in throttle unavailable (%s); not limiting", type(exc).__name__)
            return False
        if since is None or count is None:
            return False
        return int(count) >= MAX_FAILURES and _ms(self.clock()) < int(since) + WINDOW_SECONDS * 1000

    def record_failure(self, email: str, pipeline=None) -> None:
        """Count one failed sign-in for `email`; the window starts at the first failure."""
        try:
            self._record(keys=[_key(email)], args=[_ms(self.clock()), WINDOW_SECONDS * 1000],
                         client=pipeline if pipeline is not None else self.redis)
        except redis.RedisError as exc:
            log.warning("console: sign-in failure not counted (%s)", type(exc).__name__)

    def clear(self, email: str) -> None:
        """Forget the failures of `email` (after a successful sign-in)."""
        try:
            self.redis.delete(_key(email))
        except redis.RedisError as exc:
            log.warning("console: sign-in failures not cleared (%s)", type(exc).__name__)
