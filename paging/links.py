"""The link a page's SMS carries instead of the message: an unguessable token on PUBLIC_BASE_URL (/p/TOKEN) that
shows the message once the provider types their PIN.

- The token (192 random bits) is stored as its SHA-256 only (`PageLink.token_hash`), as API tokens are.
- A link opens for PAGE_LINK_HOURS after its SMS was rendered, by Careline's clock.
- Wrong PINs are counted in the link's row before the PIN is checked: one conditional UPDATE takes a try while
  fewer than PAGE_LINK_PIN_TRIES were used, so no number of requests at once gets more guesses; a right PIN
  gives its try back, a wrong one past the limit locks the link for good.
- The right PIN gives a view grant: a random secret in a cookie scoped to the link's path, its SHA-256 in
  Redis with the link's id and its end (PAGE_LINK_VIEW_MINUTES, by Careline's clock; never past the link's).
- Every view, play, acknowledgement, wrong PIN, lock and refused attempt is told to `record` (a
  `PageLinkEvent`: who by phone label, what by ids, when, from where), never with the message's content.
- Locks: a transaction that writes the link's row takes the row before the audit chain's head (an append holds
  the head until commit). On PostgreSQL a try's UPDATE that waited for another's re-checks its condition with the
  row locked and keeps the lock when the condition no longer holds; its refusal then appends. A transaction that
  took the head first and wanted the row second deadlocked with it (9 wrong PINs at once, under load).
"""
from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.security import check_password_hash, generate_password_hash

from audit.actors import Actor
from audit.trail import AuditTrail
from core.db import database_errors_as_dependency_down, session_scope
from core.errors import redis_errors_as_dependency_down
from core.phone import is_e164
from core.upsert import insert_ignoring_duplicates
from models import Message, OnCallPage, OnCallPin, OnCallProvider, PageLink, Practice
from paging.errors import NoPinSet, PageLinkExpired, PageLinkLocked, PageLinkNotFound, PinRejected, WrongPin
from paging.escalation import acknowledge
from practices.snapshot import DEFAULT_MESSAGE_FIELDS

log = logging.getLogger(__name__)

TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")  # secrets.token_urlsafe(24): 24 random bytes, 32 characters
PIN = re.compile(r"[0-9]{6,12}")
GRANT_KEY = "careline:page-link:grant:{grant_hash}"


def hash_secret(secret: str) -> str:
    """The SHA-256 (hex) a token or grant is kept as: 192 random bits need no slow hash (see models.token)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Client:
    """Where a request came from, for the audit."""

    address: str
    user_agent: str


@dataclass(frozen=True)
class PageLinkEvent:
    """One audited thing done with a link: `kind` is view, play, acknowledge, wrong-pin, locked or refused
    (`reason`: expired, locked, no-pin). `target` is who the link was sent to ("provider:ID")."""

    kind: str
    link_id: int
    page_id: int
    message_id: int | None
    practice_id: int
    target: str
    at: datetime
    address: str
    user_agent: str
    reason: str | None = None


# Told every PageLinkEvent, in the transaction that did the thing when there is one (None for a refusal).
RecordEvent = Callable[[Session | None, PageLinkEvent], None]


def link_actor(link_id: int, client: Client) -> Actor:
    """Who acts through a link, as the audit trail records them: no agent (a provider has none), the link's
    PIN-opened session as the way in."""
    return Actor(agent_id=None, via="session", via_ref=f"page-link:{link_id}", address=client.address,
                 user_agent=client.user_agent)


@dataclass(frozen=True)
class RecordingAccess:
    """A link's message whose recording its grant may play, and who plays it."""

    message_id: int
    practice_id: int
    actor: Actor


class PageLinkAudit:
    """Writes a link's events to the audit trail: action "page-link.KIND", the message as subject, the link as
    the way in (no agent: the provider is known by the link, `details.target`), never the message's content."""

    def __init__(self, trail: AuditTrail):
        self._trail = trail

    def __call__(self, session: Session | None, event: PageLinkEvent) -> None:
        actor = link_actor(event.link_id, Client(event.address, event.user_agent))
        details = {"page_id": event.page_id, "link_id": event.link_id, "target": event.target}
        if event.reason:
            details["reason"] = event.reason
        subject = ("message", event.message_id) if event.message_id is not None else ("page", event.page_id)
        if session is None:
            self._trail.record(actor, f"page-link.{event.kind}", *subject, event.practice_id, details)
        else:
            self._trail.append(session, actor, f"page-link.{event.kind}", *subject, event.practice_id, details)


