"""Run the Alembic migrations from code (`careline db upgrade`, the tests)."""
from __future__ import annotations

from alembic import command
from alembic.config import Config as AlembicConfig

from core.config import ROOT


def alembic_config(url: str | None = None) -> AlembicConfig:
    """Alembic's config for this checkout, optionally bound to a database URL."""
    cfg = AlembicConfig(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if url:
        cfg.attributes["url"] = url
    return cfg


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database at `url` (default: DATABASE_URL) to `revision`."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Undo migrations down to `revision`."""
    command.downgrade(alembic_config(url), revision)
