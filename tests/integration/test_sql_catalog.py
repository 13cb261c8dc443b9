"""SqlCatalog against real databases: SQLite (a file) and PostgreSQL."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from evidence.errors import Ambiguous, CatalogError, InputError, NotFound
from evidence.ledger import GENESIS, verify
from evidence.models import Action, Handling, exhibit_reference
from evidence.ports import EventDraft
from storage.sql import pages as pages_module
from storage.sql import records
from storage.sql.catalog import SqlCatalog
from storage.sql.migrate import alembic_config
from storage.sql.tables import case_teams, cases, exhibit_counters, exhibits, metadata, teams
from tests.fixtures_sql import START, StepClock, opening, sample_case, sample_exhibit

TABLES = {
    "cases",
    "teams",
    "case_teams",
    "exhibits",
    "exhibit_counters",
    "custody_events",
    "ingest_runs",
    "ingest_run_items",
    "people",
    "team_keys",
    "bundles",
    "transfers",
    "transfer_items",
    "transfer_decisions",
    "receipts",
}


def b3(n: int) -> str:
    return f"{n:064x}"


def ingest(catalog: SqlCatalog, team: str, n: int, case_id: str = "DANUBE") -> str:
    """One exhibit and its INGESTED event, committed together."""
    with catalog.transaction(case_id) as tx:
        reference = exhibit_reference(team, tx.next_exhibit_numbers(team, 1)[0])
        tx.append(EventDraft(Action.INGESTED, "ivanova", team, reference, {"n": n}))
        tx.add_exhibits([sample_exhibit(case_id, reference, team, b3(n))])
    return reference


# -- cases ------------------------------------------------------------------------


def test_add_and_get_case(catalog: SqlCatalog) -> None:
    first = catalog.add_case(sample_case(), opening())
    assert (first.seq, first.prev_hash, first.actor, first.action) == (
        1,
        GENESIS,
        "ivanova",
        Action.CASE_OPENED,
    )
    assert catalog.case("DANUBE") == sample_case()
    assert catalog.cases() == [sample_case()]
    assert list(catalog.events("DANUBE")) == [first]


def test_second_case_shares_teams(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case("DANUBE"), opening())
    catalog.add_case(sample_case("RHINE"), opening())
    assert [c.id for c in catalog.cases()] == ["DANUBE", "RHINE"]
    assert catalog.case("RHINE").teams == sample_case().teams


def test_duplicate_case_refused(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case(), opening())
    with pytest.raises(InputError, match="case DANUBE already exists"):
        catalog.add_case(sample_case(), opening(actor="someone-else"))
    assert len(list(catalog.events("DANUBE"))) == 1


def test_unknown_case(catalog: SqlCatalog) -> None:
    with pytest.raises(NotFound, match="no case NOPE .*jitev case list"):
        catalog.case("NOPE")
    with pytest.raises(NotFound, match="no case NOPE"):
        catalog.events("NOPE")
    with pytest.raises(NotFound, match="no case NOPE"), catalog.transaction("NOPE"):
        pass
    with pytest.raises(NotFound, match="no case NOPE"):
        catalog.start_run("NOPE", "BG", "ivanova", "f")


# -- exhibits ---------------------------------------------------------------------


def test_exhibits_add_list_get(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case(), opening())
    with catalog.transaction("DANUBE") as tx:
        tx.add_exhibits([sample_exhibit("DANUBE", "BG-EX-0002", "BG", b3(2), declared=True)])
        tx.add_exhibits([sample_exhibit("DANUBE", "BG-EX-0010", "BG", b3(10))])
        tx.add_exhibits([sample_exhibit("DANUBE", "ME-EX-0001", "ME", b3(1))])
    got = catalog.exhibit("BG-EX-0002", "DANUBE")
    assert got == sample_exhibit("DANUBE", "BG-EX-0002", "BG", b3(2), declared=True)
    assert got.ingested_at.tzinfo == UTC and got.seized_at is not None
    assert got.seized_at.tzinfo == UTC and got.retention_until is not None
    assert catalog.exhibit("ME-EX-0001") == sample_exhibit("DANUBE", "ME-EX-0001", "ME", b3(1))
    listed = [e.reference for e in catalog.exhibits("DANUBE")]
    assert listed == ["BG-EX-0002", "BG-EX-0010", "ME-EX-0001"]
    assert [e.reference for e in catalog.exhibits("DANUBE", team="ME")] == ["ME-EX-0001"]
    assert [e.reference for e in catalog.exhibits(team="BG")] == ["BG-EX-0002", "BG-EX-0010"]
    assert catalog.exhibits("DANUBE", team="FR") == []


def test_exhibit_not_found_says_what_to_do(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case(), opening())
    with pytest.raises(
        NotFound,
        match=r"no exhibit BG-EX-0042 in case DANUBE: .*`jitev exhibits list --case DANUBE`",
    ):
        catalog.exhibit("BG-EX-0042", "DANUBE")
    with pytest.raises(NotFound, match="no exhibit BG-EX-0042 in any case"):
        catalog.exhibit("BG-EX-0042")
    with pytest.raises(NotFound, match="no case NOPE"):
        catalog.exhibit("BG-EX-0042", "NOPE")


def test_exhibit_in_several_cases_needs_case(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case("DANUBE"), opening())
    catalog.add_case(sample_case("RHINE"), opening())
    ingest(catalog, "BG", 1, "DANUBE")
    ingest(catalog, "BG", 2, "RHINE")
    with pytest.raises(Ambiguous, match="cases DANUBE, RHINE: say which case") as told:
        catalog.exhibit("BG-EX-0001")
    assert (told.value.cases, told.value.field) == (("DANUBE", "RHINE"), "case")
    assert catalog.exhibit("BG-EX-0001", "RHINE").blake3 == b3(2)


def test_numbering_is_gapless_per_team_per_case(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case("DANUBE"), opening())
    catalog.add_case(sample_case("RHINE"), opening())
    with catalog.transaction("DANUBE") as tx:
        assert [tx.next_exhibit_numbers("BG", 1)[0] for _ in range(3)] == [1, 2, 3]
        assert tx.next_exhibit_numbers("ME", 1)[0] == 1
    with catalog.transaction("DANUBE") as tx:
        assert (tx.next_exhibit_numbers("BG", 1)[0], tx.next_exhibit_numbers("ME", 1)[0]) == (4, 2)
    with catalog.transaction("RHINE") as tx:
        assert tx.next_exhibit_numbers("BG", 1)[0] == 1
        with pytest.raises(InputError, match="team DE is not a member of case RHINE"):
            tx.next_exhibit_numbers("DE", 1)


def test_numbers_and_exhibits_come_in_groups(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case(), opening())
    with catalog.transaction("DANUBE") as tx:
        assert tx.next_exhibit_numbers("BG", 3) == range(1, 4)
        assert tx.next_exhibit_numbers("BG", 2) == range(4, 6)
        with pytest.raises(InputError, match="at least one exhibit number"):
            tx.next_exhibit_numbers("BG", 0)
        group = [sample_exhibit("DANUBE", f"BG-EX-{n:04d}", "BG", b3(n)) for n in range(1, 6)]
        tx.add_exhibits(group)
        twice = [
            sample_exhibit("DANUBE", "BG-EX-0006", "BG", b3(6)),
            sample_exhibit("DANUBE", "BG-EX-0007", "BG", b3(6)),
        ]
        with pytest.raises(InputError, match="same reference or the same content"):
            tx.add_exhibits(twice)
        with pytest.raises(InputError, match="is already exhibit BG-EX-0003"):
            tx.add_exhibits([sample_exhibit("DANUBE", "BG-EX-0006", "BG", b3(3))])
    assert [e.reference for e in catalog.exhibits("DANUBE")] == [
        f"BG-EX-{n:04d}" for n in range(1, 6)
    ]
    with catalog.transaction("DANUBE") as tx:  # 600 contents: more than one IN (...)
        found = tx.exhibits_by_blake3([b3(n) for n in range(1, 601)])
    assert sorted(found) == [b3(n) for n in range(1, 6)]


def test_exception_in_transaction_leaves_nothing(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case(), opening())
    run = catalog.start_run("DANUBE", "BG", "ivanova", "fp")
    assert ingest(catalog, "BG", 1) == "BG-EX-0001"
    events_before = list(catalog.events("DANUBE"))

    with pytest.raises(RuntimeError, match="store failed"), catalog.transaction("DANUBE") as tx:
        reference = exhibit_reference("BG", tx.next_exhibit_numbers("BG", 1)[0])
        tx.append(EventDraft(Action.INGESTED, "ivanova", "BG", reference, {}))
        tx.add_exhibits([sample_exhibit("DANUBE", reference, "BG", b3(2))])
        tx.mark_done(run.id, {"a/b.bin": reference})
        raise RuntimeError("store failed")

    assert [e.reference for e in catalog.exhibits("DANUBE")] == ["BG-EX-0001"]
    assert list(catalog.events("DANUBE")) == events_before
    assert catalog.run_items(run.id) == {}
    assert ingest(catalog, "BG", 3) == "BG-EX-0002"  # no counter bump was kept
    assert verify("DANUBE", catalog.events("DANUBE")).ok


def test_duplicate_content_is_found(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case(), opening())
    with catalog.transaction("DANUBE") as tx:
        assert tx.exhibits_by_blake3([b3(7)]) == {}
        tx.add_exhibits([sample_exhibit("DANUBE", "BG-EX-0001", "BG", b3(7))])
        same = tx.exhibits_by_blake3([b3(7), b3(9)])  # added earlier in this transaction
        assert {k: e.reference for k, e in same.items()} == {b3(7): "BG-EX-0001"}
        with pytest.raises(InputError, match="already exhibit BG-EX-0001"):
            tx.add_exhibits([sample_exhibit("DANUBE", "ME-EX-0001", "ME", b3(7))])
        with pytest.raises(InputError, match="BG-EX-0001 already exists"):
            tx.add_exhibits([sample_exhibit("DANUBE", "BG-EX-0001", "BG", b3(8))])
    with catalog.transaction("DANUBE") as tx:
        found = tx.exhibits_by_blake3([b3(7)])
        assert found[b3(7)].reference == "BG-EX-0001"
    assert [e.reference for e in catalog.exhibits()] == ["BG-EX-0001"]


def test_add_exhibit_checks_case_and_reference(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case(), opening())
    with catalog.transaction("DANUBE") as tx:
        with pytest.raises(InputError, match="belongs to case RHINE"):
            tx.add_exhibits([sample_exhibit("RHINE", "BG-EX-0001", "BG", b3(1))])
        with pytest.raises(InputError, match="not of the form ME-EX-0001"):
            tx.add_exhibits([sample_exhibit("DANUBE", "BG-EX-0001", "ME", b3(1))])
        with pytest.raises(InputError, match="team DE is not a member"):
            tx.add_exhibits([sample_exhibit("DANUBE", "DE-EX-0001", "DE", b3(1))])
    with pytest.raises(CatalogError, match="transaction on case DANUBE is over"):
        tx.next_exhibit_numbers("BG", 1)[0]


# -- ingest runs ------------------------------------------------------------------


def test_runs_resume_until_finished(catalog: SqlCatalog) -> None:
    catalog.add_case(sample_case(), opening())
    run = catalog.start_run("DANUBE", "BG", "ivanova", "fp-1")
    assert (run.resumed, run.done, run.case_id, run.team) == (False, {}, "DANUBE", "BG")
    with catalog.transaction("DANUBE") as tx:
        tx.mark_done(run.id, {"disk/a.e01": "BG-EX-0001", "disk/b.e01": "BG-EX-0002"})
        tx.mark_done(run.id, {"disk/a.e01": "BG-EX-0001"})  # a retry: no-op
        with pytest.raises(InputError, match="already recorded disk/a.e01 as BG-EX-0001"):
            tx.mark_done(run.id, {"disk/a.e01": "BG-EX-0009"})
    done = {"disk/a.e01": "BG-EX-0001", "disk/b.e01": "BG-EX-0002"}
    assert catalog.run_items(run.id) == done
    assert catalog.run_items(run.id, ["disk/b.e01", "disk/c.e01"]) == {"disk/b.e01": "BG-EX-0002"}

    again = catalog.start_run("DANUBE", "BG", "ivanova", "fp-1")
    assert (again.id, again.resumed, again.done) == (run.id, True, done)
    assert catalog.start_run("DANUBE", "ME", "markovic", "fp-1").id != run.id
    other = catalog.start_run("DANUBE", "BG", "ivanova", "fp-2")
    assert other.id != run.id and not other.resumed

    catalog.finish_run(run.id)
    catalog.finish_run(run.id)  # idempotent
    fresh = catalog.start_run("DANUBE", "BG", "ivanova", "fp-1")
    assert (fresh.resumed, fresh.done) == (False, {}) and fresh.id != run.id
    with pytest.raises(NotFound, match="no ingest run nope"):
        catalog.finish_run("nope")
    with pytest.raises(NotFound, match="no ingest run nope"):
        catalog.run_items("nope")


# -- custody events ---------------------------------------------------------------


def test_events_in_order_and_by_exhibit(
    catalog: SqlCatalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pages_module, "EVENTS_PAGE", 3)  # read in several pages
    catalog.add_case(sample_case(), opening())
    details = {"note": "žalba – Ü", "nested": {"b": [1, True, None], "a": "x"}}
    with catalog.transaction("DANUBE") as tx:
        appended = [
            tx.append(EventDraft("NOTE", "ivanova", "BG", f"BG-EX-000{i % 2 + 1}", details))
            for i in range(7)
        ]
    events = list(catalog.events("DANUBE"))
    assert [e.seq for e in events] == list(range(1, 9))
    assert events[1:] == appended
    assert all(e.at.tzinfo == UTC for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)
    assert [e.seq for e in catalog.events("DANUBE", exhibit="BG-EX-0001")] == [2, 4, 6, 8]
    assert [e.seq for e in catalog.events("DANUBE", action="CASE_OPENED")] == [1]
    assert [e.seq for e in catalog.events("DANUBE", "BG-EX-0002", action="NOTE")] == [3, 5, 7]
    assert verify("DANUBE", catalog.events("DANUBE")).facts.head_hash == appended[-1].hash


def test_event_times_never_go_back(catalog_url: str) -> None:
    """Clocks of several machines differ: an event is never stamped before the head."""

    class BackwardsClock:
        times = iter(START + timedelta(seconds=s) for s in (0, 10, 3, 12))

        def now(self) -> datetime:
            return next(self.times)

    with SqlCatalog(catalog_url, BackwardsClock()) as catalog:
        catalog.migrate()
        catalog.add_case(sample_case(), opening())
        with catalog.transaction("DANUBE") as tx:
            for _ in range(3):
                tx.append(EventDraft("NOTE", "ivanova", "BG"))
        times = [(e.at - START).seconds for e in catalog.events("DANUBE")]
        assert times == [0, 10, 10, 12]
        assert verify("DANUBE", catalog.events("DANUBE")).ok


def test_transaction_holds_the_chain_lock(catalog: SqlCatalog, catalog_url: str) -> None:
    catalog.add_case(sample_case(), opening())
    with catalog.transaction("DANUBE"):
        assert catalog.case("DANUBE").id == "DANUBE"  # readers are not blocked
        if catalog.engine.dialect.name == "sqlite":
            lite = sqlite3.connect(catalog_url.removeprefix("sqlite:///"), timeout=0)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    lite.execute("BEGIN IMMEDIATE")
            finally:
                lite.close()
        else:
            u = catalog.engine.url
            with (
                psycopg.connect(
                    host=u.host,
                    port=u.port,
                    user=u.username,
                    dbname=u.database,
                    options=str(u.query["options"]),
                ) as pg,
                pytest.raises(psycopg.errors.LockNotAvailable),
            ):
                pg.execute("SELECT id FROM cases WHERE id = 'DANUBE' FOR UPDATE NOWAIT")


# -- schema and errors ------------------------------------------------------------


def test_an_0001_catalog_upgrades_with_its_exhibits_kept_as_h0(catalog_url: str) -> None:
    """A catalog made before hand-offs existed keeps every row; its exhibits
    get handling code H0 (JIT purposes), the default of the JIT agreement, and
    each team its count of exhibits."""
    with SqlCatalog(catalog_url, StepClock()) as catalog:
        with catalog.engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
            case = sample_case()
            conn.execute(
                cases.insert().values(
                    id=case.id,
                    title=case.title,
                    agreement_ref=case.agreement_ref,
                    lead_team=case.lead_team,
                    created_at=START,
                )
            )
            for i, team in enumerate(case.teams):
                conn.execute(
                    teams.insert().values(
                        code=team.code, member_state=team.member_state, name=team.name
                    )
                )
                conn.execute(
                    case_teams.insert().values(case_id=case.id, team_code=team.code, position=i)
                )
            old = records.exhibit_values(sample_exhibit(case.id, "BG-EX-0001", "BG", "a" * 64))
            for column in ("handling_code", "handling_note", "purposes"):
                del old[column]
            conn.execute(exhibits.insert().values(old))
            conn.execute(
                exhibit_counters.insert().values(case_id=case.id, team="BG", last_number=1)
            )
        catalog.migrate()
        with catalog.engine.connect() as conn:  # 0008 counted the team's exhibits
            assert conn.execute(select(exhibit_counters.c.exhibit_count)).scalar() == 1
        assert catalog.schema_revision() == "0008"
        upgraded = catalog.exhibit("BG-EX-0001", "DANUBE")
        assert upgraded.handling == Handling()
        assert upgraded == sample_exhibit("DANUBE", "BG-EX-0001", "BG", "a" * 64)


# SQLite cannot reflect an index on an expression (the search's order,
# revision 0008): it is compared on PostgreSQL only.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrate_twice_on_empty_database(catalog_url: str) -> None:
    with SqlCatalog(catalog_url, StepClock()) as catalog:
        with pytest.raises(CatalogError, match="is not migrated.*auto_migrate"):
            catalog.cases()
        assert catalog.schema_revision() is None
        catalog.migrate()
        catalog.add_case(sample_case(), opening())
        catalog.migrate()
        assert catalog.schema_revision() == "0008"  # the head: 0008_exhibit_search
        assert catalog.case("DANUBE") == sample_case()
        with catalog.engine.connect() as conn:
            assert TABLES <= set(inspect(conn).get_table_names())
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []


def test_sqlite_pragmas(tmp_path: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'c.db'}", StepClock())
    with catalog, catalog.engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
        }
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,
        "foreign_keys": 1,
        "busy_timeout": 30000,
    }


def test_unreachable_database_is_named_with_password_masked() -> None:
    url = "postgresql+psycopg://bob:s3cret@127.0.0.1:1/jitev?connect_timeout=3"
    with SqlCatalog(url, StepClock()) as catalog, pytest.raises(CatalogError) as caught:
        catalog.cases()
    message = str(caught.value)
    assert (
        "cannot reach the catalog database at postgresql+psycopg://bob:***@127.0.0.1:1/jitev"
        in message
    )
    assert "s3cret" not in message and "JITEV_DB_URL" in message


def test_sqlite_in_missing_directory(tmp_path: Path) -> None:
    catalog = SqlCatalog(f"sqlite:///{tmp_path / 'nowhere' / 'c.db'}", StepClock())
    with catalog, pytest.raises(CatalogError, match="cannot open the SQLite .*directory exists"):
        catalog.migrate()


@pytest.mark.parametrize("url", ["not a url", "mysql://u@h/db"])
def test_bad_url(url: str) -> None:
    with pytest.raises(CatalogError, match="sqlite:///path/to/jitev.db"):
        SqlCatalog(url, StepClock())
