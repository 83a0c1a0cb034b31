"""Versioned migrations with alembic; revisions live in storage/migrations/versions.

Each revision is plain SQL through ``op.execute``: storage owns its statements.
Revision ids are fixed, ordered names (``0001_platform``, ``0002_connections``...).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from paysync.config import settings
from storage.db import DatabaseUnavailable, safe_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", (url or settings().database_url).replace("%", "%%"))
    return cfg


def heads() -> list[str]:
    return list(ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_heads())


def upgrade(revision: str = "head", url: str | None = None) -> None:
    import sqlalchemy.exc

    try:
        command.upgrade(alembic_config(url), revision)
    except sqlalchemy.exc.OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else "no answer"
        raise DatabaseUnavailable(
            f"database unreachable at {safe_url(url or settings().database_url)}: {first}") from None


def current(url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine((url or settings().database_url).replace("postgresql://", "postgresql+psycopg2://"))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
