"""Tampering with the stored custody chain behind jitev's back (plain SQL on
the rows) is caught by ``evidence.ledger.verify`` reading the chain back
through the catalog, which names the first bad event and what happened to it.
Same on SQLite and PostgreSQL: the stored text is what was hashed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Connection, text

from evidence.ledger import UNPARSEABLE, event_hash, verify
from evidence.models import Action
from evidence.ports import EventDraft
from storage.sql.catalog import SqlCatalog
from tests.fixtures_sql import opening, sample_case

EVENTS = 10
Tamper = Callable[[Connection], None]


def build_chain(catalog: SqlCatalog) -> str:
    """A case with ``EVENTS`` custody events; returns the head hash."""
    catalog.add_case(sample_case(), opening())
    head = ""
    for i in range(2, EVENTS + 1):
        with catalog.transaction("DANUBE") as tx:
            event = tx.append(
                EventDraft(
                    Action.INGESTED, "ivanova", "BG", f"BG-EX-{i:04d}", {"i": i, "note": "ok"}
                )
            )
            head = event.hash
    return head


def sql(statement: str, **params: Any) -> Tamper:
    def run(conn: Connection) -> None:
        result = conn.execute(text(statement), {"case": "DANUBE", **params})
        assert result.rowcount == 1

    return run


def swap(a: int, b: int) -> Tamper:
    """Swap two rows' seq through a temporary seq (the primary key)."""
    move = "UPDATE custody_events SET seq = :to WHERE case_id = :case AND seq = :frm"

    def run(conn: Connection) -> None:
        for frm, to in ((a, 1_000_000), (b, a), (1_000_000, b)):
            conn.execute(text(move), {"case": "DANUBE", "frm": frm, "to": to})

    return run


WHERE = "WHERE case_id = :case AND seq = :seq"
CASES: dict[str, tuple[Tamper, int, str]] = {
    "details edited": (
        sql(f"UPDATE custody_events SET details = :d {WHERE}", d='{"i":4,"note":"moved"}', seq=4),
        4,
        "edited",
    ),
    "actor edited": (
        sql(f"UPDATE custody_events SET actor = 'mallory' {WHERE}", seq=6),
        6,
        "edited",
    ),
    "exhibit edited": (
        sql(f"UPDATE custody_events SET exhibit = 'BG-EX-0099' {WHERE}", seq=9),
        9,
        "edited",
    ),
    "time edited": (
        sql(f"UPDATE custody_events SET at = '2030-01-01T00:00:00.000000Z' {WHERE}", seq=3),
        3,
        "edited",
    ),
    "time unreadable": (
        sql(f"UPDATE custody_events SET at = 'yesterday' {WHERE}", seq=3),
        3,
        "edited",
    ),
    "row deleted": (sql(f"DELETE FROM custody_events {WHERE}", seq=5), 5, "missing"),
    "last row deleted": (sql(f"DELETE FROM custody_events {WHERE}", seq=EVENTS), 0, "head"),
    "rows swapped": (swap(3, 7), 3, "reordered"),
    "prev_hash changed": (
        sql(f"UPDATE custody_events SET prev_hash = :h {WHERE}", h="ab" * 32, seq=8),
        8,
        "bad link",
    ),
    "details not json": (
        sql(f"UPDATE custody_events SET details = :d {WHERE}", d='{"i":5,"note":', seq=5),
        5,
        "edited",
    ),
    "details a float": (
        sql(f"UPDATE custody_events SET details = :d {WHERE}", d='{"i":5.5}', seq=5),
        5,
        "edited",
    ),
}


def test_untouched_chain_verifies(catalog: SqlCatalog) -> None:
    head = build_chain(catalog)
    result = verify("DANUBE", catalog.events("DANUBE"))
    facts = result.facts
    assert (result.ok, facts.events, facts.head_seq, facts.head_hash) == (
        True,
        EVENTS,
        EVENTS,
        head,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_tampering_is_named(catalog: SqlCatalog, name: str) -> None:
    head = build_chain(catalog)
    tamper, seq, kind = CASES[name]
    with catalog.engine.begin() as conn:
        tamper(conn)

    result = verify("DANUBE", catalog.events("DANUBE"))
    if kind == "head":
        # Deleting the newest events leaves a valid, shorter chain: only the
        # head hash written down elsewhere (a receipt, a bundle) shows it.
        assert result.ok and result.facts.head_seq == EVENTS - 1
        assert result.facts.head_hash != head
        return
    assert not result.ok, name
    [problem] = result.findings
    assert (result.facts.first_bad, problem.kind) == (seq, kind), problem.text()
    assert result.facts.events == seq - 1  # every event before the bad one still holds


def test_unparseable_details_are_shown_raw(catalog: SqlCatalog) -> None:
    build_chain(catalog)
    with catalog.engine.begin() as conn:
        sql(f"UPDATE custody_events SET details = 'not json' {WHERE}", seq=2)(conn)
    event = next(e for e in catalog.events("DANUBE") if e.seq == 2)
    assert event.details == {UNPARSEABLE: "not json"}


def test_rehashing_an_edited_event_breaks_the_next_link(catalog: SqlCatalog) -> None:
    """Edit event 4 and store its correct new hash: event 4 then holds, and
    event 5 no longer links to it."""
    build_chain(catalog)
    original = next(e for e in catalog.events("DANUBE") if e.seq == 4)
    forged = event_hash(replace(original, actor="mallory"))
    with catalog.engine.begin() as conn:
        sql(f"UPDATE custody_events SET actor = 'mallory', hash = :h {WHERE}", h=forged, seq=4)(
            conn
        )
    result = verify("DANUBE", catalog.events("DANUBE"))
    assert (result.facts.first_bad, result.findings[0].kind) == (5, "bad link")
