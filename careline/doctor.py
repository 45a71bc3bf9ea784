"""`careline doctor`: is this deployment set up to answer calls? Each check reads the settings of this process's
environment and asks the service it names, then says ok, warn or FAIL, with the fix.

What it checks, in order (a check that cannot run without an earlier one says so):
- settings: production's refusals (core/config.py `Config.check`: the secrets, the signature check, plain
  transports), each named with its setting;
- the database: it answers, and its schema is at Alembic's head (`careline db upgrade`);
- Redis: it answers, and keeps what it is given (core/redis_durability.py);
- Twilio: the account's credentials, with a read-only request (the Account resource);
- PUBLIC_BASE_URL: Careline answers there (`GET /status`), and refuses a webhook Twilio did not sign (an unsigned
  POST to the Voice URL must get 403: nothing is written, a 403 comes before the form is read);
- each practice number: it is the account's, and its Voice URL, Fallback URL, status callback and Messaging URL
  are Careline's (Twilio's IncomingPhoneNumbers list), with the methods Careline's routes take (POST).

Nothing is changed anywhere: a fix is for the operator to make.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import redis
import requests
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client as TwilioClient

from careline.app import STATUS_PATH
from core.config import PRODUCTION_REQUIRED, Config, ConfigError
from core.db import make_engine
from core.links import Links
from core.migrate import alembic_config
from core.redis_durability import REQUIRED as REDIS_REQUIRED
from core.redis_durability import durability_mode, durability_problems
from core.twilio_rest import make_twilio_client
from models import Practice
from webhooks.sms import bp as sms_bp
from webhooks.voice import bp as voice_bp

OK, WARN, FAIL = "ok", "warn", "FAIL"
HTTP_TIMEOUT_SECONDS = 5.0  # each request to PUBLIC_BASE_URL; Twilio itself gives a webhook 15 s
REDIS_TIMEOUT_SECONDS = 2.0
REDIS_SETTINGS = ", ".join(f"{name} {allowed[0]}" for name, allowed in REDIS_REQUIRED.items())
TWILIO_CONSOLE_NUMBERS = "Twilio's console, Phone Numbers > Manage > Active numbers"


@dataclasses.dataclass(frozen=True)
class Finding:
    """One check's verdict: `level` ok, warn or FAIL; `fix` what to do about a warn or a FAIL."""

    check: str
    level: str
    what: str
    fix: str = ""

    def line(self) -> str:
        """The finding as `careline doctor` prints it."""
        fix = f" (fix: {self.fix})" if self.fix and self.level != OK else ""
        return f"{self.level:<4}  {self.check}: {self.what}{fix}"


@dataclasses.dataclass(frozen=True)
class ExpectedWebhooks:
    """A practice number's settings at Twilio as Careline's routes take them (README, "Twilio number setting")."""

    voice_url: str
    voice_fallback_url: str
    status_callback: str
    sms_url: str
    method: str = "POST"

    @classmethod
    def on(cls, public_base_url: str) -> "ExpectedWebhooks":
        """The URLs of Careline's webhooks under `public_base_url`, built from the webhooks' own routes."""
        app = Flask(__name__)  # the webhooks' routes only: the settings may be too broken for create_app
        app.register_blueprint(voice_bp)
        app.register_blueprint(sms_bp)
        links = Links(public_base_url)
        links.bind(app.url_map)
        return cls(voice_url=links.url("voice.incoming"), voice_fallback_url=links.url("voice.fallback"),
                   status_callback=links.url("voice.status"), sms_url=links.url("sms.incoming"))


