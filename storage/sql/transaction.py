"""``SqlCaseTransaction``: the ``CaseTransaction`` of ``SqlCatalog``, bound to
one database transaction that holds the case's chain lock (``SELECT ... FOR
UPDATE`` on the case row on PostgreSQL, the ``BEGIN IMMEDIATE`` write lock on
SQLite). Everything done through it commits together or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from evidence.errors import CatalogError, InputError, NotFound
from evidence.ledger import link
from evidence.models import REFERENCE, Case, CustodyEvent, Exhibit
from evidence.ports import Clock, EventDraft
from storage.sql import records
from storage.sql.tables import (
    custody_events,
    exhibit_counters,
    exhibits,
    ingest_run_items,
    ingest_runs,
)

_UNREAD: Any = object()  # the chain head has not been read yet


class SqlCaseTransaction:
    def __init__(self, conn: Connection, case: Case, clock: Clock) -> None:
        self.case = case
        self._conn = conn
        self._clock = clock
        self._head: CustodyEvent | None = _UNREAD
        self._runs: set[str] = set()  # ingest runs already checked to belong to the case
        self._open = True

    def close(self) -> None:
        self._open = False

    def _db(self) -> Connection:
        if not self._open:
            raise CatalogError(
                f"the transaction on case {self.case.id} is over: do this inside "
                "`with catalog.transaction(...)`"
            )
        return self._conn

    def exhibit_by_blake3(self, blake3: str) -> Exhibit | None:
        row = (
            self._db()
            .execute(
                select(exhibits).where(
                    exhibits.c.case_id == self.case.id, exhibits.c.blake3 == blake3
                )
            )
            .first()
        )
        return None if row is None else records.exhibit_from_row(row)

    def next_exhibit_number(self, team: str) -> int:
        self.case.team(team)  # InputError when the team is not a member
        conn = self._db()
        where = (exhibit_counters.c.case_id == self.case.id, exhibit_counters.c.team == team)
        number = conn.execute(
            update(exhibit_counters)
            .where(*where)
            .values(last_number=exhibit_counters.c.last_number + 1)
            .returning(exhibit_counters.c.last_number)
        ).scalar()
        if number is None:
            conn.execute(
                insert(exhibit_counters).values(case_id=self.case.id, team=team, last_number=1)
            )
            number = 1
        return int(number)

    def add_exhibit(self, exhibit: Exhibit) -> None:
        if exhibit.case_id != self.case.id:
            raise InputError(
                f"exhibit {exhibit.reference} belongs to case {exhibit.case_id}, not to case "
                f"{self.case.id}: add it in a transaction on its own case"
            )
        self.case.team(exhibit.team)
        match = REFERENCE.match(exhibit.reference)
        if match is None or match["team"] != exhibit.team:
            raise InputError(
                f"exhibit reference {exhibit.reference!r} is not of the form "
                f"{exhibit.team}-EX-0001: number exhibits with next_exhibit_number"
            )
        conn = self._db()
        same = conn.execute(
            select(exhibits.c.reference, exhibits.c.blake3).where(
                exhibits.c.case_id == self.case.id,
                (exhibits.c.reference == exhibit.reference) | (exhibits.c.blake3 == exhibit.blake3),
            )
        ).first()
        if same is not None and same.reference == exhibit.reference:
            raise InputError(
                f"exhibit {exhibit.reference} already exists in case {self.case.id}: "
                "number new exhibits with next_exhibit_number"
            )
        if same is not None:
            raise InputError(
                f"the content of {exhibit.relative_path} (BLAKE3 {exhibit.blake3}) is already "
                f"exhibit {same.reference} in case {self.case.id}: record a duplicate instead"
            )
        conn.execute(insert(exhibits).values(records.exhibit_values(exhibit)))

    def _chain_head(self) -> CustodyEvent | None:
        if self._head is _UNREAD:
            row = (
                self._db()
                .execute(
                    select(custody_events)
                    .where(custody_events.c.case_id == self.case.id)
                    .order_by(custody_events.c.seq.desc())
                    .limit(1)
                )
                .first()
            )
            self._head = None if row is None else records.event_from_row(row)
        return self._head

    def append(self, draft: EventDraft) -> CustodyEvent:
        """Link the draft after the chain head. The time is taken inside the
        lock and never goes back behind the head's (clocks of several machines
        writing to one PostgreSQL differ), so times follow ``seq``."""
        head = self._chain_head()
        at = self._clock.now()
        if head is not None and at < head.at:
            at = head.at
        event = link(self.case.id, head, draft, at)
        self._db().execute(insert(custody_events).values(records.event_values(event)))
        self._head = event
        return event

    def mark_done(self, run_id: str, source: str, reference: str) -> None:
        conn = self._db()
        if run_id not in self._runs:  # checked once per transaction
            run_case = conn.execute(
                select(ingest_runs.c.case_id).where(ingest_runs.c.id == run_id)
            ).scalar()
            if run_case is None:
                raise NotFound(f"no ingest run {run_id}: start one with start_run")
            if run_case != self.case.id:
                raise InputError(
                    f"ingest run {run_id} belongs to case {run_case}, not to case {self.case.id}"
                )
            self._runs.add(run_id)
        known = conn.execute(
            select(ingest_run_items.c.reference).where(
                ingest_run_items.c.run_id == run_id, ingest_run_items.c.source == source
            )
        ).scalar()
        if known is None:
            conn.execute(
                insert(ingest_run_items).values(run_id=run_id, source=source, reference=reference)
            )
        elif known != reference:
            raise InputError(
                f"ingest run {run_id} already recorded {source} as {known}, not {reference}: "
                "skip the sources in run_items(run_id) when a run is resumed"
            )
