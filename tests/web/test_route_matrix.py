"""Every route of the web layer, with every person of the JIT, answers what
``evidence.policy`` decides: the expected answer of each request is computed
here from the policy itself (``decide``, ``carries``, ``can_see_transfer``,
``can_see_bundle``) on the catalog as it stands just before the request, and
the server must answer 403 exactly when the policy refuses.

The people of config/jit.example.toml cover every role in its own team and in
the others: for the BG exhibits, BG's lead, investigators and prosecutor are
the own team; FR (the JIT lead's team, with the prosecutor, auditor and
admin) and ME the other teams.

The scenario is made through the API as people would: Insp. Petrova ingests
three BG exhibits; one of them is handed to FR (requested, approved by the
JIT lead, dispatched by a Prefect flow run, received by Lt. Moreau) and
disclosed by Pr. Dubois in a bundle (another flow run); one is asked for by
FR (requested, awaiting the JIT lead) and by ME for another offence (awaiting
the JIT lead and BG's consent); the third is marked sensitive by BG's lead.

A state-changing request is chosen so that the policy is asked with the state
intact: where the policy allows it, the request either does no harm (a
request that overlaps an open hand-off: 400; a dispatch of a received
transfer: 409) or changes the state, and the target is then made again
before the next person's request (a new exhibit and a new request).

A route added without a row here fails ``test_every_route_is_in_the_matrix``.
"""

from __future__ import annotations

import hashlib
import html
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from blake3 import blake3
from fastapi import FastAPI
from fastapi.routing import APIRoute

from config.wiring import Wiring
from evidence import handling, policy
from evidence.models import Bundle, Case, Exhibit, Person, Role, Transfer, TransferState
from evidence.policy import Right
from evidence.uploads import END, frame_header
from tests.fixtures_web import PASSWORD, Served, log_in

CASE = "DANUBE"

