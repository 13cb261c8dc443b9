"""Pages of the catalog's long lists (``evidence.paging``), for
``SqlCatalog``: a keyset on the rows' sort key, through an index, and a count.

- custody events: keyset on ``seq`` within the case, through the primary key
  ``(case_id, seq)`` or, filtered, the indexes ``(case_id, exhibit, seq)`` and
  ``(case_id, action, seq)``; an actor filter is applied on those rows;
- the access log: keyset on ``seq`` (its primary key; by action, the index
  ``(action, seq)``);
- transfers: who may see a transfer is the policy's, asked in Python, so the
  cases' transfer rows alone (no items, decisions or receipts) are read in
  (case, number) order, filtered and windowed, and only the page's transfers
  are loaded whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, func, select

from evidence.models import CustodyEvent, Transfer, TransferState
from evidence.paging import Cursor, Page, check_key, of_list, window
from storage.sql import records
from storage.sql.access import COLUMNS as ACCESS_COLUMNS
from storage.sql.tables import access_events, custody_events, transfers
from storage.sql.transfers import load_transfers

EVENTS_PAGE = 5000  # events read at a time: memory stays bounded, queries few


def stream_events(
    read: Callable[[], AbstractContextManager[Connection]],
    case_id: str,
    exhibit: str | None,
    action: str | None,
    after: int,
) -> Iterator[CustodyEvent]:
    """A case's events after seq ``after``, in seq order, read ``EVENTS_PAGE``
    at a time, each page in a connection of its own (``read``): memory stays
    bounded, and no connection is held between pages."""
    c = custody_events.c
    parse_time, parse_details = records.parse_time, records.parse_details
    while True:
        # the columns in CustodyEvent's order, unpacked: reading a Row's
        # attributes by name costs more than the rest of the conversion
        query = select(
            c.case_id,
            c.seq,
            c.exhibit,
            c.action,
            c.actor,
            c.team,
            c.at,
            c.details,
            c.prev_hash,
            c.hash,
        ).where(c.case_id == case_id)
        if exhibit is not None:
            query = query.where(c.exhibit == exhibit)
        if action is not None:
            query = query.where(c.action == action)
        if after:
            query = query.where(c.seq > after)
        query = query.order_by(c.seq).limit(EVENTS_PAGE)
        with read() as conn:
            page = [
                CustodyEvent(
                    case, seq, ex, act, actor, team, parse_time(at), parse_details(d), prev, h
                )
                for case, seq, ex, act, actor, team, at, d, prev, h in conn.execute(query)
            ]
        yield from page
        if len(page) < EVENTS_PAGE:
            return
        after = page[-1].seq


def _seq_page(
    conn: Connection,
    table: Table,
    query: Select[Any],
    seq: ColumnElement[int],
    where: list[ColumnElement[bool]],
    cursor: Cursor | None,
    limit: int,
) -> Page[CustodyEvent]:
    total = int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar() or 0)
    at = checked.key[0] if (checked := check_key(cursor, int)) else None
    if at is None:
        keyed = query.where(*where).order_by(seq)
    elif cursor is not None and cursor.forward:
        keyed = query.where(*where, seq > at).order_by(seq)
    else:
        keyed = query.where(*where, seq < at).order_by(seq.desc())
    rows = [records.event_from_row(r) for r in conn.execute(keyed.limit(limit + 1))]
    return window(rows, lambda e: (e.seq,), cursor, limit, total)


def event_page(
    conn: Connection,
    case_id: str,
    cursor: Cursor | None,
    limit: int,
    *,
    exhibit: str | None,
    action: str | None,
    actor: str | None,
) -> Page[CustodyEvent]:
    c = custody_events.c
    where = [c.case_id == case_id]
    if exhibit is not None:
        where.append(c.exhibit == exhibit)
    if action is not None:
        where.append(c.action == action)
    if actor is not None:
        where.append(c.actor == actor)
    return _seq_page(conn, custody_events, select(custody_events), c.seq, where, cursor, limit)


def access_page(
    conn: Connection, cursor: Cursor | None, limit: int, *, action: str | None, actor: str | None
) -> Page[CustodyEvent]:
    c = access_events.c
    where: list[ColumnElement[bool]] = []
    if action is not None:
        where.append(c.action == action)
    if actor is not None:
        where.append(c.actor == actor)
    return _seq_page(conn, access_events, select(*ACCESS_COLUMNS), c.seq, where, cursor, limit)


def transfer_page(
    conn: Connection,
    case_ids: Sequence[str],
    visible: Callable[[Transfer], bool],
    cursor: Cursor | None,
    limit: int,
    state: TransferState | None,
) -> Page[Transfer]:
    check_key(cursor, str, int)
    t = transfers.c
    query = select(transfers).where(t.case_id.in_(list(case_ids))).order_by(t.case_id, t.number)
    if state is not None:
        query = query.where(t.state == state.value)
    seen = [r for r in conn.execute(query) if visible(records.transfer_from_rows(r, (), (), None))]
    rows = of_list(seen, lambda r: (r.case_id, r.number), cursor, limit)
    ids = [r.id for r in rows.items]
    loaded = {x.id: x for x in load_transfers(conn, *ids)} if ids else {}
    return rows.map(lambda r: loaded[r.id])
