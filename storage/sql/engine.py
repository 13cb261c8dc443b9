"""Engines for the catalog: SQLite (the single-machine default) and PostgreSQL
(a team server), and the translation of driver errors into ``CatalogError``
messages that say what to do.

SQLite is opened in WAL mode with ``synchronous=FULL``, foreign keys on and a
30 s busy timeout. pysqlite's own transaction handling is switched off and
SQLAlchemy's ``begin`` event emits ``BEGIN`` itself (the recipe in the
SQLAlchemy SQLite documentation): ``BEGIN IMMEDIATE`` for connections marked
with ``write_options()``, so a writer takes the database write lock before it
reads the chain head, and a plain deferred ``BEGIN`` for readers, which WAL
never blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import ConnectionPoolEntry

from evidence.errors import CatalogError

BUSY_TIMEOUT_S = 30
BEGIN_OPTION = "jitev_sqlite_begin"
UPGRADE_HINT = (
    "migrate it: jitev does at start while [db] auto_migrate is true (the default; "
    "JITEV_DB_AUTO_MIGRATE=true), or call SqlCatalog.migrate()"
)
URL_EXAMPLES = "sqlite:///path/to/jitev.db or postgresql+psycopg://user@host:5432/jitev"


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL, with the PostgreSQL driver made explicit (psycopg 3)."""
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError as e:
        raise CatalogError(f"catalog URL {url!r} is not valid: use {URL_EXAMPLES}") from e
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "sqlite+pysqlite", "postgresql+psycopg"):
        raise CatalogError(
            f"catalog URL {mask(parsed)} uses {parsed.drivername!r}, which jitev does not "
            f"support: use {URL_EXAMPLES}"
        )
    return parsed


def mask(url: URL) -> str:
    """The URL as text with its password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def make_engine(url: URL) -> Engine:
    """An engine for a URL from ``parse_url``. No connection is made yet."""
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy emit BEGIN (see _sqlite_begin); pysqlite still commits and
    # rolls back correctly with isolation_level None.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def write_options(conn: Connection) -> Connection:
    """Mark a connection so that its transactions take the write lock at BEGIN
    (SQLite). Harmless on PostgreSQL."""
    return conn.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})


def _sqlstate(error: sa_exc.DBAPIError) -> str | None:
    state = getattr(error.orig, "sqlstate", None)
    return state if isinstance(state, str) else None


def translate(error: sa_exc.DBAPIError, where: str) -> CatalogError:
    """A ``CatalogError`` for a driver error, naming the database (``where``,
    password masked) and what to do."""
    text = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
    state = _sqlstate(error)
    if "no such table" in text or state == "42P01":
        return CatalogError(f"the catalog at {where} is not migrated ({text}): {UPGRADE_HINT}")
    if "no such column" in text or state == "42703":
        return CatalogError(f"the catalog at {where} is behind this jitev ({text}): {UPGRADE_HINT}")
    if "database is locked" in text:
        return CatalogError(
            f"the SQLite catalog at {where} stayed locked for {BUSY_TIMEOUT_S} s by another "
            "jitev process: let it finish and run again"
        )
    if error.connection_invalidated or (state is not None and state.startswith("08")):
        return unreachable(where, text)
    if state == "40P01":
        return CatalogError(
            f"the catalog at {where} broke a deadlock by cancelling this transaction: "
            "nothing was written, run again"
        )
    return CatalogError(
        f"the catalog database at {where} failed ({text}); nothing of this step was written: "
        "check the database and run again"
    )


def unreachable(where: str, text: str) -> CatalogError:
    if where.startswith("sqlite"):
        return CatalogError(
            f"cannot open the SQLite catalog at {where} ({text}): check that its directory "
            "exists and is writable"
        )
    return CatalogError(
        f"cannot reach the catalog database at {where} ({text}): start the server or fix the "
        "URL ([db] url in the config file, or JITEV_DB_URL), then run again"
    )


@contextmanager
def db_errors(where: str) -> Iterator[None]:
    """Turn driver errors raised inside the block into ``CatalogError``."""
    try:
        yield
    except sa_exc.DBAPIError as e:
        raise translate(e, where) from e


def connect(engine: Engine, where: str) -> Connection:
    """A connection, or a ``CatalogError`` saying the database is unreachable."""
    try:
        return engine.connect()
    except sa_exc.DBAPIError as e:
        if "database is locked" in str(e.orig):
            raise translate(e, where) from e
        text = str(e.orig).strip().splitlines()[0] if e.orig is not None else str(e)
        raise unreachable(where, text) from e
