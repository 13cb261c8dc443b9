"""``SqlCaseTransaction``: the ``CaseTransaction`` of ``SqlCatalog``, bound to
one database transaction that holds the case's chain lock (``SELECT ... FOR
UPDATE`` on the case row on PostgreSQL, the ``BEGIN IMMEDIATE`` write lock on
SQLite). Everything done through it commits together or not at all.

Appended events and their Merkle tree nodes are written in batches: kept in
the transaction and inserted together (one ``executemany`` each) before its
next other statement, and at its end (``flush``, which ``SqlCatalog.transaction``
calls before it commits), so a block of many appends costs few statements.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, update
from sqlalchemy import exc as sa_exc

from evidence.errors import CatalogError, IllegalTransition, InputError, NotFound
from evidence.ledger import canonical_json, link
from evidence.models import (
    REFERENCE,
    Bundle,
    Case,
    CustodyEvent,
    Decision,
    Exhibit,
    Handling,
    Holding,
    Receipt,
    Transfer,
    TransferState,
)
from evidence.ports import Clock, EventDraft
from evidence.tlog.merkle import Frontier
from evidence.transfers import NEXT_STEP, TRANSITIONS
from storage.sql import records, tlog
from storage.sql import transfers as transfer_queries
from storage.sql.tables import (
    bundles,
    custody_events,
    exhibit_counters,
    exhibits,
    ingest_run_items,
    ingest_runs,
    receipts,
    transfer_decisions,
    transfer_items,
    transfers,
    tree_nodes,
)

_UNREAD: Any = object()  # the chain head has not been read yet


def _insert_many(conn: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values in the table's column order) with one
    ``executemany`` of the driver: SQLAlchemy's handling of each row's
    parameters costs about as much as SQLite's insert itself."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"  # sqlite3; psycopg
    names = ", ".join(c.name for c in table.columns)
    marks = ", ".join([mark] * len(table.columns))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


class SqlCaseTransaction:
    def __init__(self, conn: Connection, case: Case, clock: Clock) -> None:
        self.case = case
        self._conn = conn
        self._clock = clock
        self._head: CustodyEvent | None = _UNREAD
        self._tree: Frontier | None = None  # the Merkle tree's right edge, once read
        self._runs: set[str] = set()  # ingest runs already checked to belong to the case
        self._events: list[dict[str, Any]] = []  # appended, not yet inserted
        self._nodes: list[tuple[int, int, bytes]] = []  # their tree nodes, not yet inserted
        self._open = True

    def close(self) -> None:
        self._open = False

    def flush(self) -> None:
        """Insert the appended events and tree nodes still kept."""
        if self._events:
            names = [c.name for c in custody_events.columns]
            rows = [tuple(v[n] for n in names) for v in self._events]
            _insert_many(self._conn, custody_events, rows)
            self._events = []
        if self._nodes:
            case_id = self.case.id
            _insert_many(self._conn, tree_nodes, [(case_id, *node) for node in self._nodes])
            self._nodes = []

    def _live(self) -> None:
        if not self._open:
            raise CatalogError(
                f"the transaction on case {self.case.id} is over: do this inside "
                "`with catalog.transaction(...)`"
            )

    def _db(self) -> Connection:
        self._live()
        self.flush()  # every statement runs after the appends before it
        return self._conn

    def exhibits_by_blake3(self, digests: Collection[str]) -> dict[str, Exhibit]:
        return exhibits_by_blake3(self._db(), self.case.id, digests)

    def next_exhibit_numbers(self, team: str, count: int) -> range:
        self.case.team(team)  # InputError when the team is not a member
        if count < 1:
            raise InputError(f"ask for at least one exhibit number, not {count}")
        conn = self._db()
        where = (exhibit_counters.c.case_id == self.case.id, exhibit_counters.c.team == team)
        last = conn.execute(
            update(exhibit_counters)
            .where(*where)
            .values(last_number=exhibit_counters.c.last_number + count)
            .returning(exhibit_counters.c.last_number)
        ).scalar()
        if last is None:
            conn.execute(
                insert(exhibit_counters).values(case_id=self.case.id, team=team, last_number=count)
            )
            last = count
        return range(int(last) - count + 1, int(last) + 1)

    def add_exhibits(self, new: Sequence[Exhibit]) -> None:
        for exhibit in new:
            self._check_exhibit(exhibit)
        references = {e.reference for e in new}
        contents = {e.blake3: e for e in new}
        if len(references) < len(new) or len(contents) < len(new):
            raise InputError(
                "two of the exhibits to add have the same reference or the same content: "
                "number each with next_exhibit_numbers and record a duplicate for the second"
            )
        conn = self._db()
        for refs, digests in zip(
            records.in_parts(sorted(references)), records.in_parts(sorted(contents)), strict=True
        ):
            same = conn.execute(
                select(exhibits.c.reference, exhibits.c.blake3).where(
                    exhibits.c.case_id == self.case.id,
                    exhibits.c.reference.in_(refs) | exhibits.c.blake3.in_(digests),
                )
            ).first()
            if same is not None and same.reference in references:
                raise InputError(
                    f"exhibit {same.reference} already exists in case {self.case.id}: "
                    "number new exhibits with next_exhibit_numbers"
                )
            if same is not None:
                exhibit = contents[same.blake3]
                raise InputError(
                    f"the content of {exhibit.relative_path} (BLAKE3 {exhibit.blake3}) is "
                    f"already exhibit {same.reference} in case {self.case.id}: record a "
                    "duplicate instead"
                )
        if new:
            conn.execute(insert(exhibits), [records.exhibit_values(e) for e in new])
        for team, added in Counter(e.team for e in new).items():
            where = (exhibit_counters.c.case_id == self.case.id, exhibit_counters.c.team == team)
            counted = conn.execute(
                update(exhibit_counters)
                .where(*where)
                .values(exhibit_count=exhibit_counters.c.exhibit_count + added)
            ).rowcount
            if not counted:  # numbered without next_exhibit_numbers: from these numbers on
                last = max(int(e.reference.rsplit("-", 1)[1]) for e in new if e.team == team)
                conn.execute(
                    insert(exhibit_counters).values(
                        case_id=self.case.id, team=team, last_number=last, exhibit_count=added
                    )
                )

    def _check_exhibit(self, exhibit: Exhibit) -> None:
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
                f"{exhibit.team}-EX-0001: number exhibits with next_exhibit_numbers"
            )

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
        self._live()
        head = self._chain_head()
        at = self._clock.now()
        if head is not None and at < head.at:
            at = head.at
        event = link(self.case.id, head, draft, at)
        if self._tree is None:  # read (or rebuilt) from the events before this one
            self._tree = tlog.frontier(self._db(), self.case.id, event.seq - 1)
        self._events.append(records.event_values(event))
        self._nodes += self._tree.append(bytes.fromhex(event.hash))
        self._head = event
        return event

    def mark_done(
        self, run_id: str, done: Mapping[str, str], identities: Mapping[str, str] | None = None
    ) -> None:
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
        known: dict[str, str] = {}
        for part in records.in_parts(sorted(done)):
            rows = conn.execute(
                select(ingest_run_items.c.source, ingest_run_items.c.reference).where(
                    ingest_run_items.c.run_id == run_id, ingest_run_items.c.source.in_(part)
                )
            )
            known.update((row.source, row.reference) for row in rows)
        for source, reference in known.items():
            if done[source] != reference:
                raise InputError(
                    f"ingest run {run_id} already recorded {source} as {reference}, not "
                    f"{done[source]}: skip the sources in run_items(run_id) when a run is resumed"
                )
        identities = identities or {}
        new = [
            {
                "run_id": run_id,
                "source": source,
                "reference": reference,
                "identity": identities.get(source, ""),
            }
            for source, reference in done.items()
            if source not in known
        ]
        if new:
            conn.execute(insert(ingest_run_items), new)

    # -- hand-offs -----------------------------------------------------------------

    def exhibit(self, reference: str) -> Exhibit:
        row = (
            self._db()
            .execute(
                select(exhibits).where(
                    exhibits.c.case_id == self.case.id, exhibits.c.reference == reference
                )
            )
            .first()
        )
        if row is None:
            raise NotFound(
                f"no exhibit {reference} in case {self.case.id}: list them with "
                f"`jitev exhibits list --case {self.case.id}`"
            )
        return records.exhibit_from_row(row)

    def holdings(self, reference: str) -> list[Holding]:
        return transfer_queries.holdings(self._db(), self.case.id, reference).get(reference, [])

    def set_handling(self, reference: str, handling: Handling) -> None:
        self.exhibit(reference)  # NotFound
        self._db().execute(
            update(exhibits)
            .where(exhibits.c.case_id == self.case.id, exhibits.c.reference == reference)
            .values(records.handling_values(handling))
        )

    def _next_transfer_number(self) -> int:
        last = (
            self._db()
            .execute(
                select(func.max(transfers.c.number)).where(transfers.c.case_id == self.case.id)
            )
            .scalar()
        )
        return int(last or 0) + 1

    def next_transfer_id(self) -> str:
        return f"{self.case.id}-T-{self._next_transfer_number():04d}"

    def add_transfer(self, transfer: Transfer) -> None:
        if transfer.case_id != self.case.id or not transfer.id.startswith(f"{self.case.id}-T-"):
            raise InputError(
                f"transfer {transfer.id} does not belong to case {self.case.id}: number it "
                "with next_transfer_id"
            )
        number = int(transfer.id.rsplit("-", 1)[1])
        conn = self._db()
        conn.execute(insert(transfers).values(records.transfer_values(transfer, number)))
        conn.execute(
            insert(transfer_items),
            [records.item_values(transfer.id, i, item) for i, item in enumerate(transfer.items)],
        )

    def transfer(self, transfer_id: str) -> Transfer:
        found = transfer_queries.load_transfer(self._db(), transfer_id)
        if found.case_id != self.case.id:
            raise InputError(
                f"transfer {transfer_id} belongs to case {found.case_id}, not to {self.case.id}"
            )
        return found

    def add_decision(self, transfer_id: str, decision: Decision) -> None:
        try:  # a failed insert ends the transaction: nothing of the decision stays
            self._db().execute(
                insert(transfer_decisions).values(
                    transfer_id=transfer_id,
                    capacity=decision.capacity.value,
                    team=decision.team,
                    person=decision.person,
                    approved=decision.approved,
                    reason=decision.reason,
                    at=decision.at,
                    seq=decision.seq,
                )
            )
        except sa_exc.IntegrityError as exc:
            raise IllegalTransition(
                f"transfer {transfer_id} already has a decision as {decision.capacity.value} "
                f"of {decision.team}: look at the transfer again",
                transfer_id=transfer_id,
                state=TransferState.REQUESTED.value,
            ) from exc

    def set_transfer_state(self, transfer_id: str, state: TransferState, failure: str = "") -> None:
        current = self.transfer(transfer_id).state
        if state not in TRANSITIONS[current]:
            raise IllegalTransition(
                f"transfer {transfer_id} is {current.value} and cannot become {state.value}: "
                f"{NEXT_STEP[current]}",
                transfer_id=transfer_id,
                state=current.value,
            )
        done = self._db().execute(
            update(transfers)
            .where(transfers.c.id == transfer_id, transfers.c.state == current.value)
            .values(state=state.value, failure=failure)
        )
        if done.rowcount != 1:  # pragma: no cover - the chain lock serialises writers
            raise IllegalTransition(
                f"transfer {transfer_id} changed meanwhile: look at it again",
                transfer_id=transfer_id,
            )

    def mark_dispatched(self, transfer_id: str, reference: str, seq: int) -> None:
        done = self._db().execute(
            update(transfer_items)
            .where(
                transfer_items.c.transfer_id == transfer_id,
                transfer_items.c.reference == reference,
                transfer_items.c.dispatched_seq.is_(None),
            )
            .values(dispatched_seq=seq)
        )
        if done.rowcount != 1:
            raise IllegalTransition(
                f"exhibit {reference} of transfer {transfer_id} is not waiting for dispatch",
                transfer_id=transfer_id,
            )

    def add_receipt(self, receipt: Receipt) -> None:
        self._db().execute(
            insert(receipts).values(
                transfer_id=receipt.transfer_id,
                payload=canonical_json(receipt.payload).decode("utf-8"),
                signature=receipt.signature,
                key_fingerprint=receipt.key_fingerprint,
            )
        )

    # -- disclosure bundles -------------------------------------------------------

    def next_bundle_id(self, team: str) -> str:
        last = (
            self._db()
            .execute(
                select(func.max(bundles.c.number)).where(
                    bundles.c.case_id == self.case.id, bundles.c.team == team
                )
            )
            .scalar()
        )
        return f"{self.case.id}-{team}-B-{int(last or 0) + 1:04d}"

    def add_bundle(self, bundle: Bundle) -> None:
        if not bundle.id.startswith(f"{self.case.id}-{bundle.team}-B-"):
            raise InputError(f"bundle {bundle.id} is not numbered by next_bundle_id")
        number = int(bundle.id.rsplit("-", 1)[1])
        self._db().execute(insert(bundles).values(records.bundle_values(bundle, number)))


def exhibits_by_blake3(
    conn: Connection, case_id: str, digests: Collection[str]
) -> dict[str, Exhibit]:
    """The case's exhibits with these contents, by BLAKE3 (one query a few hundred)."""
    found: dict[str, Exhibit] = {}
    for part in records.in_parts(sorted(set(digests))):
        rows = conn.execute(
            select(exhibits).where(exhibits.c.case_id == case_id, exhibits.c.blake3.in_(part))
        )
        found.update((row.blake3, records.exhibit_from_row(row)) for row in rows)
    return found