class Doctor:
    """Runs the checks of one deployment (its `config`), each yielding Findings."""

    def __init__(self, config: Config, http: requests.Session | None = None,
                 twilio_factory: Callable[[Config], TwilioClient] | None = None):
        self.config = config
        self.http = http or requests.Session()
        self._twilio_factory = twilio_factory or (lambda c: make_twilio_client(
            c.TWILIO_ACCOUNT_SID, c.TWILIO_AUTH_TOKEN, c.TWILIO_API_BASE_URL))
        self._engine: Engine | None = None
        self._database_ready = False
        self._twilio_ready = False
        self._reachable = False

    def run(self) -> list[Finding]:
        """Every check, in order."""
        findings: list[Finding] = []
        for check in (self.settings, self.database, self.redis, self.twilio_account, self.public_url,
                      self.signature_check, self.numbers):
            findings.extend(check())
        if self._engine is not None:
            self._engine.dispose()
        return findings

    # -- settings ----------------------------------------------------------------------------------------

    def settings(self) -> Iterator[Finding]:
        """Production's refusals, one finding per setting; outside production they are warnings."""
        config = self.config
        production = config.ENV == "production"
        level = FAIL if production else WARN
        found = False
        if not production:
            found = True
            yield Finding("settings", WARN, f"CARELINE_ENV is {config.ENV}: production's refusals do not apply",
                          "set CARELINE_ENV=production on a deployment that answers patients")
        for name in config.missing_for_production():
            found = True
            yield Finding("settings", level, f"{name} is not set",
                          f"set {name} in the environment of web, worker and cron; .env.example lists it")
        if config.TWILIO_SIGNATURE_CHECK_DISABLED:
            found = True
            yield Finding("settings", level, "TWILIO_SIGNATURE_CHECK_DISABLED is on: unsigned webhooks are accepted",
                          "remove TWILIO_SIGNATURE_CHECK_DISABLED: it is for development only")
        for refusal in config.insecure_transports():
            found = True
            yield Finding("settings", level, f"production refuses {refusal.split(' (')[0]}",
                          refusal.split(" (", 1)[1].rstrip(")") if " (" in refusal else "")
        try:
            dataclasses.replace(config, ENV="development").check()  # what every environment refuses
            if not found:
                config.check()  # a refusal of production's that the findings above did not name
        except ConfigError as exc:
            found = True
            yield Finding("settings", FAIL, str(exc), "correct that setting (README, \"Configuration\")")
        if not found:
            yield Finding("settings", OK, "production's checks pass (" + ", ".join(PRODUCTION_REQUIRED) + " set)")

    # -- the database ------------------------------------------------------------------------------------

    def database(self) -> Iterator[Finding]:
        """The database answers, and its schema is at Alembic's head."""
        url = self.config.database_url
        if url.startswith("sqlite"):
            path = make_url(url).database
            if path and path != ":memory:" and not Path(path).exists():
                yield Finding("database", FAIL, f"the SQLite file {path} does not exist",
                              "run `careline db upgrade` (the Procfile's release runs it) or correct DATABASE_URL")
                return
        try:
            self._engine = make_engine(url, connect_timeout=self.config.DATABASE_CONNECT_TIMEOUT_SECONDS,
                                       pool_timeout=self.config.DATABASE_POOL_TIMEOUT_SECONDS,
                                       statement_timeout=self.config.DATABASE_STATEMENT_TIMEOUT_SECONDS)
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                current = set(MigrationContext.configure(conn).get_current_heads())
        except SQLAlchemyError as exc:
            yield Finding("database", FAIL, f"does not answer ({type(exc).__name__})",
                          "check DATABASE_URL, that the server is up and reachable from here, and its credentials")
            return
        heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
        if current == heads:
            self._database_ready = True
            yield Finding("database", OK, f"answers; schema at head ({', '.join(sorted(heads))})")
            return
        at = ", ".join(sorted(current)) or "no migration"
        yield Finding("database", FAIL, f"schema at {at}, Careline's head is {', '.join(sorted(heads))}",
                      "run `careline db upgrade` (the Procfile's release) with this DATABASE_URL")

    # -- Redis -------------------------------------------------------------------------------------------

    def redis(self) -> Iterator[Finding]:
        """Redis answers, and keeps call state and the call log through a restart (core/redis_durability.py)."""
        client = redis.Redis.from_url(self.config.REDIS_URL, socket_timeout=REDIS_TIMEOUT_SECONDS,
                                      socket_connect_timeout=REDIS_TIMEOUT_SECONDS, decode_responses=True)
        try:
            try:
                client.ping()
            except redis.RedisError as exc:
                yield Finding("redis", FAIL, f"does not answer ({type(exc).__name__})",
                              "check REDIS_URL (rediss:// for TLS), that Redis is up and reachable from here")
                return
            mode = durability_mode(self.config)
            if mode == "off":
                yield Finding("redis", WARN, "answers; durability not checked (REDIS_DURABILITY_CHECK=off)",
                              f"make sure Redis has {REDIS_SETTINGS} (docs/operations.md)")
                return
            try:
                problems = durability_problems(client)
            except redis.ResponseError:
                yield Finding("redis", WARN, "answers; refuses CONFIG GET, so its durability cannot be checked",
                              f"make sure the provider sets {REDIS_SETTINGS} (docs/operations.md)")
                return
            except redis.RedisError as exc:
                yield Finding("redis", FAIL, f"stopped answering ({type(exc).__name__})", "check Redis")
                return
        finally:
            client.close()
        if not problems:
            yield Finding("redis", OK, f"answers; durable ({REDIS_SETTINGS})")
            return
        yield Finding("redis", FAIL if mode == "refuse" else WARN,
                      "not durable: " + "; ".join(problems) + "; a restart or a full Redis loses call state and "
                      "untaken messages",
                      f"set {REDIS_SETTINGS} in redis.conf or the provider's settings, docs/operations.md")

    # -- Twilio ------------------------------------------------------------------------------------------

    def twilio_account(self) -> Iterator[Finding]:
        """The account's credentials work: fetching the Account resource reads nothing else and changes nothing."""
        sid, token = self.config.TWILIO_ACCOUNT_SID, self.config.TWILIO_AUTH_TOKEN
        if not sid or not token:
            yield Finding("twilio", FAIL, "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are needed to ask Twilio",
                          "set both from Twilio's console, Account Info")
            return
        try:
            account = self._twilio().api.v2010.accounts(sid).fetch()
        except TwilioRestException as exc:
            if exc.status in (401, 403):
                yield Finding("twilio", FAIL, f"Twilio refuses TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN ({exc.status}, "
                              f"error {exc.code})", "copy the account SID and auth token from Twilio's console "
                              "(Account Info); a token rotated there must be changed here too")
            else:
                yield Finding("twilio", FAIL, f"Twilio answers {exc.status} (error {exc.code}) for the account",
                              "check TWILIO_ACCOUNT_SID (AC...) and Twilio's status page")
            return
        except (TwilioException, requests.RequestException) as exc:
            yield Finding("twilio", FAIL, f"Twilio's REST API does not answer ({type(exc).__name__})",
                          "check this host's access to api.twilio.com (TWILIO_API_BASE_URL, if set)")
            return
        if account.status != "active":
            yield Finding("twilio", FAIL, f"the account is {account.status}", "see Twilio's console (Billing, "
                          "Account); calls are not answered by a suspended or closed account")
            return
        self._twilio_ready = True
        yield Finding("twilio", OK, f"credentials accepted; account {sid} is active")

    def _twilio(self) -> TwilioClient:
        return self._twilio_factory(self.config)

    # -- PUBLIC_BASE_URL ---------------------------------------------------------------------------------

    def public_url(self) -> Iterator[Finding]:
        """Careline answers GET /status at PUBLIC_BASE_URL, as Twilio will find it."""
        base = self.config.PUBLIC_BASE_URL.rstrip("/")
        if not base:
            yield Finding("public-url", FAIL, "PUBLIC_BASE_URL is not set: Twilio's webhooks have no address",
                          "set PUBLIC_BASE_URL to the https:// address Twilio reaches Careline at")
            return
        url = base + STATUS_PATH
        try:
            answer = self.http.get(url, timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=False)
        except requests.RequestException as exc:
            yield Finding("public-url", FAIL, f"{url} does not answer ({type(exc).__name__})",
                          "check DNS, TLS and the proxy in front of gunicorn, and that the web process runs")
            return
        body = _json_or_none(answer)
        if answer.status_code not in (200, 503) or not isinstance(body, dict) or "checks" not in body:
            yield Finding("public-url", FAIL, f"{url} answers {answer.status_code}, not Careline's status",
                          "PUBLIC_BASE_URL must be the address that reaches this Careline (no redirect)")
            return
        self._reachable = True
        if answer.status_code == 503:
            degraded = ", ".join(f"{name}: {value}" for name, value in body["checks"].items() if value != "ok")
            yield Finding("public-url", WARN, f"{url} answers, degraded ({degraded})",
                          "start what is down (the Procfile's worker and cron; docs/operations.md, \"Processes\")")
            return
        yield Finding("public-url", OK, f"{url} answers: {body.get('status', 'ok')}")

    def signature_check(self) -> Iterator[Finding]:
        """An unsigned POST to the Voice URL is refused (403) before anything is read or written."""
        if not self._reachable:
            yield Finding("signatures", WARN, "not checked: PUBLIC_BASE_URL does not answer as Careline",
                          "fix public-url first")
            return
        url = ExpectedWebhooks.on(self.config.PUBLIC_BASE_URL).voice_url
        try:
            answer = self.http.post(url, data={}, timeout=HTTP_TIMEOUT_SECONDS, allow_redirects=False)
        except requests.RequestException as exc:
            yield Finding("signatures", FAIL, f"{url} does not answer ({type(exc).__name__})",
                          "check the proxy's routes to Careline's /voice/")
            return
        if answer.status_code == 403:
            yield Finding("signatures", OK, f"an unsigned request to {url} is refused (403)")
        elif answer.status_code == 400:
            yield Finding("signatures", FAIL, f"{url} accepts unsigned requests (it answered 400 for a missing "
                          "parameter, not 403): anyone can play Twilio",
                          "remove TWILIO_SIGNATURE_CHECK_DISABLED from the web process's environment")
        else:
            yield Finding("signatures", FAIL, f"an unsigned request to {url} got {answer.status_code}, not 403",
                          "PUBLIC_BASE_URL/voice/incoming must reach Careline's web process")

    # -- the practices' numbers at Twilio ----------------------------------------------------------------

    def numbers(self) -> Iterator[Finding]:
        """Each practice number is the account's and sends its calls, statuses and texts to Careline."""
        if not (self._database_ready and self._twilio_ready and self.config.PUBLIC_BASE_URL):
            yield Finding("numbers", WARN, "not checked: needs the database, Twilio and PUBLIC_BASE_URL",
                          "fix the checks above first")
            return
        with Session(self._engine) as session:
            practices = session.scalars(select(Practice).options(selectinload(Practice.numbers))
                                        .order_by(Practice.slug)).all()
            wanted = [(p.slug, n.e164) for p in practices for n in p.numbers]
        if not wanted:
            yield Finding("numbers", WARN, "no practice has a number", "load the practices: `careline config load "
                          "FILE`")
            return
        expected = ExpectedWebhooks.on(self.config.PUBLIC_BASE_URL)
        client = self._twilio()
        for slug, number in wanted:
            yield from self._number(client, expected, slug, number)

    def _number(self, client: TwilioClient, expected: ExpectedWebhooks, slug: str, number: str) -> Iterator[Finding]:
        name = f"number {number} ({slug})"
        try:
            # PhoneNumber matches any part of a number: keep the exact one.
            found = [n for n in client.incoming_phone_numbers.list(phone_number=number) if n.phone_number == number]
        except (TwilioException, requests.RequestException) as exc:
            yield Finding(name, FAIL, f"Twilio's IncomingPhoneNumbers list failed ({type(exc).__name__})",
                          "run `careline doctor` again; check Twilio's status page")
            return
        if not found:
            yield Finding(name, FAIL, f"not a number of Twilio account {self.config.TWILIO_ACCOUNT_SID}",
                          "buy or port it into this account (or move it from a subaccount), or take it out of the "
                          "practice's numbers in the configuration file")
            return
        resource = found[0]
        wrong = []
        if resource.voice_application_sid:
            wrong.append(f"calls go to TwiML app {resource.voice_application_sid}, not to a Voice URL")
        if resource.trunk_sid:
            wrong.append(f"calls go to SIP trunk {resource.trunk_sid}")
        for label, field, want in (("Voice URL", "voice_url", expected.voice_url),
                                   ("status callback", "status_callback", expected.status_callback),
                                   ("Messaging URL (a message comes in)", "sms_url", expected.sms_url)):
            have = getattr(resource, field) or ""
            if have != want:
                wrong.append(f"{label} is {have or '(empty)'}, not {want}")
        for label, field in (("Voice URL", "voice_method"), ("status callback", "status_callback_method"),
                             ("Messaging URL", "sms_method")):
            have = (getattr(resource, field) or "").upper()
            if have != expected.method:
                wrong.append(f"{label} method is {have or '(empty)'}, not {expected.method}")
        if wrong:
            yield Finding(name, FAIL, "; ".join(wrong), f"in {TWILIO_CONSOLE_NUMBERS} > {number}, set: A call comes "
                          f"in: Webhook {expected.voice_url} HTTP POST; Primary handler fails: "
                          f"{expected.voice_fallback_url} HTTP POST; Call status changes: {expected.status_callback} "
                          f"HTTP POST; A message comes in: Webhook {expected.sms_url} HTTP POST")
            return
        fallback = resource.voice_fallback_url or ""
        if fallback != expected.voice_fallback_url:
            yield Finding(name, WARN, f"Fallback URL is {fallback or '(empty)'}, not {expected.voice_fallback_url}: a "
                          "failing answer plays Twilio's application error instead of taking a message",
                          f"in {TWILIO_CONSOLE_NUMBERS} > {number}, set Primary handler fails: "
                          f"{expected.voice_fallback_url} HTTP POST")
            return
        yield Finding(name, OK, "calls, statuses and texts go to Careline")


def _json_or_none(answer: requests.Response):
    try:
        return answer.json()
    except ValueError:
        return None


def failed(findings: list[Finding]) -> bool:
    """True when any finding is a FAIL (`careline doctor` exits 1)."""
    return any(finding.level == FAIL for finding in findings)
