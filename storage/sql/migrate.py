"""Alembic, driven from code: no ``alembic.ini`` and no dependence on the
working directory. ``upgrade`` runs on a connection of the catalog's own
engine (so SQLite's pragmas and PostgreSQL's connect options apply), inside
one transaction that serialises concurrent upgrades: ``BEGIN IMMEDIATE`` on
SQLite, a transaction-scoped advisory lock on PostgreSQL.

For ``alembic`` on the command line (e.g. ``alembic revision``), use
``alembic_config(url)`` from Python or pass ``script_location`` =
``storage/sql/migrations``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PG_LOCK_KEY = 0x6A69746576  # "jitev": serialises concurrent upgrades on PostgreSQL


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


def current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(conn: Connection) -> None:
    """Upgrade to head inside the connection's transaction (already begun)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    cfg = alembic_config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")
