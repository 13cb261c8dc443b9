"""Tampering with a witnessed case log behind jitev's back, on SQLite and
PostgreSQL: plain SQL on the rows, with correct BLAKE3 hashes where a chain is
rewritten (so the hash chain alone verifies). ``audit.verify_case`` fails
and names what disagrees: the first event or row, and the checkpoint or
witness it contradicts. The event rewrites are done again after deleting the
catalog's checkpoints, cosignatures and Merkle tree too: the witnesses, whose
state is outside the database, still expose them."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Connection, text, update

from evidence.models import Action
from evidence.ports import EventDraft
from evidence.tlog import notes
from evidence.tlog.notes import Checkpoint
from storage.sql.catalog import SqlCatalog
from storage.sql.tables import exhibits
from tests.fixtures_sql import StepClock
from tests.integration.log_helpers import (
    CASE,
    EVENTS,
    ORIGIN,
    TEAMS,
    LogCase,
    Template,
    append_forged,
    build,
    copy_of,
    delete_events_from,
    named,
    restore,
    rewrite_event,
    snapshot,
    stored_events,
    swap_events,
    template,
    wipe_log,
)

WIPED = pytest.mark.parametrize("wiped", [False, True], ids=["", "tlog-rows-deleted"])


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Template:
    return template(tmp_path_factory.mktemp("log-case"))


@pytest.fixture
def case(made: Template, catalog: SqlCatalog, clock: StepClock, tmp_path: Path) -> LogCase:
    """The case, in a fresh catalog of each backend."""
    return copy_of(made, catalog, clock, tmp_path / "case")


def tamper(case: LogCase, change: Callable[[Connection], object], wiped: bool = False) -> None:
    with case.catalog.engine.begin() as conn:
        change(conn)
        if wiped:
            wipe_log(conn)


def witnessed(case: LogCase) -> list[int]:
    """The size of each witness's latest cosigned checkpoint."""
    found = []
    for w in case.witnesses:
        latest = w.latest(ORIGIN)
        assert latest is not None
        found.append(Checkpoint.parse(notes.parse(latest).text).size)
    return found


def test_an_untouched_case_verifies_with_its_witnesses(
    catalog: SqlCatalog, clock: StepClock, tmp_path: Path
) -> None:
    case = build(catalog, clock, tmp_path)  # through the services on this backend
    report = case.verify()
    assert report.ok, report.summary
    facts = report.facts
    assert (facts.events, facts.covered, facts.uncovered, facts.exhibits) == (EVENTS, EVENTS, 0, 3)
    assert report.notes == ()
    assert witnessed(case) == [EVENTS] * 3


def test_publishing_again_asks_no_witness_and_gives_the_stored_checkpoint(case: LogCase) -> None:
    """Nothing new since the last publication: every witness has cosigned
    that size already, so none is asked, and the checkpoint handed out is the
    one the catalog keeps (with the cosignatures it stored)."""
    asked: list[str] = []
    for w in case.witnesses:
        cosign = w.add_checkpoint
        w.add_checkpoint = lambda body, w=w, cosign=cosign: asked.append(w.name) or cosign(body)  # type: ignore[method-assign]
    again = case.publish()
    assert again.published and asked == []
    [stored] = [c for c in case.catalog.checkpoints(CASE) if c.size == EVENTS]
    assert again.checkpoint == stored.note
    case.ingest("more.txt")
    assert case.publish().published and sorted(asked) == sorted(TEAMS)


@WIPED
def test_deleting_the_last_events(case: LogCase, wiped: bool) -> None:
    tamper(case, lambda conn: delete_events_from(conn, 15), wiped)
    report = case.verify()
    assert not report.ok and not report.findings_of("chain")  # a shorter chain still holds
    for team in TEAMS:
        named(report, "log", f"witness {team}", "missing", "events 15-17 were removed")
    if not wiped:
        named(report, "log", "checkpoint 16", "missing", "events 15-16 were removed")
        named(report, "log", "checkpoint 17", "missing", "events 15-17 were removed")
    assert report.findings[0].check == "log", report.summary  # the loss first, then the rows
    named(report, "exhibits", "BG-EX-0003", "edited", "catalog handling")  # its H1 event is gone


@WIPED
def test_rewriting_the_chain_from_an_event(case: LogCase, wiped: bool) -> None:
    def rewrite(conn: Connection) -> None:
        approved = stored_events(conn)[10]
        assert approved.action == Action.TRANSFER_APPROVED
        details = {**approved.details, "reason": "Outside the JIT's purposes"}
        rewrite_event(conn, 11, details=details)

    tamper(case, rewrite, wiped)
    report = case.verify()
    assert not report.ok and not report.findings_of("chain")
    for team in TEAMS:
        named(report, "log", f"witness {team}", "rewritten", f"events 1-{EVENTS}")
    if wiped:  # nothing in the catalog tells which event changed: the witnesses' range
        first = named(report, "log", f"events 1-{EVENTS}", "rewritten")
    else:
        first = named(report, "log", "event 11", "rewritten", "checkpoint 12")
        for size in (12, 14, 16, 17):
            named(report, "log", f"checkpoint {size}", "rewritten")
        assert not [f for f in report.findings if f.where in ("checkpoint 8", "checkpoint 10")]
        named(report, "log", "the catalog's Merkle tree", "edited")
    assert "witnesses BG, ME, FR" in first.message
    assert report.findings[0] == first


