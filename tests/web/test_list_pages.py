"""Every list of the API a page at a time (``PageOut``): walked forward and
back with the cursors, no row lost or repeated, the total right, a bad
cursor a 400 naming ``cursor``, the limit enforced; and the ledger page,
which checks only what is new since the head it verified last."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import update

from config.wiring import Wiring
from evidence.paging import Cursor
from storage.sql.tables import custody_events
from tests.fixtures_web import Login
from tests.web.test_api import (
    API,
    CASE,
    DUBOIS,
    KELLER,
    PETROVA,
    error_of,
    recorded,
    request_handoff,
    uploaded,
)


def walk(c: httpx.Client, path: str, key: str, **params: Any) -> tuple[list[Any], list[Any], int]:
    """Every page forward, then back from the last: the ``key`` of each row, and the total."""
    pages = [c.get(path, params={**params}).json()]
    while pages[-1]["next"]:
        pages.append(c.get(path, params={**params, "cursor": pages[-1]["next"]}).json())
    forward = [row[key] for p in pages for row in p["items"]]
    page, backward = pages[-1], [row[key] for row in pages[-1]["items"]]
    while page["prev"]:
        page = c.get(path, params={**params, "cursor": page["prev"]}).json()
        backward = [row[key] for row in page["items"]] + backward
    return forward, backward, pages[0]["total"]


def refused(c: httpx.Client, path: str) -> None:
    """A cursor that is not this server's, one of another list, and limits beyond the bounds."""
    assert "cursor" in error_of(c.get(path, params={"cursor": "%%%"}), 400)["error"]
    other = Cursor(("not", "this", "list")).encode()
    assert error_of(c.get(path, params={"cursor": other}), 400)["field"] == "cursor"
    for limit in (0, 1001):
        assert "limit" in str(error_of(c.get(path, params={"limit": limit}), 422))


def test_transfers_bundles_and_events_page(as_: Login, jit: Wiring) -> None:
    petrova = as_(PETROVA)
    references = [uploaded(petrova, f"exhibit {i}".encode(), f"e{i}.txt") for i in range(3)]
    made = [request_handoff(petrova, [r]) for r in references]
    forward, backward, total = walk(petrova, f"{API}/transfers", "id", limit=2)
    assert forward == backward == made and total == 3
    one = petrova.get(f"{API}/transfers", params={"limit": 1}).json()
    assert len(one["items"]) == 1 and one["prev"] is None and one["limit"] == 1
    refused(petrova, f"{API}/transfers")

    dubois = as_(DUBOIS)
    assert dubois.get(f"{API}/bundles").json() == {
        "items": [],
        "total": 0,
        "limit": 50,
        "next": None,
        "prev": None,
    }
    refused(dubois, f"{API}/bundles")

    keller = as_(KELLER)
    forward, backward, total = walk(keller, f"{API}/cases/{CASE}/events", "seq", limit=3)
    assert forward == backward == list(range(1, recorded(jit)[1] + 1)) and total == len(forward)
    found, back, total = walk(
        keller, f"{API}/cases/{CASE}/events", "seq", limit=1, action="INGESTED", text="E1.TXT"
    )
    assert len(found) == total == 1 and found == back
    refused(keller, f"{API}/cases/{CASE}/events")


def test_the_access_log_pages_with_its_verification(as_: Login) -> None:
    for _ in range(3):
        as_(PETROVA)
    keller = as_(KELLER)
    forward, backward, total = walk(keller, f"{API}/access-log", "seq", limit=2)
    assert forward == backward == list(range(1, total + 1)) and total >= 4
    answer = keller.get(f"{API}/access-log", params={"limit": 1}).json()
    assert answer["verification"]["ok"] and answer["verification"]["checked"] == 0
    refused(keller, f"{API}/access-log")


def test_the_jobs_list_pages(as_: Login) -> None:
    petrova = as_(PETROVA)
    answer = petrova.get(f"{API}/jobs", params={"limit": 5})
    assert answer.status_code == 200, answer.text
    assert answer.json()["items"] == [] and answer.json()["total"] == 0
    # Prefect answers at most 200 runs at once: a bigger page is 200, and says so.
    answer = petrova.get(f"{API}/jobs", params={"limit": 831})
    assert answer.status_code == 200, answer.text
    assert answer.json()["limit"] == 200
    refused(petrova, f"{API}/jobs")


def chains_row(page: httpx.Response) -> list[str]:
    """The cells of DANUBE's row of the ledger page's table of chains."""
    assert page.status_code == 200, page.text
    table = page.text.split('id="chains"')[1].split("</table>")[0]
    row = next(r for r in table.split("<tr>") if CASE in r)
    return [cell.split(">", 1)[1] for cell in row.split("</td>")[:-1]]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_ledger_page_checks_only_what_is_new(as_: Login, jit: Wiring) -> None:
    petrova = as_(PETROVA)
    uploaded(petrova, b"first", "first.txt")
    keller = as_(KELLER)
    events = recorded(jit)[1]
    first = chains_row(keller.get("/ledger"))
    assert first[1].startswith("verified") and first[4] == str(events)  # from event 1
    assert chains_row(keller.get("/ledger"))[4] == "0"
    uploaded(petrova, b"second", "second.txt")
    new = recorded(jit)[1] - events
    assert chains_row(keller.get("/ledger"))[4] == str(new)
    assert "cosigned" in chains_row(keller.get("/ledger"))[5]

    def edit(seq: int) -> None:
        with jit.catalog.engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(
                update(custody_events)
                .where(custody_events.c.case_id == CASE, custody_events.c.seq == seq)
                .values(actor="someone")
            )

    edit(2)  # before the verified head: a view does not recompute it
    assert chains_row(keller.get("/ledger"))[1].startswith("verified")
    full = keller.post("/ledger/verify", data={"case": CASE})
    assert full.status_code == 200, full.text
    assert 'id="full-verdict" class="error"' in full.text and "event 2" in full.text
    assert chains_row(keller.get("/ledger"))[1].startswith("BROKEN")  # and so on, from event 1
