"""Settings, read once from the environment with typed parsing.

Every setting, its default and its unit is listed in README.md ("Configuration").
Secrets have no built-in value: outside development and tests the app refuses to start
without them (`Config.check`). Careline runs as production unless told otherwise (CARELINE_ENV): a deployment
that forgot the setting gets production's checks, not development's leniency (`make run` writes development).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from core.crypto import DEVELOPMENT_DATA_KEY, DataKeyError, parse_data_keys

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = ROOT / "instance"


class ConfigError(RuntimeError):
    """A setting is missing or malformed."""


# What production refuses to start without (`Config.check`): the secrets and the URL Twilio reaches Careline at.
PRODUCTION_REQUIRED = ("SECRET_KEY", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "PUBLIC_BASE_URL", "CARELINE_DATA_KEY")
# What CARELINE_ALLOW_INSECURE may name: each lifts one of production's refusals (`Config.check`).
INSECURE_ALLOWANCES = ("http", "sqlite", "redis")


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"expected a boolean, got {value!r}")


@dataclass(frozen=True)
class Config:
    """Careline's settings; `from_env` is the only way production builds one."""

    ENV: str = "production"  # development | test | production (CARELINE_ENV)
    DATABASE_URL: str = f"sqlite:///{INSTANCE_DIR / 'careline.db'}"
    REDIS_URL: str = "redis://localhost:6379/0"
    TWILIO_ACCOUNT_SID: str = ""
    TWILIO_AUTH_TOKEN: str = ""
    TWILIO_API_BASE_URL: str = ""  # the tests' REST stand-in; empty = Twilio itself
    PUBLIC_BASE_URL: str = ""  # e.g. https://careline.example.org, as configured in Twilio
    SECRET_KEY: str = ""
    # Patient free text is encrypted at rest with this Fernet key (core/crypto.py): several, comma-separated, while
    # rotating (the first encrypts, all decrypt; `careline keys rotate`). Production refuses to start without it;
    # development and tests fall back to a fixed, public key (core.crypto.DEVELOPMENT_DATA_KEY).
    CARELINE_DATA_KEY: str = ""
    # Development only: accept unsigned webhooks. Logged loudly at start-up.
    TWILIO_SIGNATURE_CHECK_DISABLED: bool = False
    MAX_WEBHOOK_BYTES: int = 64 * 1024  # bytes; Twilio's forms are a few KiB
    PRACTICE_CACHE_SECONDS: float = 30.0  # seconds a practice snapshot is trusted without asking Redis
    CALLLOG_DRAIN_DELAY_SECONDS: float = 1.0  # seconds events gather in Redis before the writer takes a batch
    HOLD_MUSIC_URL: str = ""  # a short hold clip (10-30 s) Twilio plays in the queue; empty: Careline's own
    # Seconds Twilio rings past a Dial's timeout (its <Dial> docs: "a five-second timeout buffer"); each Dial
    # timeout is a ring budget minus this, so the whole ring fits the budget.
    DIAL_RING_OVERHEAD_SECONDS: int = 5
    LOG_LEVEL: str = "INFO"
    # text: one line per record; json: one JSON object per line, with the request id, CallSid and practice
    # (core/logs.py). Redacted alike.
    LOG_FORMAT: str = "text"
    # The desk's softphone: Twilio access tokens are signed with an API key; calls the browser places go to
    # the TwiML app. Empty: the desk works without a softphone (agents with a phone are rung on it).
    TWILIO_API_KEY_SID: str = ""
    TWILIO_API_KEY_SECRET: str = ""
    TWILIO_TWIML_APP_SID: str = ""
    # The reasons an agent picks from when pausing at the desk, comma-separated.
    PAUSE_REASONS: str = "Break,Lunch,Training,Callbacks,Meeting"
    # The morning report's e-mail: smtp://user:pass@host:587 (STARTTLS, required), smtps://...:465 (TLS from the
    # start), smtp://host:25?tls=off (no TLS: a relay on this machine). Empty: reports are shown, never e-mailed.
    SMTP_URL: str = ""
    REPORT_FROM: str = ""  # the reports' From address, e.g. "Careline <reports@answering.example>"
    SMTP_TIMEOUT_SECONDS: float = 30.0  # seconds for the SMTP connection and each of its replies
    # A database that stops answering must fail fast (docs/operations.md): PostgreSQL's connect_timeout, the wait
    # for a free pooled connection, and each statement's limit (PostgreSQL statement_timeout; SQLite's busy
    # timeout, the wait for another connection's lock). 0 turns the statement limit off (e.g. behind PgBouncer).
    DATABASE_CONNECT_TIMEOUT_SECONDS: float = 2.0
    DATABASE_POOL_TIMEOUT_SECONDS: float = 2.0
    DATABASE_STATEMENT_TIMEOUT_SECONDS: float = 3.0
    # What a Redis that would lose data on a restart does at start-up (core/redis_durability.py):
    # warn | refuse | off; empty: refuse in production, warn elsewhere.
    REDIS_DURABILITY_CHECK: str = ""
    # Seconds between two reconciliations of Twilio's recordings with Careline's messages (voicemail/reconcile.py):
    # a recording whose message Careline lost (Redis and the database both failed) becomes one within this.
    RECORDINGS_RECONCILE_SECONDS: int = 300
    # A page's SMS carries a link, not the message (paging/links.py): it opens for this many hours, locks after
    # this many wrong PINs, and the message stays open this many minutes after the right PIN.
    PAGE_LINK_HOURS: int = 24
    PAGE_LINK_PIN_TRIES: int = 5
    PAGE_LINK_VIEW_MINUTES: int = 15
    # The worker and the cron wait for a Redis that does not answer, retrying 1 s, 2 s, 4 s... at most this many
    # seconds apart (core/redis_reconnect.py). GET /status answers 503 past these limits (careline/health.py):
    REDIS_RECONNECT_MAX_SECONDS: float = 15.0
    STATUS_HEARTBEAT_LIMIT_SECONDS: float = 60.0  # seconds since the worker's, or the cron's, last heartbeat
    STATUS_CALLLOG_LAG_LIMIT_SECONDS: float = 60.0  # the age of the call log's oldest unwritten event
    STATUS_DEAD_LETTERS_LIMIT: int = 0  # dead letters of the call log tolerated
    # The bearer token Prometheus sends to GET /metrics (careline/prometheus.py); empty: /metrics answers 404.
    METRICS_TOKEN: str = ""
    # Console sign-in attempts (a password or a second-factor code) counted in Redis before each is checked, within
    # a 15-minute window (console/throttle.py): past either limit the attempt is refused, checked or not.
    SIGN_IN_ATTEMPTS_PER_ACCOUNT: int = 10  # attempts per email per window
    SIGN_IN_ATTEMPTS_PER_ADDRESS: int = 30  # attempts per client address per window (an office behind one NAT: raise)
    # How many proxies in front of gunicorn append the client's address to X-Forwarded-For (werkzeug's ProxyFix,
    # x_for). 0: the connection's own address is the client's (an X-Forwarded-For header is ignored).
    TRUSTED_PROXIES: int = 0
    # Production refuses patient data over plain transports (`Config.check`): an http PUBLIC_BASE_URL, a SQLite
    # database (one unencrypted file on one host, no backups of its own) and a Redis without TLS (redis://). Each
    # is allowed by name, comma-separated: INSECURE_ALLOWANCES, e.g. "redis" for a Redis on a private network.
    CARELINE_ALLOW_INSECURE: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def pause_reasons(self) -> list[str]:
        """PAUSE_REASONS as a list, blanks dropped."""
        return [reason.strip() for reason in self.PAUSE_REASONS.split(",") if reason.strip()]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Config":
        """Build the settings from environment variables, then apply `overrides`."""
        env = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            if f.name == "extra" or f.name not in env:
                continue
            raw = env[f.name]
            if f.type in ("bool", bool):
                values[f.name] = _bool(raw)
            elif f.type in ("int", int):
                values[f.name] = int(raw)
            elif f.type in ("float", float):
                values[f.name] = float(raw)
            else:
                values[f.name] = raw
        if "CARELINE_ENV" in env:
            values["ENV"] = env["CARELINE_ENV"]
        values.update(overrides)
        return cls(**values)

    @property
    def data_keys(self) -> list[str]:
        """CARELINE_DATA_KEY's keys, the one that encrypts first; outside production without it, the fixed
        development key. ConfigError names a malformed key by its position."""
        if not self.CARELINE_DATA_KEY.strip():
            if self.ENV == "production":
                raise ConfigError("production needs these settings: CARELINE_DATA_KEY")
            return [DEVELOPMENT_DATA_KEY]
        try:
            return parse_data_keys(self.CARELINE_DATA_KEY)
        except DataKeyError as exc:
            raise ConfigError(str(exc)) from exc

    @property
    def insecure_allowed(self) -> frozenset[str]:
        """CARELINE_ALLOW_INSECURE as a set of names (INSECURE_ALLOWANCES)."""
        return frozenset(name.strip().lower() for name in self.CARELINE_ALLOW_INSECURE.split(",") if name.strip())

    def check(self) -> None:
        """Refuse to run in production without secrets, with the signature check off, or with patient data on
        a plain transport that CARELINE_ALLOW_INSECURE does not name."""
        if self.LOG_FORMAT not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT must be text or json, not {self.LOG_FORMAT!r}")
        if self.REDIS_DURABILITY_CHECK not in ("", "warn", "refuse", "off"):
            raise ConfigError("REDIS_DURABILITY_CHECK must be warn, refuse or off, "
                              f"not {self.REDIS_DURABILITY_CHECK!r}")
        unknown = sorted(self.insecure_allowed - set(INSECURE_ALLOWANCES))
        if unknown:
            raise ConfigError(f"CARELINE_ALLOW_INSECURE names {', '.join(unknown)}: it takes "
                              f"{', '.join(INSECURE_ALLOWANCES)}, comma-separated")
        if self.CARELINE_DATA_KEY.strip():
            self.data_keys  # noqa: B018 - a malformed key stops the start, not the first message saved
        if self.ENV != "production":
            return
        missing = self.missing_for_production()
        if missing:
            raise ConfigError(f"production needs these settings: {', '.join(missing)}")
        if self.TWILIO_SIGNATURE_CHECK_DISABLED:
            raise ConfigError("TWILIO_SIGNATURE_CHECK_DISABLED is for development only")
        refused = self.insecure_transports()
        if refused:
            raise ConfigError("production refuses " + "; ".join(refused) + " (CARELINE_ENV=production; README, "
                              "\"Configuration\")")

    def missing_for_production(self) -> list[str]:
        """The settings production needs (PRODUCTION_REQUIRED) that are empty."""
        return [name for name in PRODUCTION_REQUIRED if not getattr(self, name)]

    def insecure_transports(self) -> list[str]:
        """What production refuses that CARELINE_ALLOW_INSECURE does not allow, one phrase per setting."""
        allowed = self.insecure_allowed
        refused = []
        if self.PUBLIC_BASE_URL.lower().startswith("http://") and "http" not in allowed:
            refused.append("PUBLIC_BASE_URL over http (use https://, or CARELINE_ALLOW_INSECURE=http)")
        if self.DATABASE_URL.lower().startswith("sqlite") and "sqlite" not in allowed:
            refused.append("a SQLite DATABASE_URL (use PostgreSQL, or CARELINE_ALLOW_INSECURE=sqlite)")
        # unix:// is a socket on this host: nothing crosses a network. Any other scheme but rediss:// is plain TCP.
        if not self.REDIS_URL.lower().startswith(("rediss://", "unix://")) and "redis" not in allowed:
            refused.append("REDIS_URL without TLS (use rediss://, or CARELINE_ALLOW_INSECURE=redis)")
        return refused

    @property
    def database_url(self) -> str:
        """DATABASE_URL with the driver Careline uses (psycopg 3 for PostgreSQL)."""
        url = self.DATABASE_URL
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url