# Routes the matrix does not walk: the schema and its viewer (public, no
# evidence), the static files, and logging in (which has no caller yet).
NOT_WALKED = {
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("MOUNT", "/static"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/api/v1/session"),
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route of the app, API routes of included
    routers too (FastAPI keeps them in the included router's own list)."""
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any], prefix: str) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if isinstance(route, APIRoute) or inner is None:
                path = prefix + route.path
                methods = getattr(route, "methods", None) or {"MOUNT"}
                found.update((m, path) for m in methods if m != "HEAD")
            else:
                walk(inner.routes, prefix + getattr(route.include_context, "prefix", ""))

    walk(list(app.routes), "")
    return found


# -- the people and the scenario ------------------------------------------------------------


@dataclass
class Actor:
    person: Person
    browser: httpx.Client  # session cookie; sends the session's CSRF token
    api: httpx.Client  # an API token (Bearer), no cookie


@dataclass
class World:
    """The served JIT, a client of each person, and the ids of the scenario."""

    jit: Wiring
    url: str
    actors: dict[str, Actor] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    token_owner: str = "Insp. Petrova"

    # the catalog, read fresh for every expectation
    def case(self) -> Case:
        return self.jit.catalog.case(CASE)

    def exhibit(self, key: str) -> Exhibit:
        return self.jit.catalog.exhibit(self.ids[key])

    def holders(self, key: str) -> list[str]:
        return [h.team for h in self.jit.catalog.holdings(CASE).get(self.ids[key], [])]

    def transfer(self, key: str) -> Transfer:
        return self.jit.catalog.transfer(self.ids[key])

    def bundle(self, key: str) -> Bundle:
        return self.jit.catalog.bundle(self.ids[key])

    # acting through the API
    def api(self, name: str) -> httpx.Client:
        return self.actors[name].api

    def upload(self, name: str, title: str) -> str:
        answer = self.api(name).post(
            f"/api/v1/cases/{CASE}/exhibits",
            params={"name": f"{title}.txt", "title": title},
            content=f"{title} {uuid.uuid4()}\n".encode(),
        )
        assert answer.status_code == 201, answer.text
        reference: str = answer.json()["reference"]
        return reference

    def request(self, name: str, references: list[str], to_team: str, **extra: str) -> str:
        body = {"case": CASE, "exhibits": references, "to_team": to_team, **extra}
        answer = self.api(name).post("/api/v1/transfers", json=body)
        assert answer.status_code == 201, answer.text
        transfer_id: str = answer.json()["id"]
        return transfer_id

    def finish_jobs(self, name: str) -> list[dict[str, Any]]:
        """Wait until every job ``name`` started has finished (polling, with a cap)."""
        for _ in range(1200):
            jobs: list[dict[str, Any]] = self.api(name).get("/api/v1/jobs").json()["items"]
            if all(j["finished"] for j in jobs):
                return jobs
            time.sleep(0.1)
        raise AssertionError(f"the jobs of {name} did not finish: {jobs}")

    def finished_job(self, name: str, job_id: str) -> dict[str, Any]:
        for job in self.finish_jobs(name):
            if job["id"] == job_id:
                assert job["state"] == "COMPLETED", job
                return job
        raise AssertionError(f"no job {job_id} of {name}")

    # targets that a permitted request uses up, made again
    def open_request(self) -> None:
        """``open``: BG → FR for the JIT, requested by Insp. Petrova, awaiting the JIT lead."""
        if "open" in self.ids and self.transfer("open").state is TransferState.REQUESTED:
            return
        reference = self.upload("Insp. Petrova", f"phone-{len(self.ids)}")
        self.ids["open"] = self.request("Insp. Petrova", [reference], "FR")

    def consent_request(self) -> None:
        """``consent``: BG → ME for another offence, requested by Insp. Ivanov,
        awaiting the JIT lead's approval and BG's consent."""
        if "consent" in self.ids and self.transfer("consent").state is TransferState.REQUESTED:
            return
        reference = self.upload("Insp. Petrova", f"ledger-{len(self.ids)}")
        self.ids["consent"] = self.request(
            "Insp. Ivanov",
            [reference],
            "ME",
            purpose="other_offence",
            legal_basis="MLA request ME-2026-12 (Art. 13(10) 2000 MLA Convention)",
        )

    def fresh_exhibit(self) -> None:
        """``changed``: a BG exhibit of H0, never changed (made again once changed)."""
        if "changed" in self.ids:
            events = self.jit.catalog.events(CASE, exhibit=self.ids["changed"])
            if all(e.action == "INGESTED" for e in events):
                return
        self.ids["changed"] = self.upload("Insp. Petrova", f"changed-{len(self.ids)}")

    def victim_token(self) -> None:
        """``token``: an API token of Insp. Petrova that nobody uses, not revoked."""
        if "token" in self.ids:
            current = self.jit.catalog.token(self.ids["token"])
            if current.revoked_at is None:
                return
        answer = self.api(self.token_owner).post("/api/v1/tokens", json={"label": "victim"})
        assert answer.status_code == 201, answer.text
        self.ids["token"] = answer.json()["id"]


def sign_in(url: str, person: Person) -> Actor:
    browser = httpx.Client(base_url=url, timeout=120)
    csrf = log_in(browser, person.name)
    browser.headers["X-CSRF-Token"] = csrf
    made = browser.post("/api/v1/tokens", json={"label": "route matrix"})
    assert made.status_code == 201, made.text
    secret = made.json()["secret"]
    api = httpx.Client(base_url=url, timeout=120, headers={"Authorization": f"Bearer {secret}"})
    return Actor(person, browser, api)


@pytest.fixture
def world(jit: Wiring, served: Served) -> Iterator[World]:
    w = World(jit, served.url)
    try:
        for person in jit.catalog.people():
            w.actors[person.name] = sign_in(served.url, person)
        ids = w.ids
        ids["bg_only"] = w.upload("Insp. Petrova", "seizure-report")
        ids["shared"] = w.upload("Insp. Petrova", "wiretap-summary")
        ids["sensitive"] = w.upload("Insp. Petrova", "informant-notes")
        # handed to FR: requested, approved (the dispatch is a flow run), received
        ids["received"] = w.request("Insp. Petrova", [ids["shared"]], "FR")
        approved = w.api("Cdt. Laurent").post(
            f"/api/v1/transfers/{ids['received']}/approve", json={}
        )
        assert approved.status_code == 200, approved.text
        w.finished_job("Cdt. Laurent", approved.json()["job"]["id"])
        received = w.api("Lt. Moreau").post(f"/api/v1/transfers/{ids['received']}/receive")
        assert received.status_code == 200, received.text
        assert received.json()["state"] == "received"
        # asked for by FR, and by ME for another offence
        ids["open"] = w.request("Insp. Petrova", [ids["bg_only"]], "FR")
        w.consent_request()
        # kept out of bundles by BG's lead
        georgiev = jit.catalog.person("Cmsr. Georgiev")
        handling.set_sensitive(jit.catalog, georgiev, CASE, ids["sensitive"], "informant")
        # Pr. Dubois discloses what FR received
        built = w.api("Pr. Dubois").post(
            "/api/v1/bundles", json={"case": CASE, "exhibits": [ids["shared"]]}
        )
        assert built.status_code == 202, built.text
        ids["job"] = built.json()["id"]
        w.finished_job("Pr. Dubois", ids["job"])
        [bundle] = jit.catalog.bundles(CASE)
        ids["bundle"] = bundle.id
        # Pr. Dubois selects what FR holds of the case by a filter, for a bundle
        chose = w.api("Pr. Dubois").post(
            "/api/v1/selections", json={"case": CASE, "q": ids["shared"]}
        )
        assert chose.status_code == 201 and chose.json()["count"] == 1, chose.text
        ids["selection"] = chose.json()["id"]
        w.victim_token()
        yield w
    finally:
        for actor in w.actors.values():
            actor.browser.close()
            actor.api.close()


# -- the matrix --------------------------------------------------------------------------------

Expect = Callable[[World, Person], bool]


def always(w: World, p: Person) -> bool:
    return True


def carries(right: Right) -> Expect:
    return lambda w, p: policy.carries(p, right).allowed


def on_exhibit(right: Right, key: str, team: str | None = None) -> Expect:
    def expect(w: World, p: Person) -> bool:
        return policy.decide(
            p, right, case=w.case(), exhibit=w.exhibit(key), holders=w.holders(key), team=team
        ).allowed

    return expect


def first_item(transfer_key: str) -> Callable[[World], str]:
    return lambda w: w.transfer(transfer_key).items[0].reference


def request_of(transfer_key: str, team: str) -> Expect:
    """The right to ask for the first exhibit of a transfer to go to ``team``."""

    def expect(w: World, p: Person) -> bool:
        reference = first_item(transfer_key)(w)
        holders = [h.team for h in w.jit.catalog.holdings(CASE).get(reference, [])]
        exhibit = w.jit.catalog.exhibit(reference)
        return policy.decide(
            p, Right.REQUEST, case=w.case(), exhibit=exhibit, holders=holders, team=team
        ).allowed

    return expect


def on_transfer(right: Right, key: str) -> Expect:
    return lambda w, p: policy.decide(p, right, case=w.case(), transfer=w.transfer(key)).allowed


def sees_transfer(key: str) -> Expect:
    return lambda w, p: policy.can_see_transfer(p, w.case(), w.transfer(key)).allowed


def sees_bundle(key: str, *, content: bool) -> Expect:
    return lambda w, p: policy.can_see_bundle(p, w.case(), w.bundle(key), content=content).allowed


def audits(w: World, p: Person) -> bool:
    return policy.decide(p, Right.AUDIT, case=w.case()).allowed


def ingests(w: World, p: Person) -> bool:
    return policy.decide(p, Right.INGEST, case=w.case(), team=p.team).allowed


def reads_access_log(w: World, p: Person) -> bool:
    return policy.decide(p, Right.READ_ACCESS_LOG).allowed


def revokes_victim(w: World, p: Person) -> bool:
    """A token is revoked by its owner, or by whoever manages people."""
    return p.name == w.token_owner or policy.decide(p, Right.MANAGE_PEOPLE).allowed


def made_selection(w: World, p: Person) -> bool:
    return p.name == w.jit.catalog.selection(w.ids["selection"]).person


def discloses_all_held(w: World, p: Person) -> bool:
    held = [
        ex
        for ex in w.jit.catalog.exhibits(CASE)
        if p.team in {h.team for h in w.jit.catalog.holdings(CASE).get(ex.reference, [])}
    ]
    return policy.carries(p, Right.DISCLOSE).allowed and all(
        policy.decide(
            p,
            Right.DISCLOSE,
            case=w.case(),
            exhibit=ex,
            holders=[h.team for h in w.jit.catalog.holdings(CASE)[ex.reference]],
        ).allowed
        for ex in held
    )


# content checks of the lists: exactly what the policy lets the person see
def lists_exhibits(w: World, p: Person, answer: httpx.Response) -> None:
    case = w.case()
    holdings = w.jit.catalog.holdings(CASE)
    expected = {
        ex.reference
        for ex in w.jit.catalog.exhibits(CASE)
        if policy.decide(
            p,
            Right.VIEW,
            case=case,
            exhibit=ex,
            holders=[h.team for h in holdings.get(ex.reference, [])],
        ).allowed
    }
    assert {ex["reference"] for ex in answer.json()["items"]} == expected


def lists_transfers(w: World, p: Person, answer: httpx.Response) -> None:
    case = w.case()
    expected = {
        t.id for t in w.jit.catalog.transfers(CASE) if policy.can_see_transfer(p, case, t).allowed
    }
    assert {t["id"] for t in answer.json()["items"]} == expected


def lists_bundles(w: World, p: Person, answer: httpx.Response) -> None:
    case = w.case()
    expected = {
        b.id
        for b in w.jit.catalog.bundles(CASE)
        if policy.can_see_bundle(p, case, b, content=False).allowed
    }
    assert {b["id"] for b in answer.json()["items"]} == expected


def lists_own_tokens(w: World, p: Person, answer: httpx.Response) -> None:
    assert answer.json() and {t["person"] for t in answer.json()} == {p.name}


def exhibits_page_lists(w: World, p: Person, answer: httpx.Response) -> None:
    case = w.case()
    holdings = w.jit.catalog.holdings(CASE)
    for ex in w.jit.catalog.exhibits(CASE):
        holders = [h.team for h in holdings.get(ex.reference, [])]
        seen = policy.decide(p, Right.VIEW, case=case, exhibit=ex, holders=holders).allowed
        assert (ex.reference in answer.text) == seen, (p.name, ex.reference)


HOME = {Role.LEAD: "/handoffs", Role.INVESTIGATOR: "/upload", Role.PROSECUTOR: "/bundles",
        Role.AUDITOR: "/ledger", Role.ADMIN: "/account"}  # fmt: skip


def goes_home(w: World, p: Person, answer: httpx.Response) -> None:
    assert answer.headers["location"] == next(path for r, path in HOME.items() if p.has(r))


Body = Callable[[World], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    """One request of the walk: ``route`` is the route's (method, path);
    ``path`` the request's, formatted with the scenario's ids."""

    route: tuple[str, str]
    path: str
    expect: Expect
    ok: int  # the answer when the policy allows it
    body: Body | None = None  # keyword arguments of the request: json=, data=, params=, content=
    prepare: Callable[[World], None] | None = None  # (re)make the target before each request
    check: Callable[[World, Person, httpx.Response], None] | None = None
    denied: int = 403
    session: bool = False  # on a fresh browser session of its own (logging out)

    @property
    def method(self) -> str:
        return self.route[0]

    def url(self, ids: dict[str, str]) -> str:
        return self.path.format_map(ids)


def reason(text: str) -> Body:
    return lambda w: {"json": {"reason": text}}


def form_reason(text: str) -> Body:
    return lambda w: {"data": {"reason": text}}


def upload_body(w: World) -> dict[str, Any]:
    return {"params": {"name": "note.txt"}, "content": f"note {uuid.uuid4()}\n".encode()}


def batch_body(w: World) -> dict[str, Any]:
    """A batch of one new file (``evidence.uploads``)."""
    data = f"note {uuid.uuid4()}\n".encode()
    header = frame_header("note.txt", len(data), blake3(data).hexdigest(),
                          hashlib.sha256(data).hexdigest(), {})  # fmt: skip
    return {"content": header + data + END}


def overlapping_request(w: World) -> dict[str, Any]:
    """Ask again for what ``open`` already asks: the policy decides, then the
    overlap with the open request refuses it (400) and nothing changes."""
    return {"json": {"case": CASE, "exhibits": [first_item("open")(w)], "to_team": "FR"}}


def overlapping_form(w: World) -> dict[str, Any]:
    data = {"case": CASE, "exhibits": [first_item("open")(w)], "to_team": "FR", "purpose": "jit"}
    return {"data": data}


TID = "/api/v1/transfers/{transfer_id}"
STEP = ("POST", "/handoffs/{transfer_id}/{step}")

ROWS: list[Row] = [
    # -- signing in, the account (every signed-in person: their own tokens) --
    Row(("GET", "/api/v1/me"), "/api/v1/me", always, 200),
    Row(("GET", "/api/v1/tokens"), "/api/v1/tokens", always, 200, check=lists_own_tokens),
    Row(("POST", "/api/v1/tokens"), "/api/v1/tokens", always, 201,
        body=lambda w: {"json": {"label": "matrix"}}),
    Row(("GET", "/account"), "/account", always, 200),
    Row(("POST", "/account/tokens"), "/account/tokens", always, 201,
        body=lambda w: {"data": {"label": "matrix"}}),
    Row(("GET", "/"), "/", always, 303, check=goes_home),
    # -- exhibits --
    Row(("GET", "/api/v1/cases"), "/api/v1/cases", always, 200),
    Row(("GET", "/api/v1/exhibits"), "/api/v1/exhibits", always, 200, check=lists_exhibits),
    Row(("GET", "/exhibits"), "/exhibits", carries(Right.VIEW), 200, check=exhibits_page_lists),
    Row(("GET", "/upload"), "/upload", carries(Right.INGEST), 200),
    *[
        row
        for key in ("bg_only", "shared")
        for row in (
            Row(("GET", "/api/v1/exhibits/{reference}"), f"/api/v1/exhibits/{{{key}}}",
                on_exhibit(Right.VIEW, key), 200),
            Row(("GET", "/exhibits/{reference}"), f"/exhibits/{{{key}}}",
                on_exhibit(Right.VIEW, key), 200),
            Row(("GET", "/api/v1/exhibits/{reference}/content"),
                f"/api/v1/exhibits/{{{key}}}/content", on_exhibit(Right.DOWNLOAD, key), 200),
        )
    ],
    # -- hand-offs: seeing them --
    Row(("GET", "/api/v1/transfers"), "/api/v1/transfers", always, 200, check=lists_transfers),
    Row(("GET", "/handoffs"), "/handoffs", carries(Right.VIEW), 200),
    *[
        Row(("GET", "/api/v1/transfers/{transfer_id}"), f"/api/v1/transfers/{{{key}}}",
            sees_transfer(key), 200)
        for key in ("open", "consent", "received")
    ],
    # -- disclosure: seeing bundles --
    Row(("GET", "/api/v1/bundles"), "/api/v1/bundles", always, 200, check=lists_bundles),
    Row(("GET", "/bundles"), "/bundles", carries(Right.DISCLOSE), 200),
    Row(("GET", "/api/v1/bundles/{bundle_id}"), "/api/v1/bundles/{bundle}",
        sees_bundle("bundle", content=False), 200),
    Row(("GET", "/bundles/{bundle_id}"), "/bundles/{bundle}",
        sees_bundle("bundle", content=False), 200),
    Row(("GET", "/api/v1/bundles/{bundle_id}/content"), "/api/v1/bundles/{bundle}/content",
        sees_bundle("bundle", content=True), 200),
    Row(("GET", "/api/v1/bundles/{bundle_id}/verification"),
        "/api/v1/bundles/{bundle}/verification", sees_bundle("bundle", content=True), 200),
    # A job (a build, a dispatch) is shown to the person who started it only,
    # who was allowed to start it; to anyone else it does not exist (404).
    Row(("GET", "/api/v1/jobs"), "/api/v1/jobs", always, 200),
    Row(("GET", "/jobs"), "/jobs", always, 200),
    Row(("GET", "/api/v1/jobs/{job_id}"), "/api/v1/jobs/{job}",
        lambda w, p: p.name == "Pr. Dubois", 200, denied=404),
    Row(("GET", "/jobs/{job_id}"), "/jobs/{job}",
        lambda w, p: p.name == "Pr. Dubois", 200, denied=404),
    # a finished job is not retried (400): only a crashed, failed or cancelled one
    Row(("POST", "/api/v1/jobs/{job_id}/retry"), "/api/v1/jobs/{job}/retry",
        lambda w, p: p.name == "Pr. Dubois", 400, denied=404),
    # -- audit --
    Row(("GET", "/api/v1/cases/{case_id}/verification"), f"/api/v1/cases/{CASE}/verification",
        audits, 200),
    Row(("GET", "/api/v1/cases/{case_id}/events"), f"/api/v1/cases/{CASE}/events", audits, 200),
    Row(("GET", "/api/v1/cases/{case_id}/audits"), f"/api/v1/cases/{CASE}/audits", audits, 200),
    # event 1 opened the case: no fixity audit (404) to who may audit
    Row(("GET", "/api/v1/cases/{case_id}/audits/{which}"), f"/api/v1/cases/{CASE}/audits/1",
        audits, 404),
    Row(("POST", "/api/v1/audits"), "/api/v1/audits", audits, 202,
        body=lambda w: {"json": {"case": CASE}}),
    # auditors and leads audit cases there; an admin reads only the access log there
    Row(("GET", "/ledger"), "/ledger",
        lambda w, p: carries(Right.AUDIT)(w, p) or reads_access_log(w, p), 200),
    Row(("GET", "/ledger"), f"/ledger?case={CASE}",
        lambda w, p: policy.carries(p, Right.AUDIT).allowed and audits(w, p), 200),
    Row(("GET", "/api/v1/access-log"), "/api/v1/access-log", reads_access_log, 200),
    Row(("GET", "/access-log"), "/access-log", reads_access_log, 200),
    Row(("POST", "/access-log/verify"), "/access-log/verify", reads_access_log, 200),
    Row(("POST", "/ledger/verify"), "/ledger/verify", audits, 200,
        body=lambda w: {"data": {"case": CASE}}),
    # -- ingesting (a new exhibit of the person's own team) --
    Row(("POST", "/api/v1/cases/{case_id}/exhibits"), f"/api/v1/cases/{CASE}/exhibits",
        ingests, 201, body=upload_body),
    Row(("POST", "/api/v1/cases/{case_id}/uploads"), f"/api/v1/cases/{CASE}/uploads",
        ingests, 201, body=batch_body),
    Row(("POST", "/api/v1/cases/{case_id}/exhibits/known"),
        f"/api/v1/cases/{CASE}/exhibits/known", ingests, 200,
        body=lambda w: {"json": {"blake3": ["0" * 64]}}),
    # -- asking for hand-offs --
    Row(("POST", "/api/v1/transfers"), "/api/v1/transfers", request_of("open", "FR"), 400,
        body=overlapping_request, prepare=World.open_request),
    Row(("POST", "/handoffs"), "/handoffs", request_of("open", "FR"), 400,
        body=overlapping_form, prepare=World.open_request),
    # FR already holds it: nobody may ask for it to go to FR
    Row(("POST", "/api/v1/transfers"), "/api/v1/transfers", on_exhibit(Right.REQUEST, "shared", "FR"),
        201, body=lambda w: {"json": {"case": CASE, "exhibits": [w.ids["shared"]], "to_team": "FR"}}),
    # -- deciding: a permitted decision uses the request up; it is made again --
    *[
        row
        for key, prepare in (("open", World.open_request), ("consent", World.consent_request))
        for row in (
            Row(("POST", f"{TID}/approve"), f"/api/v1/transfers/{{{key}}}/approve",
                on_transfer(Right.APPROVE, key), 200, body=reason("ok"), prepare=prepare),
            Row(STEP, f"/handoffs/{{{key}}}/approve", on_transfer(Right.APPROVE, key), 303,
                body=form_reason("ok"), prepare=prepare),
            Row(("POST", f"{TID}/reject"), f"/api/v1/transfers/{{{key}}}/reject",
                on_transfer(Right.REJECT, key), 200, body=reason("not needed"), prepare=prepare),
            Row(STEP, f"/handoffs/{{{key}}}/reject", on_transfer(Right.REJECT, key), 303,
                body=form_reason("not needed"), prepare=prepare),
            Row(("POST", f"{TID}/cancel"), f"/api/v1/transfers/{{{key}}}/cancel",
                on_transfer(Right.CANCEL, key), 200, body=reason("asked twice"), prepare=prepare),
            Row(STEP, f"/handoffs/{{{key}}}/cancel", on_transfer(Right.CANCEL, key), 303,
                body=form_reason("asked twice"), prepare=prepare),
        )
    ],
    # A received transfer is decided: who may see it learns that (409), nobody
    # else learns anything about it (403).
    *[
        row
        for step in ("approve", "reject", "cancel")
        for row in (
            Row(("POST", f"{TID}/{step}"), f"/api/v1/transfers/{{received}}/{step}",
                sees_transfer("received"), 409, body=reason("late")),
            Row(STEP, f"/handoffs/{{received}}/{step}", sees_transfer("received"), 409,
                body=form_reason("late")),
        )
    ],
    # Dispatching and receiving a received transfer: the policy first, then its state.
    Row(("POST", f"{TID}/dispatch"), "/api/v1/transfers/{received}/dispatch",
        on_transfer(Right.DISPATCH, "received"), 409),
    Row(STEP, "/handoffs/{received}/dispatch", on_transfer(Right.DISPATCH, "received"), 409),
    Row(("POST", f"{TID}/receive"), "/api/v1/transfers/{received}/receive",
        on_transfer(Right.RECEIVE, "received"), 409),
    Row(STEP, "/handoffs/{received}/receive", on_transfer(Right.RECEIVE, "received"), 409),
    # -- disclosing: the sensitive exhibit is asked for, decided, then kept out (400) --
    Row(("POST", "/api/v1/bundles"), "/api/v1/bundles", on_exhibit(Right.DISCLOSE, "sensitive"),
        400, body=lambda w: {"json": {"case": CASE, "exhibits": [w.ids["sensitive"]]}}),
    Row(("POST", "/bundles"), "/bundles", on_exhibit(Right.DISCLOSE, "sensitive"), 400,
        body=lambda w: {"data": {"case": CASE, "exhibits": [w.ids["sensitive"]]}}),
    Row(("POST", "/api/v1/bundles"), "/api/v1/bundles", discloses_all_held, 202,
        body=lambda w: {"json": {"case": CASE, "all_held": True}}),
    # -- selections: made by a filter (BG and FR both hold "shared"), used by their maker only --
    Row(("POST", "/api/v1/selections"), "/api/v1/selections", carries(Right.DISCLOSE), 201,
        body=lambda w: {"json": {"case": CASE, "q": w.ids["shared"]}}),
    Row(("POST", "/bundles/selections"), "/bundles/selections", carries(Right.DISCLOSE), 303,
        body=lambda w: {"data": {"case": CASE, "q": w.ids["shared"]}}),
    Row(("GET", "/api/v1/selections/{selection_id}"), "/api/v1/selections/{selection}",
        made_selection, 200),
    Row(("POST", "/api/v1/bundles"), "/api/v1/bundles", made_selection, 202,
        body=lambda w: {"json": {"case": CASE, "selection": w.ids["selection"]}}),
    # -- the originating team's lead: handling, consent, sensitivity (a fresh exhibit each) --
    *[
        row
        for change, body in (
            ("handling", {"code": "H2"}),
            ("consent", {"for_team": "FR", "note": "trial in Marseille"}),
            ("sensitivity", {"sensitive": True, "reason": "protected witness"}),
        )
        for row in (
            Row(("POST", f"/api/v1/exhibits/{{reference}}/{change}"),
                f"/api/v1/exhibits/{{changed}}/{change}", on_exhibit(Right.SET_HANDLING, "changed"),
                200, body=lambda w, body=body: {"json": body}, prepare=World.fresh_exhibit),
            Row(("POST", "/exhibits/{reference}/{change}"), f"/exhibits/{{changed}}/{change}",
                on_exhibit(Right.SET_HANDLING, "changed"), 303,
                body=lambda w, body=body: {"data": {
                    k: ("yes" if v is True else v) for k, v in body.items()}},
                prepare=World.fresh_exhibit),
        )
    ],
    # -- revoking another person's token (made again once revoked) --
    Row(("DELETE", "/api/v1/tokens/{token_id}"), "/api/v1/tokens/{token}", revokes_victim, 200,
        prepare=World.victim_token),
    Row(("POST", "/account/tokens/{token_id}/revoke"), "/account/tokens/{token}/revoke",
        revokes_victim, 303, prepare=World.victim_token),
    # -- logging out: each person, on a session of its own --
    Row(("DELETE", "/api/v1/session"), "/api/v1/session", always, 200, session=True),
    Row(("POST", "/logout"), "/logout", always, 303, session=True),
    # -- one's own password (kept the same: a change ends the person's other sessions) --
    Row(("POST", "/api/v1/me/password"), "/api/v1/me/password", always, 200, session=True,
        body=lambda w: {"json": {"current": PASSWORD, "new": PASSWORD}}),
    Row(("POST", "/account/password"), "/account/password", always, 200, session=True,
        body=lambda w: {"data": {"current": PASSWORD, "new": PASSWORD, "repeat": PASSWORD}}),
]  # fmt: skip


def said(answer: httpx.Response) -> str:
    """What an answer says, in short: the API's error, or the page's message."""
    if answer.headers.get("content-type", "").startswith("application/json"):
        return answer.text[:300]
    found = re.search(r'<p class="error"[^>]*>(.*?)</p>', answer.text, re.S)
    return html.unescape(found.group(1).strip())[:300] if found else answer.text[:100]


def send(client: httpx.Client, row: Row, ids: dict[str, str], w: World | None) -> httpx.Response:
    kwargs = row.body(w) if (row.body and w is not None) else {}
    return client.request(row.method, row.url(ids), **kwargs)


# -- the tests ------------------------------------------------------------------------------


def test_every_route_is_in_the_matrix(web: FastAPI) -> None:
    routes = app_routes(web)
    walked = {row.route for row in ROWS}
    assert walked - routes == set(), "rows of routes the app does not have"
    assert routes - walked - NOT_WALKED == set(), "routes without a row in the matrix"
    assert NOT_WALKED <= routes


def test_every_route_with_every_person_answers_the_policy(world: World) -> None:
    people = [a.person for a in world.actors.values()]
    case_teams = {t.code for t in world.case().teams}
    # every role of the JIT, in the exhibits' own team (BG) and in another one
    for role in Role:
        teams = {p.team for p in people if p.has(role)}
        assert teams, role
    assert {p.team for p in people} == case_teams
    assert {p.team for p in people if p.has(Role.INVESTIGATOR)} >= {"BG", "FR", "ME"}
    assert {p.team for p in people if p.has(Role.LEAD)} == {"BG", "FR", "ME"}
    assert {p.team for p in people if p.has(Role.PROSECUTOR)} == {"BG", "FR"}

    wrong: list[str] = []
    asked = 0
    for row in ROWS:
        for person in people:
            if row.prepare:
                row.prepare(world)
            allowed = row.expect(world, person)
            if row.session:
                with httpx.Client(base_url=world.url, timeout=120) as fresh:
                    fresh.headers["X-CSRF-Token"] = log_in(fresh, person.name)
                    answer = send(fresh, row, world.ids, world)
            else:
                actor = world.actors[person.name]
                client = actor.api if row.path.startswith("/api/") else actor.browser
                answer = send(client, row, world.ids, world)
            asked += 1
            want = row.ok if allowed else row.denied
            if answer.status_code != want:
                wrong.append(
                    f"{row.method} {row.url(world.ids)} as {person.name} "
                    f"({person.team}, {'/'.join(sorted(person.roles))}): "
                    f"{answer.status_code}, the policy says {'allow' if allowed else 'deny'} "
                    f"→ {want}: {said(answer)}"
                )
                continue
            if allowed and row.check:
                row.check(world, person, answer)
            if row.method != "GET" and not row.session:
                world.finish_jobs(person.name)  # a dispatch or a build it started
    assert not wrong, f"{len(wrong)} of {asked} answers differ from the policy:\n" + "\n".join(
        wrong
    )
    assert asked == len(ROWS) * len(people)


def test_every_route_needs_a_signed_in_caller(client: httpx.Client) -> None:
    """Without a session or a token: 401 on the API, the login page on a page."""
    ids: dict[str, str] = {
        key: "X-0001"
        for key in (
            "bg_only",
            "shared",
            "open",
            "consent",
            "received",
            "bundle",
            "job",
            "token",
            "changed",
            "selection",
        )
    }
    wrong = []
    for row in ROWS:
        kwargs: dict[str, Any] = (
            {"json": {}} if row.method != "GET" and row.path.startswith("/api/") else {}
        )
        answer = client.request(row.method, row.url(ids), **kwargs)
        if row.path.startswith("/api/"):
            ok = answer.status_code == 401 and answer.json()["kind"] == "NotSignedIn"
        else:
            ok = answer.status_code == 303 and answer.headers["location"].startswith("/login")
        if not ok:
            wrong.append(f"{row.method} {row.url(ids)}: {answer.status_code} {answer.text[:200]}")
    assert not wrong, "\n".join(wrong)

    # Signed in, an incomplete hand-off form is explained (400), not a server error.
    client.headers["X-CSRF-Token"] = log_in(client, "Insp. Petrova")
    answer = client.post("/handoffs", data={"case": CASE, "to_team": "FR"})
    assert answer.status_code == 400, said(answer)
    assert "exhibits" in said(answer)
    # ... and so is an incomplete or unknown change of an exhibit
    answer = client.post("/exhibits/BG-EX-0001/consent", data={"for_team": "FR"})
    assert answer.status_code == 400 and "note" in said(answer), said(answer)
    answer = client.post("/exhibits/BG-EX-0001/delete", data={})
    assert answer.status_code == 400 and "no change 'delete'" in said(answer), said(answer)
