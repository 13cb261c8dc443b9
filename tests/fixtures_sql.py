"""SQL catalog fixtures: every test gets a fresh, migrated catalog on SQLite
(a file in tmp_path) and on PostgreSQL (a schema of its own in the database of
``JITEV_TEST_PG_URL``, selected through ``search_path`` in the connect options
and dropped afterwards).

Without ``JITEV_TEST_PG_URL`` the PostgreSQL variants skip (or fail under
``make test``, see ``tests.conftest.need_server``).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from config.jit import load as load_jit
from evidence.models import Action, Case, DeclaredHash, Exhibit, ExhibitStatus, Person, Role, Team
from evidence.ports import Catalog, EventDraft
from evidence.setup import add_person
from storage.sql.catalog import SqlCatalog

PG_ENV = "JITEV_TEST_PG_URL"
BACKENDS = [pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
JIT_EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "jit.example.toml"


class StepClock:
    """A deterministic clock: each ``now()`` is 1 ms after the previous one."""

    def __init__(self, start: datetime = START) -> None:
        self._next = start

    def now(self) -> datetime:
        at = self._next
        self._next += timedelta(milliseconds=1)
        return at


def sample_case(case_id: str = "DANUBE") -> Case:
    """A JIT of Bulgaria, Montenegro and France, led by Bulgaria."""
    return Case(
        id=case_id,
        title="Operation Danube: cross-border cigarette smuggling",
        agreement_ref="JIT-2024-017",
        teams=(
            Team("BG", "Bulgaria", "GDBOP Sofia"),
            Team("ME", "Montenegro", "Police Directorate Podgorica"),
            Team("FR", "France", "OFAST Marseille"),
        ),
        lead_team="BG",
    )


def standard_people() -> list[Person]:
    """The people of ``config/jit.example.toml`` (the ones ``jitev setup``
    registers in the CLI tests): an FR admin first, then leads, investigators,
    prosecutors of BG, ME and FR, and an FR auditor."""
    return load_jit(JIT_EXAMPLE).people


def register_people(catalog: Catalog) -> list[Person]:
    """Register the standard people in an empty catalog, as jitev does: the
    first admin registers itself, then adds everyone else."""
    people = standard_people()
    admin = next(p for p in people if p.has(Role.ADMIN))
    add_person(catalog, None, admin)
    for person in people:
        if person != admin:
            add_person(catalog, admin.name, person)
    return people


def opening(actor: str = "ivanova", team: str = "BG") -> EventDraft:
    return EventDraft(Action.CASE_OPENED, actor, team, None, {"agreement": "JIT-2024-017"})


def sample_exhibit(
    case_id: str, reference: str, team: str, blake3: str, *, declared: bool = False
) -> Exhibit:
    return Exhibit(
        reference=reference,
        case_id=case_id,
        team=team,
        title=f"phone image {reference}",
        description="Extraction of a seized phone",
        seized_at=datetime(2024, 2, 12, 6, 30, tzinfo=UTC),
        seized_by="Insp. Petrov",
        seized_from="Varna port, container MSCU 123456-7",
        original_name="phone.e01",
        relative_path=f"seizure/{reference}/phone.e01",
        media_type="application/octet-stream",
        size=123_456_789_012,
        blake3=blake3,
        sha256="ab" * 32,
        declared=DeclaredHash("md5", "0" * 32) if declared else None,
        storage_key=blake3,
        retention_until=datetime(2034, 3, 1, tzinfo=UTC),
        status=ExhibitStatus.STORED,
        ingested_at=datetime(2024, 3, 1, 10, tzinfo=UTC),
        ingested_by="ivanova",
    )


@dataclass(frozen=True)
class PgSchema:
    """A fresh schema in the test database, and the catalog URL that uses it."""

    admin: str  # libpq conninfo of the test database
    name: str
    url: str


def pg_base_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        from tests.conftest import need_server

        need_server(
            f"PostgreSQL tests need {PG_ENV}, e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
    assert url is not None
    return url


def _conninfo(url: str) -> str:
    u = make_url(url)
    parts: dict[str, Any] = {
        "host": u.host,
        "port": u.port,
        "user": u.username,
        "password": u.password,
        "dbname": u.database,
    }
    return make_conninfo(**{k: v for k, v in parts.items() if v is not None})


@pytest.fixture
def pg_schema() -> Iterator[PgSchema]:
    with fresh_schema() as schema:
        yield schema


@contextlib.contextmanager
def fresh_schema() -> Iterator[PgSchema]:
    """A schema of its own in the test database, dropped afterwards."""
    base = pg_base_url()
    admin = _conninfo(base)
    name = f"jitev_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as e:
        from tests.conftest import need_server

        need_server(
            f"PostgreSQL at {make_url(base).render_as_string(hide_password=True)} is unreachable: {e}"
        )
    url = make_url(base).update_query_dict({"options": f"-csearch_path={name}"})
    try:
        yield PgSchema(admin, name, url.render_as_string(hide_password=False))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=BACKENDS)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty (not migrated) catalog database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'catalog.db'}"
    schema: PgSchema = request.getfixturevalue("pg_schema")
    return schema.url


@pytest.fixture
def clock() -> StepClock:
    return StepClock()


@pytest.fixture
def catalog(catalog_url: str, clock: StepClock) -> Iterator[SqlCatalog]:
    """A fresh, migrated catalog (no cases yet), closed afterwards."""
    with SqlCatalog(catalog_url, clock) as catalog:
        catalog.migrate()
        yield catalog
