"""INSERT ... ON CONFLICT for SQLite and PostgreSQL, which both support it with the same shape."""
from __future__ import annotations

from functools import cache

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


def upsert_statement(session: Session, model, conflict_columns: tuple[str, ...], update_columns: tuple[str, ...]):
    """INSERT, or UPDATE `update_columns` where a row with the same `conflict_columns` exists.

    Without values: execute it with a list of rows (executemany). Built once per dialect and table.
    """
    return _upsert_for(session.get_bind().dialect.name, model.__table__, conflict_columns, update_columns)


@cache
def _upsert_for(dialect: str, table, conflict_columns: tuple[str, ...], update_columns: tuple[str, ...]):
    statement = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect](table)
    return statement.on_conflict_do_update(index_elements=list(conflict_columns),
                                           set_={name: statement.excluded[name] for name in update_columns})
