"""Alembic environment of the jitev catalog. ``storage.sql.migrate`` hands in
a connection (``config.attributes["connection"]``); otherwise the URL in
``sqlalchemy.url`` is opened with the catalog's engine settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from storage.sql.engine import make_engine, parse_url
from storage.sql.tables import metadata

config = context.config


def _run(conn: Connection) -> None:
    context.configure(
        connection=conn,
        target_metadata=metadata,
        render_as_batch=conn.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        _run(given)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, e.g. with storage.sql.migrate.alembic_config(url)")
    engine = make_engine(parse_url(url))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
