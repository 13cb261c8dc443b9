"""The catalog and custody ledger in SQL: SQLite (default) or PostgreSQL,
through SQLAlchemy 2.0 Core, with Alembic migrations."""

from __future__ import annotations

from storage.sql.catalog import SqlCatalog

__all__ = ["SqlCatalog"]
