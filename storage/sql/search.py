"""Exhibit search and bundle selections in SQL (``evidence.search``), mixed
into ``SqlCatalog``.

Visibility is part of the query, from the ``ExhibitScope`` the policy gave:
the cases' exhibits, and in the ``held`` cases only those of the person's
team or received by it (the received ones as one uncorrelated
``(case_id, reference) IN (...)`` over the completed hand-offs to the team).

Each filter is a condition an index can serve: the search's order from
``ix_exhibits_search_order`` (case, team, length(reference), reference,
so that a page is read in order, never sorted, and its cursor is a row
comparison on those four), a hash prefix as the range ``prefix <= hash <
prefix_end`` on ``(case_id, sha256)`` and on the unique ``(case_id, blake3)``
(never LIKE), a media type on ``(case_id, media_type)``, a seizure time on
``(case_id, seized_at)``. The text filter is a case-insensitive substring
(``lower(...) LIKE`` on SQLite, ``ILIKE`` on PostgreSQL; SQLite folds only
ASCII letters): a scan of the case's rows. A page's total is a count of
the rows that match, but for a list filtered by case and team alone: that is
read from each team's ``exhibit_count`` (``exhibit_counters``, kept by
``add_exhibits``)."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    Text,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    tuple_,
)

from evidence.errors import InputError, NotFound
from evidence.models import Exhibit, TransferState
from evidence.paging import Cursor, Page, check_key, window
from evidence.search import ExhibitFilter, ExhibitScope, Selection, order_key, prefix_end
from storage.sql import records
from storage.sql.tables import (
    exhibit_counters,
    exhibits,
    selection_items,
    selections,
    transfer_items,
    transfers,
)

x = exhibits.c
ORDER = (x.case_id, x.team, func.length(x.reference), x.reference)


def _hash_range(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    end = prefix_end(prefix)
    return column >= prefix if end is None else and_(column >= prefix, column < end)


def _cases(scope: ExhibitScope, match: ExhibitFilter) -> list[str]:
    return [c for c in (*scope.every, *scope.held) if match.case in (None, c)]


def _received(scope: ExhibitScope, held: list[str]) -> Select[tuple[str, str]]:
    """The (case, reference) of what the scope's team received in ``held``."""
    t = transfers.c
    return (
        select(t.case_id, transfer_items.c.reference)
        .join(transfers, t.id == transfer_items.c.transfer_id)
        .where(
            t.case_id.in_(held),
            t.to_team == scope.team,
            t.state == TransferState.RECEIVED.value,
        )
    )


def conditions(scope: ExhibitScope, match: ExhibitFilter) -> list[ColumnElement[bool]]:
    """The WHERE of a search: the scope's visibility, then the filter."""
    cases = _cases(scope, match)
    where: list[ColumnElement[bool]] = [
        x.case_id == cases[0] if len(cases) == 1 else x.case_id.in_(cases)
    ]
    held = [c for c in scope.held if c in cases]
    if held:
        ours = or_(x.team == scope.team, tuple_(x.case_id, x.reference).in_(_received(scope, held)))
        every = [c for c in scope.every if c in cases]
        where.append(or_(x.case_id.in_(every), ours) if every else ours)
    if match.text is not None:
        where.append(
            or_(
                *(
                    col.icontains(match.text, autoescape=True)
                    for col in (x.reference, x.title, x.description)
                )
            )
        )
    if match.hash_prefix is not None:
        where.append(
            or_(_hash_range(x.sha256, match.hash_prefix), _hash_range(x.blake3, match.hash_prefix))
        )
    if match.media_type is not None:
        m = match.media_type
        where.append(
            x.media_type.startswith(m, autoescape=True) if m.endswith("/") else x.media_type == m
        )
    for column, value in ((x.team, match.team), (x.status, match.status)):
        if value is not None:
            where.append(column == value)
    if match.handling is not None:
        where.append(x.handling_code == match.handling)
    if match.seized_from is not None:
        where.append(x.seized_at >= match.seized_from)
    if match.seized_to is not None:
        where.append(x.seized_at <= match.seized_to)
    return where


def exhibit_page(
    conn: Connection, scope: ExhibitScope, match: ExhibitFilter, cursor: Cursor | None, limit: int
) -> Page[Exhibit]:
    check_key(cursor, str, str, int, str)
    if scope.empty or (match.case is not None and match.case not in (*scope.every, *scope.held)):
        return Page((), 0, limit)
    where = conditions(scope, match)
    total = _total(conn, scope, match, where)
    query = select(exhibits).where(*where)
    # A hash prefix matches a few rows, found through the hash indexes and then
    # sorted: the order's first term as an expression keeps a planner from
    # walking the whole case in the order's index instead.
    order = ORDER if match.hash_prefix is None else (x.case_id.op("||")(""), *ORDER[1:])
    if cursor is None:
        query = query.order_by(*order)
    elif cursor.forward:
        query = query.where(tuple_(*ORDER) > tuple_(*cursor.key)).order_by(*order)
    else:
        query = query.where(tuple_(*ORDER) < tuple_(*cursor.key))
        query = query.order_by(*(c.desc() for c in order))
    rows = [records.exhibit_from_row(r) for r in conn.execute(query.limit(limit + 1))]
    return window(rows, order_key, cursor, limit, total)


