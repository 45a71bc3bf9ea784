"""INSERT ... ON CONFLICT for SQLite and PostgreSQL, which both support it with the same shape.

The statements carry no values: execute them with a list of rows (SQLAlchemy's executemany, which sends
them as multi-row INSERTs). Built once per dialect and table, so they are compiled once and cached.
"""
from __future__ import annotations

from functools import cache

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_ignoring_duplicates(session: Session, model, conflict_columns: tuple[str, ...], index_where=None):
    """INSERT that does nothing where a row with the same `conflict_columns` exists; `index_where` names a partial
    unique index by its condition (a module-level constant, so the statement is built once)."""
    return _insert_ignoring_for(session.get_bind().dialect.name, model.__table__, conflict_columns, index_where)


def upsert_statement(session: Session, model, conflict_columns: tuple[str, ...], update_columns: tuple[str, ...]):
    """INSERT, or UPDATE `update_columns` where a row with the same `conflict_columns` exists."""
    return _upsert_for(session.get_bind().dialect.name, model.__table__, conflict_columns, update_columns)


@cache
def _insert_ignoring_for(dialect: str, table, conflict_columns: tuple[str, ...], index_where=None):
    return _INSERTS[dialect](table).on_conflict_do_nothing(index_elements=list(conflict_columns),
                                                           index_where=index_where)


@cache
def _upsert_for(dialect: str, table, conflict_columns: tuple[str, ...], update_columns: tuple[str, ...]):
    statement = _INSERTS[dialect](table)
    return statement.on_conflict_do_update(index_elements=list(conflict_columns),
                                           set_={name: statement.excluded[name] for name in update_columns})
