"""INSERT ... ON CONFLICT for SQLite and PostgreSQL, which both support it with the same shape."""
from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert_for(session: Session):
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"no upsert for {name}")


def insert_ignoring_duplicates(session: Session, model, conflict_columns: list[str], values):
    """INSERT that does nothing where a row with the same `conflict_columns` exists."""
    return _insert_for(session)(model).values(values).on_conflict_do_nothing(index_elements=conflict_columns)


def upsert(session: Session, model, conflict_columns: list[str], values: dict):
    """INSERT, or UPDATE every other column where a row with the same `conflict_columns` exists."""
    statement = _insert_for(session)(model).values(values)
    updates = {k: statement.excluded[k] for k in values if k not in conflict_columns}
    return statement.on_conflict_do_update(index_elements=conflict_columns, set_=updates)
