"""The database engine and sessions; one engine per app, sessions opened per unit of work."""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from core.crypto import DataCipher, bind_cipher
from core.errors import DependencyDown

# A database that stops answering must fail fast (the defaults of DATABASE_*_TIMEOUT_SECONDS, core/config.py).
CONNECT_TIMEOUT_SECONDS = 2.0  # PostgreSQL's connect_timeout (libpq counts whole seconds, 2 at least)
POOL_TIMEOUT_SECONDS = 2.0  # the wait for a free connection of the pool
STATEMENT_TIMEOUT_SECONDS = 3.0  # PostgreSQL's statement_timeout; SQLite's busy timeout (a lock held elsewhere)

log = logging.getLogger(__name__)


def make_engine(url: str, *, connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
                pool_timeout: float = POOL_TIMEOUT_SECONDS,
                statement_timeout: float = STATEMENT_TIMEOUT_SECONDS, data_cipher: DataCipher | None = None) -> Engine:
    """Create the engine with its timeouts; SQLite gets WAL and a busy timeout so web and worker can share the
    file. `statement_timeout` 0 sends no statement_timeout to PostgreSQL (its server or role setting applies) and
    leaves SQLite's busy timeout at Python's 5 s. `data_cipher` encrypts and decrypts the encrypted columns
    (core/crypto.py); without it, reading or writing one fails.

    hide_parameters: a statement's parameters (numbers, names, message text) never appear in an error's text,
    so a logged or stored traceback carries the SQL, not the patient's data."""
    pool = {"pool_size": 5, "max_overflow": 5, "pool_timeout": pool_timeout}
    if url.startswith("sqlite"):
        in_memory = url in ("sqlite://", "sqlite:///:memory:")  # one connection per thread: no pool to size
        engine = create_engine(url, connect_args={"timeout": statement_timeout if statement_timeout > 0 else 5.0},
                               hide_parameters=True, **({} if in_memory else pool))
        bind_cipher(engine, data_cipher)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    connect_args: dict = {"connect_timeout": max(2, math.ceil(connect_timeout))}
    if statement_timeout > 0:
        connect_args["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
    engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True, **pool)
    bind_cipher(engine, data_cipher)
    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit when the block ends, roll back if it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def database_errors_as_dependency_down() -> Iterator[None]:
    """Turn a database that does not answer (refused, unreachable, locked, a deadlock, a statement past its
    timeout) or a pool with no connection free in time into `DependencyDown`, logged with the reason."""
    try:
        yield
    except (OperationalError, PoolTimeout) as exc:
        log.warning("database: %s", reason(exc))
        raise DependencyDown("database") from exc


def reason(exc: Exception) -> str:
    """What a database error says, for a log: the driver's class and the first line of its message (the server's
    reason: "deadlock detected", "canceling statement due to statement timeout"), never the statement."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__
