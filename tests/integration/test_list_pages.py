"""The catalog's keyset pages (``storage.sql.pages``) on SQLite and
PostgreSQL: walked forward and back, no row lost or repeated, totals right,
a cursor of another list refused naming ``cursor``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from evidence.errors import InputError
from evidence.models import Action, CustodyEvent
from evidence.paging import Cursor, Page
from evidence.ports import EventDraft
from storage.sql.catalog import SqlCatalog
from tests.fixtures_sql import opening, sample_case

CASE = "DANUBE"
Fetch = Callable[[Cursor | None], Page[CustodyEvent]]


def walk(fetch: Fetch) -> tuple[list[int], list[int]]:
    """Every page forward from the first, then back from the last: the seqs."""
    forward, pages = [], [fetch(None)]
    while True:
        forward += [e.seq for e in pages[-1].items]
        if pages[-1].next is None:
            break
        pages.append(fetch(Cursor.decode(pages[-1].next)))
    backward, page = [], pages[-1]
    backward = [e.seq for e in page.items]
    while page.prev is not None:
        page = fetch(Cursor.decode(page.prev))
        backward = [e.seq for e in page.items] + backward
    return forward, backward


@pytest.fixture
def filled(catalog: SqlCatalog) -> SqlCatalog:
    catalog.add_case(sample_case(), opening())
    with catalog.transaction(CASE) as tx:
        for i in range(22):
            action = Action.ACCESSED if i % 3 == 0 else Action.INGESTED
            actor = "ivanova" if i % 2 else "petrov"
            tx.append(EventDraft(action, actor, "BG", f"BG-EX-{i % 4:04d}", {"i": i}))
    return catalog


@pytest.mark.parametrize("limit", [1, 5, 23, 1000])
def test_event_pages_walk_forward_and_back(filled: SqlCatalog, limit: int) -> None:
    every = [e.seq for e in filled.events(CASE)]
    forward, backward = walk(lambda c: filled.event_page(CASE, c, limit))
    assert forward == backward == every == list(range(1, 24))
    assert filled.event_page(CASE, None, limit).total == 23


@pytest.mark.parametrize(
    "filters",
    [
        {"action": Action.ACCESSED.value},
        {"exhibit": "BG-EX-0001"},
        {"actor": "ivanova"},
        {"action": Action.INGESTED.value, "actor": "petrov", "exhibit": "BG-EX-0002"},
    ],
)
def test_filtered_event_pages(filled: SqlCatalog, filters: dict[str, str]) -> None:
    expected = [
        e.seq for e in filled.events(CASE) if all(getattr(e, k) == v for k, v in filters.items())
    ]
    forward, backward = walk(lambda c: filled.event_page(CASE, c, 2, **filters))
    assert forward == backward == expected and expected
    assert filled.event_page(CASE, None, 2, **filters).total == len(expected)


def test_a_page_past_the_end_is_empty_with_the_total(filled: SqlCatalog) -> None:
    page = filled.event_page(CASE, Cursor((23,)), 5)
    assert page.items == () and page.total == 23 and page.next is None


@pytest.mark.parametrize("key", [("x",), (1, 2), (True,), (2**40,), (-1,), (1.5,)])
def test_a_cursor_of_another_list_is_refused(filled: SqlCatalog, key: tuple[object, ...]) -> None:
    with pytest.raises(InputError, match="cursor") as caught:
        filled.event_page(CASE, Cursor(key), 5)  # type: ignore[arg-type]
    assert caught.value.field == "cursor"


def test_access_log_pages(catalog: SqlCatalog) -> None:
    for i in range(7):
        catalog.append_access(EventDraft("LOGGED_IN" if i % 2 else "LOGGED_OUT", f"p{i % 3}", "BG"))
    forward, backward = walk(lambda c: catalog.access_page(c, 3, action=None, actor=None))
    assert forward == backward == list(range(1, 8))
    outs = walk(lambda c: catalog.access_page(c, 1, action="LOGGED_OUT", actor=None))
    assert outs[0] == outs[1] == [1, 3, 5, 7]
    assert catalog.access_page(None, 2, action=None, actor="p0").total == 3
    assert [e.seq for e in catalog.access_events(after=5)] == [6, 7]