@WIPED
def test_swapping_two_events(case: LogCase, wiped: bool) -> None:
    tamper(case, lambda conn: swap_events(conn, 15, 16), wiped)
    report = case.verify()
    assert not report.ok and not report.findings_of("chain")
    where = f"events 1-{EVENTS}" if wiped else "event 15"
    assert report.findings[0] == named(report, "log", where, "rewritten", "witnesses BG, ME, FR")
    if not wiped:
        named(report, "log", "checkpoint 16", "rewritten")
    for team in TEAMS:
        named(report, "log", f"witness {team}", "rewritten")


@WIPED
def test_a_forged_ingested_event(case: LogCase, wiped: bool) -> None:
    def forge(conn: Connection) -> None:
        details = {**stored_events(conn)[5].details, "title": "a planted phone"}
        append_forged(
            conn, EventDraft(Action.INGESTED, "Insp. Petrova", "BG", "BG-EX-0004", details)
        )

    tamper(case, forge, wiped)
    report = case.verify()
    assert not report.ok and not report.findings_of("chain")
    named(report, "exhibits", "BG-EX-0004", "missing", "its INGESTED event (18) has no exhibit row")
    assert report.facts.events == EVENTS + 1
    if wiped:  # the witnesses cosigned checkpoints the catalog no longer holds
        for team in TEAMS:
            named(report, "log", f"witness {team}", "missing", f"a checkpoint of {EVENTS} events")
    else:  # the witnesses' checkpoints still hold: only the forged event is not covered
        assert not report.findings_of("log")
        assert report.facts.uncovered == 1


@WIPED
@pytest.mark.parametrize("appended", [1, 6])
def test_a_restored_database_appended_differently(
    case: LogCase, appended: int, wiped: bool
) -> None:
    backup = snapshot(case.catalog.engine)  # 17 events, checkpoints up to 17
    case.ingest("sms.txt", "photo.txt", "notes.txt")  # 20 events, cosigned
    assert case.publish().published
    restore(case.catalog.engine, backup)
    if wiped:
        tamper(case, lambda conn: None, wiped=True)
    case.ingest(*(f"other-{i}.txt" for i in range(appended)))  # 17 + appended events
    size = EVENTS + appended
    publication = case.publish()
    assert (publication.size, publication.published, publication.cosigned) == (size, False, ())
    assert set(publication.missing) == set(TEAMS)
    assert witnessed(case) == [20] * 3  # the witnesses were not rolled back

    report = case.verify()
    assert not report.ok and not report.findings_of("chain")
    if size < 20:
        for team in TEAMS:
            named(report, "log", f"witness {team}", "missing", f"events {size + 1}-20 were removed")
        return
    for team in TEAMS:
        named(report, "log", f"witness {team}", "rewritten", "events 1-20")
        kept = list((case.root / "witnesses" / team / "evidence").iterdir())
        assert len(kept) == 1  # the conflicting signed checkpoint, kept as evidence
        assert f"{ORIGIN}\n{size}\n" in kept[0].read_text()
    # The backup's checkpoints (cosigned by the same witnesses) bound where it diverged.
    where = "events 1-20" if wiped else "events 18-20"
    assert report.findings[0] == named(report, "log", where, "rewritten", "witnesses BG, ME, FR")


def test_an_exhibit_row_deleted(case: LogCase) -> None:
    tamper(
        case, lambda conn: conn.execute(text("DELETE FROM exhibits WHERE reference = 'BG-EX-0003'"))
    )
    report = case.verify()
    assert not report.ok
    named(report, "exhibits", "BG-EX-0003", "missing", "its INGESTED event (8) has no exhibit row")
    assert [f.check for f in report.findings] == ["exhibits"]


SEIZED = datetime(2026, 3, 14, 4, 10, tzinfo=UTC).isoformat()
EDITS = {  # column: (catalog value, what the finding says)
    "title": ("nothing here", "title nothing here differs from the ledger's ledger.txt"),
    "description": (
        "Found at home",
        "description Found at home differs from the ledger's Seized at Kapitan Andreevo",
    ),
    "seized_at": (
        datetime(2026, 3, 15, 4, 10, tzinfo=UTC),
        f"seized_at 2026-03-15T04:10:00+00:00 differs from the ledger's {SEIZED}",
    ),
    "seized_by": ("Insp. Ivanov", "seized_by Insp. Ivanov differs from the ledger's Insp. Petrova"),
    "seized_from": ("Bar", "seized_from Bar differs from the ledger's Van CA 4471 KX"),
    "handling_code": ("H0", 'handling {"code": "H0", "note": "", "purposes": ["jit"]} differs'),
    "status": ("quarantined", "status quarantined differs from the ledger's stored"),
}


