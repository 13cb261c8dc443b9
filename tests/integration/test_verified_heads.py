"""The ledger page's incremental verification (``evidence.verified``), on
SQLite and PostgreSQL: a look checks only the events after the head the
server verified last (kept outside the catalog), finds tampering after it at
once, and leaves tampering before it to the full verification, which finds
it and makes every later look start from the first event again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from evidence import audit, verified
from evidence.models import Action, Person, Role
from evidence.ports import EventDraft
from storage.sql.catalog import SqlCatalog
from storage.verified import FileVerifiedHeads
from tests.fixtures_sql import StepClock, opening, register_people, sample_case

CASE = "DANUBE"


@pytest.fixture
def heads(tmp_path: Path) -> FileVerifiedHeads:
    return FileVerifiedHeads(tmp_path / "verified")


@pytest.fixture
def auditor(catalog: SqlCatalog) -> Person:
    people = register_people(catalog)
    catalog.add_case(sample_case(), opening())
    return next(p for p in people if p.has(Role.AUDITOR))


def append(catalog: SqlCatalog, count: int) -> None:
    for i in range(count):
        with catalog.transaction(CASE) as tx:
            tx.append(EventDraft(Action.INGESTED, "ivanova", "BG", f"BG-EX-{i:04d}", {"i": i}))


def edit(catalog: SqlCatalog, seq: int) -> None:
    """A field changed behind jitev's back, the stored hash kept."""
    with catalog.engine.begin() as conn:
        conn.execute(
            text("UPDATE custody_events SET actor = 'someone' WHERE case_id = :c AND seq = :s"),
            {"c": CASE, "s": seq},
        )


def test_a_look_after_new_events_checks_only_the_new_ones(
    catalog: SqlCatalog, heads: FileVerifiedHeads, auditor: Person, clock: StepClock
) -> None:
    append(catalog, 5)
    first = verified.look_case(catalog, heads, auditor, CASE, clock.now())
    assert first.ok and first.facts.checked == 6 and first.facts.since == 0  # from event 1
    assert heads.get(CASE) is not None and heads.get(CASE).seq == 6  # type: ignore[union-attr]

    again = verified.look_case(catalog, heads, auditor, CASE, clock.now())
    assert again.ok and again.facts.checked == 0 and again.facts.head_seq == 6

    append(catalog, 3)
    later = verified.look_case(catalog, heads, auditor, CASE, clock.now())
    assert later.ok and (later.facts.since, later.facts.checked, later.facts.head_seq) == (6, 3, 9)
    assert later.facts.head_hash == list(catalog.events(CASE))[-1].hash


def test_tampering_after_the_verified_point_is_found_on_the_next_look(
    catalog: SqlCatalog, heads: FileVerifiedHeads, auditor: Person, clock: StepClock
) -> None:
    append(catalog, 3)
    assert verified.look_case(catalog, heads, auditor, CASE, clock.now()).ok
    append(catalog, 4)
    edit(catalog, 6)
    look = verified.look_case(catalog, heads, auditor, CASE, clock.now())
    assert not look.ok and look.facts.first_bad == 6
    assert [f.where for f in look.findings] == ["event 6"]
    assert heads.get(CASE).seq == 4  # type: ignore[union-attr]  # not moved past the break
    assert not verified.look_case(catalog, heads, auditor, CASE, clock.now()).ok  # and again


def test_a_rewrite_of_the_verified_head_itself_is_found(
    catalog: SqlCatalog, heads: FileVerifiedHeads, auditor: Person, clock: StepClock
) -> None:
    append(catalog, 3)
    assert verified.look_case(catalog, heads, auditor, CASE, clock.now()).ok
    edit(catalog, 4)  # the head the look recorded
    look = verified.look_case(catalog, heads, auditor, CASE, clock.now())
    assert not look.ok and look.findings[0].where == "event 4"
    assert "run the full verification" in look.findings[0].message


def test_the_full_verification_finds_tampering_before_the_verified_point(
    catalog: SqlCatalog, heads: FileVerifiedHeads, auditor: Person, clock: StepClock
) -> None:
    append(catalog, 5)
    assert verified.look_case(catalog, heads, auditor, CASE, clock.now()).ok
    edit(catalog, 2)
    # A look trusts what it verified before: event 2 is not recomputed.
    assert verified.look_case(catalog, heads, auditor, CASE, clock.now()).ok

    full = audit.audit_case(catalog, auditor, CASE)
    assert not full.ok and full.facts.first_bad == 2
    after = verified.full_case(catalog, heads, CASE, clock.now(), full.ok)
    assert not after.ok and after.facts.first_bad == 2
    assert heads.get(CASE) is None  # forgotten: every look starts from the first event
    look = verified.look_case(catalog, heads, auditor, CASE, clock.now())
    assert not look.ok and look.facts.first_bad == 2 and look.facts.since == 0


def test_a_passing_full_verification_records_its_time(
    catalog: SqlCatalog, heads: FileVerifiedHeads, auditor: Person, clock: StepClock
) -> None:
    append(catalog, 2)
    # (these events mirror no exhibit rows: the audit's row checks would fail)
    after = verified.full_case(catalog, heads, CASE, clock.now(), True)
    assert after.ok and after.facts.checked == 3 and after.facts.full_at is not None
    append(catalog, 1)
    look = verified.look_case(catalog, heads, auditor, CASE, clock.now())
    assert look.facts.checked == 1 and look.facts.full_at == after.facts.full_at


def test_an_unreadable_record_means_a_look_from_the_first_event(
    catalog: SqlCatalog, heads: FileVerifiedHeads, auditor: Person, clock: StepClock
) -> None:
    append(catalog, 2)
    assert verified.look_case(catalog, heads, auditor, CASE, clock.now()).ok
    for path in heads.folder.glob("*.json"):
        path.write_text("{not json")
    look = verified.look_case(catalog, heads, auditor, CASE, clock.now())
    assert look.ok and look.facts.checked == 3
