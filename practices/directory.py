"""Find the practice that owns a called number, and the phone an agent answers on, from a per-process
snapshot of the database (both come from the configuration file).

The webhook answers from memory: the snapshot is reloaded when `careline config load` bumps the version
kept in Redis (read in the same round trip as the call's state), or when it is older than
PRACTICE_CACHE_SECONDS, whichever comes first.
"""
from __future__ import annotations

import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from models import Agent, Practice
from practices.snapshot import AgentSnapshot, PracticeSnapshot

CONFIG_VERSION_KEY = "careline:config:version"


class PracticeDirectory:
    """Practices by number and by id; thread-safe, reloaded as a whole."""

    def __init__(self, session_factory: sessionmaker[Session], max_age_seconds: float = 30.0):
        self._session_factory = session_factory
        self._max_age_seconds = max_age_seconds
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

    def _refresh_if_stale(self, version: str | None) -> None:
        fresh = time.monotonic() - self._loaded_at < self._max_age_seconds
        if fresh and (version is None or version == self._version):
            return
        with self._lock:
            by_number, by_id, agents = self._load()
            self._by_number, self._by_id, self._agents = by_number, by_id, agents
            self._loaded_at = time.monotonic()
            self._version = version

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
