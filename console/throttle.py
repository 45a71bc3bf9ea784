"""Console sign-in attempts, counted in Redis per account (email) and per client address before each is checked.

Every attempt counts, a password or a second-factor code, right or wrong, and it is counted before it is checked:
parallel guesses all meet the count first, so no more than the limit ever reach the check. One Lua script counts
both at once (one atomic step); the attempt goes on only when both counts are within their limits. A sign-in
that ends well forgets its account's count (a manager signing in several times a day is not locked out), never
its address's (an attacker who knows one password does not buy more guesses at the others).

While Redis cannot count, sign-in is refused (`SignInUnavailable`): a limit that lapses when Redis is away is
one an attacker can wait for. werkzeug's scrypt hash already makes each guess cost tens of milliseconds.

Each count's window is 15 minutes from its first attempt, timed by Careline's clock as every other rule with a
time in it (not by Redis's key expiry: the expiry only clears the key afterwards). The email and the address
are hashed into the keys; both keys carry one hash tag, so the script runs on a Redis Cluster too.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

import redis

from console.errors import SignInUnavailable
from core.clock import Clock

log = logging.getLogger(__name__)

# Hashes of `since` (ms since the epoch, the window's first attempt) and `count`, keyed by a SHA-256 (of the email
# in lower case; of the address); {sign-in} is the hash tag both keys share.
ACCOUNT_KEY_PREFIX = "careline:{sign-in}:account:"
ADDRESS_KEY_PREFIX = "careline:{sign-in}:address:"
WINDOW_SECONDS = 15 * 60  # seconds; each count's window starts at its first attempt
ATTEMPTS_PER_ACCOUNT = 10  # default attempts per email per window (SIGN_IN_ATTEMPTS_PER_ACCOUNT)
ATTEMPTS_PER_ADDRESS = 30  # default attempts per address per window (SIGN_IN_ATTEMPTS_PER_ADDRESS)

# KEYS: the account's hash, the address's hash. ARGV: now (ms), window (ms). Counts one attempt in each (an
# attempt after a window starts a new one) and returns both counts.
_COUNT_ATTEMPT = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local counts = {}
for i, key in ipairs(KEYS) do
  local since = tonumber(redis.call('HGET', key, 'since') or '')
  if since == nil or now >= since + window then
    redis.call('HSET', key, 'since', now, 'count', 1)
    redis.call('PEXPIRE', key, window)
    counts[i] = 1
  else
    counts[i] = redis.call('HINCRBY', key, 'count', 1)
  end
end
return counts
"""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def account_key(email: str) -> str:
    """The Redis key of the attempts on the account `email`."""
    return ACCOUNT_KEY_PREFIX + _digest(email.strip().lower())


def address_key(address: str) -> str:
    """The Redis key of the attempts from the client address `address`."""
    return ADDRESS_KEY_PREFIX + _digest(address)


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Attempt:
    """One counted attempt: the counts it makes (this one included) and whether it may be checked."""

    account_count: int
    address_count: int
    allowed: bool


class SignInThrottle:
    """Counts sign-in attempts; Redis, the clock and the limits are passed in."""

    def __init__(self, redis_client: redis.Redis, clock: Clock, per_account: int = ATTEMPTS_PER_ACCOUNT,
                 per_address: int = ATTEMPTS_PER_ADDRESS):
        self.redis = redis_client
        self.clock = clock
        self.per_account = per_account
        self.per_address = per_address
        self._count = redis_client.register_script(_COUNT_ATTEMPT)

    def attempt(self, email: str, address: str) -> Attempt:
        """Count one attempt on `email` from `address`, before it is checked; it may be checked when both
        counts are within their limits. Raises SignInUnavailable while Redis cannot count (the email is not
        logged)."""
        try:
            account, address_count = self._count(keys=[account_key(email), address_key(address)],
                                                  args=[_ms(self.clock()), WINDOW_SECONDS * 1000])
        except redis.RedisError as exc:
            log.warning("console: sign-in refused: its attempts cannot be counted (%s)", type(exc).__name__)
            raise SignInUnavailable("Sign-in is unavailable right now. Try again in a few minutes.") from exc
        allowed = int(account) <= self.per_account and int(address_count) <= self.per_address
        return Attempt(int(account), int(address_count), allowed)

    def signed_in(self, email: str) -> None:
        """Forget the account's attempts after a sign-in that ended well (the address's stay)."""
        try:
            self.redis.delete(account_key(email))
        except redis.RedisError as exc:
            log.warning("console: sign-in attempts not cleared (%s)", type(exc).__name__)
