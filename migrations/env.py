"""Alembic environment: the database comes from the caller's connection or from DATABASE_URL."""
from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from core.config import INSTANCE_DIR, Config
from models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    # render_as_batch lets ALTERs work on SQLite (it copies the table), and is a no-op on PostgreSQL.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or Config.from_env().database_url
    if url.startswith("sqlite:///"):
        INSTANCE_DIR.mkdir(exist_ok=True)
    engine = create_engine(url, hide_parameters=True)  # a data migration's values (patient text) stay out of errors
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=Config.from_env().database_url, target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
