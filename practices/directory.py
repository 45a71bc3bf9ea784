"""Find the practice that owns a called number, and the phone an agent answers on, from a per-process
snapshot of the database (both come from the configuration file).

The webhook answers from memory: the snapshot is reloaded when `careline config load` bumps the version
kept in Redis (read in the same round trip as the call's state), or when it is older than
PRACTICE_CACHE_SECONDS, whichever comes first.

A database that stops answering must not hang a call: a reload runs in a thread of its own, and a lookup waits for
it at most RELOAD_WAIT_SECONDS. When the reload fails or takes longer, the lookup serves the last snapshot (logged),
and for RELOAD_RETRY_SECONDS lookups serve it without asking the database again; a reload still running installs
its snapshot when it ends. Without any snapshot yet, the lookup raises (the webhook's fault path takes a message).
"""
from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from core.errors import DependencyDown
from models import Agent, Practice
from practices.snapshot import AgentSnapshot, PracticeSnapshot

log = logging.getLogger(__name__)

CONFIG_VERSION_KEY = "careline:config:version"
RELOAD_WAIT_SECONDS = 2.0  # the longest a lookup waits for a reload (a webhook's whole database budget is 3 s)
RELOAD_RETRY_SECONDS = 5.0  # after a failed reload, lookups serve the last snapshot this long before trying again


class _Reload:
    """One reload in flight; lookups that need it wait on `done`."""

    def __init__(self):
        self.done = threading.Event()
        self.error: BaseException | None = None


class PracticeDirectory:
    """Practices by number and by id; thread-safe, reloaded as a whole."""

    def __init__(self, session_factory: sessionmaker[Session], max_age_seconds: float = 30.0,
                 reload_wait_seconds: float = RELOAD_WAIT_SECONDS):
        self._session_factory = session_factory
        self._max_age_seconds = max_age_seconds
        self._reload_wait_seconds = reload_wait_seconds
        self._reload: _Reload | None = None
        self._retry_after = float("-inf")  # after a failed reload: no new one before this (monotonic)
        self._snapshot_loaded = False
        self._lock = threading.Lock()
        self._by_number: dict[str, PracticeSnapshot] = {}
        self._by_id: dict[int, PracticeSnapshot] = {}
        self._agents: dict[int, AgentSnapshot] = {}
        self._loaded_at = float("-inf")
        self._version: str | None = None

    def find_by_number(self, e164: str, version: str | None = None) -> PracticeSnapshot | None:
        """The practice that owns `e164`, or None; `version` is Redis's config version, if known."""
        self._refresh_if_stale(version)
        return self._by_number.get(e164)

    def get(self, practice_id: int, version: str | None = None) -> PracticeSnapshot | None:
        """The practice with this id, or None."""
        self._refresh_if_stale(version)
        return self._by_id.get(practice_id)

    def agent(self, agent_id: int, version: str | None = None) -> AgentSnapshot | None:
        """The agent with this id (its name and where to ring it), or None."""
        self._refresh_if_stale(version)
        return self._agents.get(int(agent_id))

    def practice_ids(self, version: str | None = None) -> tuple[int, ...]:
        """Every practice's id."""
        self._refresh_if_stale(version)
        return tuple(sorted(self._by_id))

    @property
    def version(self) -> str | None:
        """The config version the current snapshot was loaded for (None: not known)."""
        return self._version

    def invalidate(self) -> None:
        """Forget the snapshot; the next lookup reloads it."""
        with self._lock:
            self._loaded_at = float("-inf")
            self._retry_after = float("-inf")

    def _refresh_if_stale(self, version: str | None) -> None:
        now = time.monotonic()
        if now - self._loaded_at < self._max_age_seconds and (version is None or version == self._version):
            return
        if now < self._retry_after:  # a reload failed a moment ago: do not wait on the database again yet
            if self._snapshot_loaded:
                return
            raise DependencyDown("database")
        with self._lock:
            reload = self._reload
            if reload is None:
                reload = self._reload = _Reload()
                threading.Thread(target=self._run_reload, args=(reload, version), daemon=True,
                                 name="practice-directory-reload").start()
        if reload.done.wait(self._reload_wait_seconds) and reload.error is None:
            return
        with self._lock:
            self._retry_after = time.monotonic() + RELOAD_RETRY_SECONDS
        why = (type(reload.error).__name__ if reload.done.is_set()
               else f"no answer within {self._reload_wait_seconds:g} s")
        if self._snapshot_loaded:
            log.warning("practices: reload failed (%s); serving the last snapshot", why)
            return
        log.warning("practices: reload failed (%s) and no snapshot is loaded yet", why)
        if reload.error is not None:
            raise reload.error
        raise DependencyDown("database")

    def _run_reload(self, reload: _Reload, version: str | None) -> None:
        """Load a snapshot and install it (in its own thread: a lookup waits for it a bounded time)."""
        try:
            by_number, by_id, agents = self._load()
        except BaseException as exc:  # noqa: BLE001 - handed to the lookups that wait on it
            reload.error = exc
        else:
            with self._lock:
                self._by_number, self._by_id, self._agents = by_number, by_id, agents
                self._loaded_at = time.monotonic()
                self._version = version
                self._retry_after = float("-inf")
                self._snapshot_loaded = True
        finally:
            with self._lock:
                self._reload = None
            reload.done.set()

    def _load(self) -> tuple[dict[str, PracticeSnapshot], dict[int, PracticeSnapshot], dict[int, AgentSnapshot]]:
        from practices.store import snapshot_from_model  # the store owns the model -> snapshot mapping

        with self._session_factory() as session:
            practices = session.scalars(
                select(Practice).options(selectinload(Practice.numbers))).all()
            snapshots = [snapshot_from_model(p) for p in practices]
            agents = {row.id: AgentSnapshot(row.id, row.name, row.phone, row.client_identity)
                      for row in session.execute(select(Agent.id, Agent.name, Agent.phone, Agent.client_identity))}
        by_number = {number: snap for snap in snapshots for number in snap.numbers}
        return by_number, {snap.id: snap for snap in snapshots}, agents