@dataclass(frozen=True)
class LinkInfo:
    """What a link's page says before the PIN: whose practice, and whether the person has a PIN at all."""

    practice_name: str
    has_pin: bool
    tries_left: int


@dataclass(frozen=True)
class PageMessage:
    """The message behind a link, as its page shows it once the PIN was right."""

    practice_name: str
    timezone: str
    created_at: datetime
    callback_number: str
    urgent: bool
    transcription_status: str | None
    transcription_text: str | None
    fields: list[tuple[str, str]]  # (label, value) of a message an agent took
    has_recording: bool
    page_status: str
    acknowledged_at: datetime | None
    acknowledged_by_you: bool


class PageLinks:
    """Issues a page's links (the SMS renderer's) and opens them (the /p/TOKEN page's)."""

    def __init__(self, session_factory: sessionmaker[Session], redis_client: redis.Redis,
                 clock: Callable[[], datetime], record: RecordEvent, *, link_hours: int, pin_tries: int,
                 view_minutes: int):
        self._session_factory = session_factory
        self._redis = redis_client
        self._clock = clock
        self._record = record
        self._link_hours = link_hours
        self._pin_tries = pin_tries
        self._view_minutes = view_minutes

    # --- issuing -------------------------------------------------------------------------------------------

    def issue(self, session: Session, page: OnCallPage, target: str, phone: str, sms_id: int | None) -> str:
        """A new link to `page` for the person `target` at `phone`, in the caller's transaction; returns the
        token (its only clear copy: it goes in the SMS body and nowhere else)."""
        token = secrets.token_urlsafe(24)
        now = self._clock()
        session.add(PageLink(token_hash=hash_secret(token), page_id=page.id, practice_id=page.practice_id,
                             target=target, phone=phone, sms_id=sms_id, created_at=now,
                             expires_at=now + timedelta(hours=self._link_hours), failed_pins=0))
        if session.get(OnCallPin, (page.practice_id, phone)) is None:
            log.warning("page=%s: %s has no PIN: their link will ask them to call the answering service",
                        page.id, target)
        return token

    # --- opening -------------------------------------------------------------------------------------------

    def info(self, token: str, client: Client) -> LinkInfo:
        """What the link's page says before the PIN; PageLinkNotFound, PageLinkExpired, PageLinkLocked."""
        with database_errors_as_dependency_down(), self._session_factory() as session:
            link = self._usable(session, token, client)
            practice = session.get(Practice, link.practice_id)
            has_pin = session.get(OnCallPin, (link.practice_id, link.phone)) is not None
            return LinkInfo(practice.name, has_pin, max(0, self._pin_tries - link.failed_pins))

    def enter_pin(self, token: str, pin: str, client: Client) -> str:
        """Check the PIN typed on the link's page; returns a view grant (the cookie's secret). NoPinSet,
        WrongPin, PageLinkLocked (this try was one too many), PageLinkNotFound, PageLinkExpired."""
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            link = self._usable(session, token, client)
            link_id, page_id, practice_id, target = link.id, link.page_id, link.practice_id, link.target
            pin_row = session.get(OnCallPin, (link.practice_id, link.phone))
            pin_hash = pin_row.pin_hash if pin_row is not None else None
            taken = 0
            if pin_hash is None:
                self._refused(link, session, client, "no-pin")
            else:
                # The try is taken before the PIN is checked, atomically: at most PAGE_LINK_PIN_TRIES checks run.
                taken = session.execute(update(PageLink).where(
                    PageLink.id == link_id, PageLink.locked_at.is_(None), PageLink.failed_pins < self._pin_tries)
                    .values(failed_pins=PageLink.failed_pins + 1)
                    .execution_options(synchronize_session=False)).rowcount
                if not taken:
                    self._refused(link, session, client, "locked")
        # Raised once the refusal's audit row is committed.
        if pin_hash is None:
            raise NoPinSet()
        if not taken:
            raise PageLinkLocked()
        right = isinstance(pin, str) and PIN.fullmatch(pin.strip()) is not None \
            and check_password_hash(pin_hash, pin.strip())
        if right:
            with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
                # The right PIN gives its try back: the count is of wrong PINs only.
                session.execute(update(PageLink).where(PageLink.id == link_id)
                                .values(failed_pins=PageLink.failed_pins - 1)
                                .execution_options(synchronize_session=False))
                expires_at = session.scalar(select(PageLink.expires_at).where(PageLink.id == link_id))
            return self._grant(link_id, expires_at)  # once the try is given back: Redis down costs no try
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            message_id = session.scalar(select(OnCallPage.message_id).where(OnCallPage.id == page_id))
            now = self._clock()
            event = dict(link_id=link_id, page_id=page_id, message_id=message_id, practice_id=practice_id,
                         target=target, at=now, address=client.address, user_agent=client.user_agent)
            # The link's row before the audit chain's head: see "Locks" above.
            locked = session.execute(update(PageLink).where(
                PageLink.id == link_id, PageLink.locked_at.is_(None), PageLink.failed_pins >= self._pin_tries)
                .values(locked_at=now).execution_options(synchronize_session=False)).rowcount
            self._record(session, PageLinkEvent("wrong-pin", **event))
            if locked:
                self._record(session, PageLinkEvent("locked", **event))
                log.warning("page=%s: a link locked after %s wrong PINs", page_id, self._pin_tries)
            used = session.scalar(select(PageLink.failed_pins).where(PageLink.id == link_id))
        if locked:
            raise PageLinkLocked()
        raise WrongPin(max(0, self._pin_tries - used))

    def view(self, token: str, grant: str | None, client: Client) -> PageMessage | None:
        """The message, audited "view", when `grant` opens this link (else None: ask for the PIN);
        PageLinkNotFound, PageLinkExpired, PageLinkLocked."""
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            link = self._usable(session, token, client)
            if not self._granted(link, grant):
                return None
            page = session.get(OnCallPage, link.page_id)
            message = session.get(Message, page.message_id)
            practice = session.get(Practice, link.practice_id)
            self._record(session, self._event("view", link, page.message_id, client))
            return _page_message(message, practice, page, link.target)

    def acknowledge(self, token: str, grant: str | None, client: Client) -> bool | None:
        """Acknowledge the page as the person the link was sent to; None without a grant (ask for the PIN),
        else whether this changed it. PageLinkNotFound, PageLinkExpired, PageLinkLocked."""
        with database_errors_as_dependency_down(), session_scope(self._session_factory) as session:
            link = self._usable(session, token, client)
            if not self._granted(link, grant):
                return None
            page = session.scalars(select(OnCallPage).where(OnCallPage.id == link.page_id)
                                   .with_for_update()).one()
            changed = acknowledge(session, page, link.target, self._clock())
            self._record(session, self._event("acknowledge", link, page.message_id, client))
            return changed

    def recording_access(self, token: str, grant: str | None, client: Client) -> RecordingAccess | None:
        """What the recording relay needs to play the link's message (None: no grant, ask for the PIN); the
        relay audits the play as this link's actor. PageLinkNotFound, PageLinkExpired, PageLinkLocked."""
        with database_errors_as_dependency_down(), self._session_factory() as session:
            link = self._usable(session, token, client)
            if not self._granted(link, grant):
                return None
            message_id = session.scalar(select(OnCallPage.message_id).where(OnCallPage.id == link.page_id))
            return RecordingAccess(message_id, link.practice_id, link_actor(link.id, client))

    # --- PINs ----------------------------------------------------------------------------------------------

    def set_pin(self, practice_slug: str, phone: str, pin: str) -> None:
        """Set the PIN of the on-call provider at `phone` for the practice (6 to 12 digits, kept as a salted
        hash); PinRejected, LookupError for an unknown practice."""
        if not PIN.fullmatch(pin or ""):
            raise PinRejected("a PIN is 6 to 12 digits")
        if not is_e164(phone):
            raise PinRejected("the phone must be in E.164, e.g. +16175550122")
        with session_scope(self._session_factory) as session:
            practice_id = self._provider_practice(session, practice_slug, phone)
            values = dict(practice_id=practice_id, phone=phone, pin_hash=generate_password_hash(pin),
                          set_at=self._clock())
            session.execute(insert_ignoring_duplicates(session, OnCallPin, ("practice_id", "phone")), [values])
            session.execute(update(OnCallPin).where(OnCallPin.practice_id == practice_id, OnCallPin.phone == phone)
                            .values(pin_hash=values["pin_hash"], set_at=values["set_at"]))

    def clear_pin(self, practice_slug: str, phone: str) -> bool:
        """Remove the PIN of `phone` for the practice; False when it had none."""
        with session_scope(self._session_factory) as session:
            practice_id = session.scalar(select(Practice.id).where(Practice.slug == practice_slug))
            if practice_id is None:
                raise LookupError(f"no practice has the slug {practice_slug!r}")
            pin = session.get(OnCallPin, (practice_id, phone))
            if pin is None:
                return False
            session.delete(pin)
            return True

    @staticmethod
    def _provider_practice(session: Session, practice_slug: str, phone: str) -> int:
        practice_id = session.scalar(select(Practice.id).where(Practice.slug == practice_slug))
        if practice_id is None:
            raise LookupError(f"no practice has the slug {practice_slug!r}")
        if session.scalar(select(OnCallProvider.id).where(OnCallProvider.practice_id == practice_id,
                                                          OnCallProvider.phone == phone).limit(1)) is None:
            raise PinRejected(f"{phone} is not an on-call provider of {practice_slug} (its [[practices.on_call]])")
        return practice_id

    # --- the link's state ----------------------------------------------------------------------------------

    def _usable(self, session: Session, token: str, client: Client) -> PageLink:
        if not isinstance(token, str) or not TOKEN.fullmatch(token):
            raise PageLinkNotFound()
        link = session.scalars(select(PageLink).where(PageLink.token_hash == hash_secret(token))).one_or_none()
        if link is None:
            raise PageLinkNotFound()
        if link.expires_at <= self._clock():
            self._refused_apart(session, link, client, "expired")
            raise PageLinkExpired()
        if link.locked_at is not None:
            self._refused_apart(session, link, client, "locked")
            raise PageLinkLocked()
        return link

    def _refused_apart(self, session: Session, link: PageLink, client: Client, reason: str) -> None:
        """A refusal the caller's transaction will not commit (it raises next), recorded in one of its own once
        the caller's has ended: a request never holds two of the pool's connections, so a burst of them at a
        locked link cannot take the whole pool and wait on itself."""
        event = self._event("refused", link, None, client, reason)
        session.rollback()  # gives the connection back (nothing was written)
        self._record(None, event)

    def _refused(self, link: PageLink, session: Session | None, client: Client, reason: str) -> None:
        message_id = None
        if session is not None:
            message_id = session.scalar(select(OnCallPage.message_id).where(OnCallPage.id == link.page_id))
        self._record(session, self._event("refused", link, message_id, client, reason))

    def _event(self, kind: str, link: PageLink, message_id: int | None, client: Client,
               reason: str | None = None) -> PageLinkEvent:
        return PageLinkEvent(kind, link.id, link.page_id, message_id, link.practice_id, link.target, self._clock(),
                             client.address, client.user_agent, reason)

    def _grant(self, link_id: int, link_expires_at: datetime) -> str:
        grant = secrets.token_urlsafe(24)
        until = min(self._clock() + timedelta(minutes=self._view_minutes), link_expires_at)
        with redis_errors_as_dependency_down():
            self._redis.set(GRANT_KEY.format(grant_hash=hash_secret(grant)), f"{link_id}|{until.timestamp()}",
                            ex=self._view_minutes * 60)
        return grant

    def _granted(self, link: PageLink, grant: str | None) -> bool:
        """Whether `grant` (the cookie) opens `link` now, by Careline's clock."""
        if not grant or not isinstance(grant, str) or len(grant) > 64:
            return False
        with redis_errors_as_dependency_down():
            raw = self._redis.get(GRANT_KEY.format(grant_hash=hash_secret(grant)))
        if not raw:
            return False
        link_id, _, until = raw.partition("|")
        try:
            return int(link_id) == link.id and self._clock().timestamp() < float(until)
        except ValueError:
            return False


def _page_message(message: Message, practice: Practice, page: OnCallPage, target: str) -> PageMessage:
    form = practice.message_fields if practice.message_fields is not None else \
        [{"name": field.name, "label": field.label} for field in DEFAULT_MESSAGE_FIELDS]
    labels = {field["name"]: field.get("label") or field["name"] for field in form}
    fields = [(labels.get(name, name), str(value)) for name, value in (message.fields or {}).items()
              if value not in (None, "")]
    return PageMessage(
        practice_name=practice.name, timezone=practice.timezone, created_at=message.created_at,
        callback_number=message.from_number, urgent=message.urgent,
        transcription_status=message.transcription_status, transcription_text=message.transcription_text,
        fields=fields, has_recording=message.recording_sid is not None, page_status=page.status,
        acknowledged_at=page.acknowledged_at, acknowledged_by_you=page.acknowledged_by == target)
