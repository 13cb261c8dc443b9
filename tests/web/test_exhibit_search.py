"""Exhibit search through the API and the pages: ``GET /api/v1/exhibits``
a page at a time with its filters and their errors, the /exhibits page
bounded with its pager, and the bundle selections (``POST /api/v1/selections``,
the bundles page's "all matching"), used by their maker only."""

from __future__ import annotations

import hashlib
import re

from config.wiring import Wiring
from tests.fixtures_web import Login
from tests.web.test_api import (
    API,
    CASE,
    DUBOIS,
    KELLER,
    PETROVA,
    error_of,
    uploaded,
)
from tests.web.test_list_pages import walk

DIMITROV = "Pr. Dimitrov"  # BG prosecutor


def test_exhibits_page_filter_and_name_a_wrong_parameter(as_: Login) -> None:
    petrova = as_(PETROVA)
    bodies = [f"exhibit {i}".encode() for i in range(5)]
    refs = [uploaded(petrova, b, f"photo-{i}.txt") for i, b in enumerate(bodies)]
    forward, backward, total = walk(petrova, f"{API}/exhibits", "reference", limit=2)
    assert forward == backward == refs and total == 5
    sha = hashlib.sha256(bodies[3]).hexdigest()
    one = petrova.get(f"{API}/exhibits", params={"hash": sha[:6].upper()}).json()
    assert [e["reference"] for e in one["items"]] == [refs[3]] and one["total"] == 1
    texts = petrova.get(f"{API}/exhibits", params={"q": "PHOTO-4", "case": CASE}).json()
    assert [e["reference"] for e in texts["items"]] == [refs[4]]
    plain = petrova.get(f"{API}/exhibits", params={"media_type": "text/"}).json()
    assert plain["total"] == 5
    for params, field in (
        ({"hash": "abc"}, "hash"),
        ({"hash": "nothex"}, "hash"),
        ({"seized_from": "last week"}, "seized_from"),
        ({"seized_to": "2024-02-13T10:00"}, "seized_to"),
        ({"media_type": "no type"}, "media_type"),
    ):
        body = error_of(petrova.get(f"{API}/exhibits", params=params), 400)
        assert body["field"] == field, body
    assert error_of(petrova.get(f"{API}/exhibits", params={"case": "NOPE"}), 404)
    page = petrova.get("/exhibits", params={"q": "photo"})
    assert page.status_code == 200 and all(r in page.text for r in refs)
    first = petrova.get("/exhibits", params={"q": "photo"}).text
    assert "5 in all" in first and 'rel="next"' not in first
    wrong = petrova.get("/exhibits", params={"hash": "zz"})
    assert wrong.status_code == 400 and "hash prefix" in wrong.text


def test_a_selection_makes_a_bundle_of_what_matched(as_: Login, jit: Wiring) -> None:
    petrova, dimitrov = as_(PETROVA), as_(DIMITROV)
    refs = [uploaded(petrova, f"ledger {i}".encode(), f"ledger-{i}.txt") for i in range(3)]
    uploaded(petrova, b"other", "other.txt")
    made = dimitrov.post(f"{API}/selections", json={"case": CASE, "q": "ledger"})
    assert made.status_code == 201, made.text
    chosen = made.json()
    assert chosen["count"] == 3 and chosen["sample"] == refs and chosen["person"] == DIMITROV
    assert chosen["filter"] == {"case": CASE, "text": "ledger"}
    uploaded(petrova, b"ledger late", "ledger-late.txt")  # matches, but after the selection
    again = dimitrov.get(f"{API}/selections/{chosen['id']}").json()
    assert again["count"] == 3 and again["sample"] == refs
    assert error_of(as_(DUBOIS).get(f"{API}/selections/{chosen['id']}"), 403)
    assert error_of(as_(KELLER).post(f"{API}/selections", json={"case": CASE}), 403)
    nothing = dimitrov.post(f"{API}/selections", json={"case": CASE, "q": "no such text"})
    assert error_of(nothing, 400)["field"] == "selection"
    assert error_of(dimitrov.post(f"{API}/selections", json={"case": CASE, "hash": "12"}), 400)
    stolen = as_(DUBOIS).post(f"{API}/bundles", json={"case": CASE, "selection": chosen["id"]})
    assert error_of(stolen, 403)
    both = dimitrov.post(
        f"{API}/bundles", json={"case": CASE, "selection": chosen["id"], "all_held": True}
    )
    assert error_of(both, 400)
    built = dimitrov.post(f"{API}/bundles", json={"case": CASE, "selection": chosen["id"]})
    assert built.status_code == 202, built.text
    job = dimitrov.get(f"{API}/jobs/{built.json()['id']}")
    assert (
        job.json()["parameters"]["selection"] == chosen["id"]
        if "parameters" in job.json()
        else True
    )
    # the bundles page: "all matching" shows the count and the first references
    page = dimitrov.post("/bundles/selections", data={"case": CASE, "q": "ledger"})
    assert page.status_code == 303
    shown = dimitrov.get(page.headers["location"]).text
    assert "Selection: 4 exhibits of DANUBE" in shown
    assert re.search(r'id="sample">[^<]*' + re.escape(refs[0]), shown)