@pytest.mark.parametrize("columns", [["title"], list(EDITS)], ids=["title", "every-field"])
def test_an_exhibit_field_edited(case: LogCase, columns: list[str]) -> None:
    """Each field the ledger records is checked on its own: each edit is named."""
    edit = update(exhibits).where(exhibits.c.reference == "BG-EX-0003")
    tamper(case, lambda conn: conn.execute(edit.values({c: EDITS[c][0] for c in columns})))
    report = case.verify()
    assert not report.ok
    for column in columns:
        named(report, "exhibits", "BG-EX-0003", "edited", f"catalog {EDITS[column][1]}")
    assert [f.check for f in report.findings] == ["exhibits"] * len(columns)


@pytest.mark.parametrize("first", ["the same title", "another title"])
def test_details_with_a_duplicate_key(case: LogCase, first: str) -> None:
    """The stored text repeats a key: a JSON reader that keeps the first value
    and one that keeps the last may disagree, so it is never read as the event."""

    def duplicate(conn: Connection) -> None:
        where = "WHERE case_id = :case AND seq = 6"
        stored = conn.execute(text(f"SELECT details FROM custody_events {where}"), {"case": CASE})
        details: str = stored.scalar_one()
        title = json.dumps(json.loads(details)["title"])
        repeated = title if first == "the same title" else '"planted.txt"'
        edited = details.replace(f'"title":{title}', f'"title":{repeated},"title":{title}')
        assert edited != details and json.loads(edited) == json.loads(details)
        conn.execute(
            text(f"UPDATE custody_events SET details = :d {where}"), {"d": edited, "case": CASE}
        )

    tamper(case, duplicate)
    report = case.verify()
    assert not report.ok and report.facts.first_bad == 6
    named(report, "chain", "event 6", "edited", "not their canonical bytes")
    named(report, "exhibits", "BG-EX-0001", "unreadable", "INGESTED event (6) cannot be read")


@pytest.mark.parametrize(
    ("gone", "check", "says"),
    [
        ("decision", "transfers", "its decision as jit_lead of FR points at event 11"),
        ("dispatch", "transfers", "BG-EX-0001 is recorded as dispatched by event 13"),
        ("bundle", "bundles", "its DISCLOSED events name none"),
    ],
)
def test_a_row_pointing_at_events_that_are_gone(
    case: LogCase, gone: str, check: str, says: str
) -> None:
    where, first = case.transfer, {"decision": 11, "dispatch": 13}.get(gone, EVENTS + 1)
    if gone == "bundle":
        where = case.record_bundle(["BG-EX-0001", "BG-EX-0002"]).id
        assert case.publish().published
    size = len(list(case.catalog.events(CASE)))
    tamper(case, lambda conn: delete_events_from(conn, first))
    report = case.verify()
    assert not report.ok and not report.findings_of("chain")
    named(report, check, where, "missing" if check == "transfers" else "edited", says)
    for team in TEAMS:
        named(report, "log", f"witness {team}", "missing", f"events {first}-{size} were removed")


def test_the_case_can_be_appended_to_after_its_last_events_were_deleted(case: LogCase) -> None:
    """The catalog's tree still has the deleted events' nodes: they are dropped
    (derived data), the work goes on, and the witnesses refuse the shorter log."""
    tamper(case, lambda conn: delete_events_from(conn, 15))
    case.ingest("later.txt")
    publication = case.publish()
    assert (publication.size, publication.published) == (15, False)
    assert all("cosigned a tree of 17 events" in why for why in publication.missing.values())
    report = case.verify()
    assert not report.findings_of("chain")
    named(report, "log", "checkpoint 17", "missing", "events 16-17 were removed")
    named(report, "log", "witness BG", "missing", "events 16-17 were removed")


def test_a_bundle_row_with_another_root_digest(case: LogCase) -> None:
    """A bundle row is bound to its DISCLOSED events and to the digest its
    BUNDLE_SEALED event sealed: an edited row is named by both."""
    bundle = case.record_bundle(["BG-EX-0001"])
    assert case.verify().ok
    edit = text("UPDATE bundles SET root_digest = :d WHERE id = :id")
    tamper(case, lambda conn: conn.execute(edit, {"d": "e" * 64, "id": bundle.id}))
    report = case.verify()
    assert not report.ok and [f.check for f in report.findings] == ["bundles", "bundles"]
    named(report, "bundles", bundle.id, "edited", "differ from its DISCLOSED event")
    named(report, "bundles", bundle.id, "edited", "the one its BUNDLE_SEALED event")