def _total(
    conn: Connection, scope: ExhibitScope, match: ExhibitFilter, where: list[ColumnElement[bool]]
) -> int:
    """How many exhibits match. A list filtered by nothing but its case and
    team is the teams' ``exhibit_count`` plus, in a ``held`` case, the other
    teams' exhibits the team received (a few rows through the hand-offs):
    never a count of the case's hundred thousand rows. Any other filter
    counts the rows it matches."""
    if replace(match, case=None, team=None) != ExhibitFilter():
        return _count(conn, select(func.count()).select_from(exhibits).where(*where))
    cases = _cases(scope, match)
    every = [c for c in scope.every if c in cases]
    held = [c for c in scope.held if c in cases]
    k = exhibit_counters.c
    counted = select(func.coalesce(func.sum(k.exhibit_count), 0))
    total = 0
    if every:
        teams = [k.team == match.team] if match.team is not None else []
        total += _count(conn, counted.where(k.case_id.in_(every), *teams))
    if held and match.team in (None, scope.team):
        total += _count(conn, counted.where(k.case_id.in_(held), k.team == scope.team))
    if held and match.team != scope.team:
        received = _received(scope, held).distinct().subquery()
        others = [x.team == match.team] if match.team is not None else [x.team != scope.team]
        total += _count(
            conn,
            select(func.count())
            .select_from(received)
            .join(
                exhibits,
                and_(x.case_id == received.c.case_id, x.reference == received.c.reference),
            )
            .where(*others),
        )
    return total


def _count(conn: Connection, query: Select[Any]) -> int:
    return int(conn.execute(query).scalar() or 0)


def _selection(row: Row[Any]) -> Selection:
    r = row._mapping  # ``count`` is also a tuple's method
    match = ExhibitFilter.from_dict(json.loads(r["filter"]))
    return Selection(r["id"], r["case_id"], r["person"], match, r["created_at"], r["count"])


class _Connections(Protocol):
    def _read(self) -> AbstractContextManager[Connection]: ...

    def _write(self) -> AbstractContextManager[Connection]: ...


class SqlSearch:
    """``evidence.search.SearchCatalog`` for ``SqlCatalog`` (its connections)."""

    def exhibit_page(
        self: _Connections,
        scope: ExhibitScope,
        match: ExhibitFilter,
        cursor: Cursor | None,
        limit: int,
    ) -> Page[Exhibit]:
        with self._read() as conn:
            return exhibit_page(conn, scope, match, cursor, limit)

    def add_selection(self: _Connections, selection: Selection, scope: ExhibitScope) -> Selection:
        """The references are copied by one INSERT ... SELECT, numbered in the
        search's order: none of them passes through Python."""
        match = selection.filter.in_case(selection.case_id)
        with self._write() as conn:
            conn.execute(
                insert(selections).values(
                    id=selection.id,
                    case_id=selection.case_id,
                    person=selection.person,
                    filter=json.dumps(match.as_dict(), sort_keys=True),
                    created_at=selection.created_at,
                    count=0,
                )
            )
            if not scope.empty:
                numbered = select(
                    literal(selection.id, Text),
                    func.row_number().over(order_by=ORDER),
                    x.reference,
                ).where(*conditions(scope, match))
                conn.execute(
                    insert(selection_items).from_select(
                        ["selection_id", "position", "reference"], numbered
                    )
                )
            count = int(
                conn.execute(
                    select(func.count()).where(selection_items.c.selection_id == selection.id)
                ).scalar()
                or 0
            )
            if count == 0:  # the transaction rolls back: no empty selection is kept
                raise InputError(
                    f"no exhibit that team {scope.team} holds in case {selection.case_id} matches "
                    "the filter: nothing was selected; widen the filter",
                    field="selection",
                )
            conn.execute(
                selections.update().where(selections.c.id == selection.id).values(count=count)
            )
            row = conn.execute(select(selections).where(selections.c.id == selection.id)).one()
        return _selection(row)

    def selection(self: _Connections, selection_id: str) -> Selection:
        with self._read() as conn:
            row = conn.execute(select(selections).where(selections.c.id == selection_id)).first()
        if row is None:
            raise NotFound(
                f"no selection {selection_id}: make one with POST /api/v1/selections "
                "(or the filter of the bundles page)"
            )
        return _selection(row)

    def selected_exhibits(
        self: _Connections, selection_id: str, limit: int | None = None
    ) -> list[Exhibit]:
        s, i = selections.c, selection_items.c
        query = (
            select(exhibits)
            .join(selection_items, i.reference == x.reference)
            .join(selections, and_(s.id == i.selection_id, s.case_id == x.case_id))
            .where(i.selection_id == selection_id)
            .order_by(i.position)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [records.exhibit_from_row(r) for r in conn.execute(query)]
