"""The JSON API over real HTTP: httpx against the app served by uvicorn, on a
JIT set up by ``jitev setup`` (``tests/fixtures_web.py``). Each test checks
what the API answers AND what it recorded (or did not record) in the catalog,
the store and the access log."""

from __future__ import annotations

import hashlib
import socket
import time
import zipfile
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import blake3
import httpx
import pytest
from prefect import get_client
from sqlalchemy import select, update

from app.web.security import COOKIE
from config.wiring import Wiring
from evidence import access, fixity
from evidence.access import ACCESS_LOG, SESSION_LIFETIME, AccessAction
from evidence.hashing import read_back
from evidence.ledger import verify
from storage.passwords import Argon2Hasher
from storage.sql.tables import access_events, api_tokens
from tests.fixtures_web import PASSWORD, Login, Served, log_in

API = "/api/v1"
CASE = "DANUBE"
PETROVA = "Insp. Petrova"  # BG investigator
IVANOV = "Insp. Ivanov"  # BG investigator
GEORGIEV = "Cmsr. Georgiev"  # BG lead (not the JIT lead)
LAURENT = "Cdt. Laurent"  # FR lead: the JIT lead
MOREAU = "Lt. Moreau"  # FR investigator
DUBOIS = "Pr. Dubois"  # FR prosecutor
VUKOVIC = "Insp. Vuković"  # ME investigator
KELLER = "Aud. Keller"  # FR auditor
HORVAT = "Adm. Horvat"  # FR admin


# -- fixtures and helpers -----------------------------------------------------------------


FACTS = {"field", "transfer", "state", "consents", "cases"}  # what an error may add


def error_of(answer: httpx.Response, status: int) -> dict[str, Any]:
    """The answer is ``status`` with a JSON ``{"error", "kind"}`` (and the
    structured facts of the error, if it has any) and no trace."""
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert {"error", "kind"} <= set(body) <= {"error", "kind"} | FACTS, body
    assert body["error"] and body["kind"]
    assert "Traceback" not in answer.text and 'File "' not in answer.text
    return dict(body)


def upload(
    c: httpx.Client, data: bytes, name: str = "note.txt", case: str = CASE, **params: str
) -> httpx.Response:
    return c.post(
        f"{API}/cases/{case}/exhibits",
        params={"name": name, **params},
        content=data,
        headers={"content-type": "application/octet-stream"},
    )


def uploaded(c: httpx.Client, data: bytes, name: str = "note.txt", **params: str) -> str:
    answer = upload(c, data, name, **params)
    assert answer.status_code == 201, answer.text
    reference: str = answer.json()["reference"]
    return reference


def recorded(jit: Wiring) -> tuple[int, int]:
    """(exhibits of the case, custody events of the case)."""
    return len(jit.catalog.exhibits(CASE)), len(list(jit.catalog.events(CASE)))


def events_of(jit: Wiring, action: str, exhibit: str | None = None) -> list[Any]:
    return list(jit.catalog.events(CASE, exhibit=exhibit, action=action))


def access_actions(jit: Wiring, actor: str | None = None) -> list[str]:
    return [e.action for e in jit.catalog.access_events(actor=actor)]


def finished(c: httpx.Client, job: dict[str, Any]) -> dict[str, Any]:
    """Poll a job until it has finished (no time limit asserted: only a cap
    on the number of polls, so a slow machine passes)."""
    for _ in range(3000):
        answer = c.get(f"{API}/jobs/{job['id']}")
        assert answer.status_code == 200, answer.text
        state: dict[str, Any] = answer.json()
        if state["finished"]:
            return state
        time.sleep(0.05)
    raise AssertionError(f"job {job['id']} never finished: {state}")


def request_handoff(petrova: httpx.Client, references: list[str], to_team: str = "FR") -> str:
    answer = petrova.post(
        f"{API}/transfers", json={"case": CASE, "exhibits": references, "to_team": to_team}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["state"] == "requested"
    transfer_id: str = answer.json()["id"]
    return transfer_id


def approve_and_dispatch(laurent: httpx.Client, transfer_id: str) -> dict[str, Any]:
    answer = laurent.post(f"{API}/transfers/{transfer_id}/approve", json={"reason": "JIT plan"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == "approved"
    job = answer.json()["job"]
    assert job is not None and job["kind"] == "dispatch"
    return finished(laurent, job)


def handed_to_fr(as_: Login, data: bytes, name: str, **params: str) -> str:
    """A BG exhibit (ingested by Petrova) handed to FR: requested, approved by
    the JIT lead, dispatched, and received by FR. Returns its reference."""
    petrova = as_(PETROVA)
    reference = uploaded(petrova, data, name, **params)
    transfer_id = request_handoff(petrova, [reference])
    assert approve_and_dispatch(as_(LAURENT), transfer_id)["state"] == "COMPLETED"
    received = as_(MOREAU).post(f"{API}/transfers/{transfer_id}/receive")
    assert received.status_code == 200, received.text
    assert received.json()["state"] == "received"
    return reference


# -- signing in ---------------------------------------------------------------------------


def test_login_sets_a_strict_httponly_session_cookie(client: httpx.Client) -> None:
    answer = client.post(f"{API}/session", json={"name": PETROVA, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    assert answer.json()["person"] == {"name": PETROVA, "team": "BG", "roles": ["investigator"]}
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    attributes = {a.strip().split("=")[0].lower(): a.strip() for a in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    assert attributes["path"] == "Path=/"

    me = client.get(f"{API}/me")
    assert me.status_code == 200, me.text
    assert me.json()["name"] == PETROVA
    assert me.json()["csrf"] == answer.json()["csrf"]


def test_a_forwarded_proto_from_no_trusted_proxy_does_not_make_the_cookie_secure(
    client: httpx.Client,
) -> None:
    """[web] trusted_proxies is empty by default: the header is not believed
    (tests/hostile/test_web.py serves behind a trusted proxy too)."""
    answer = client.post(
        f"{API}/session",
        json={"name": PETROVA, "password": PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert answer.status_code == 200, answer.text
    attributes = [a.strip().lower() for a in answer.headers["set-cookie"].split(";")]
    assert "secure" not in attributes and "httponly" in attributes


def test_wrong_password_and_unknown_name_get_the_same_answer(
    client: httpx.Client, jit: Wiring
) -> None:
    wrong = client.post(f"{API}/session", json={"name": PETROVA, "password": "not her password"})
    unknown = client.post(f"{API}/session", json={"name": "Insp. Nobody", "password": PASSWORD})
    assert error_of(wrong, 403) == error_of(unknown, 403)
    assert "login failed" in wrong.json()["error"]
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers
    assert client.get(f"{API}/me").status_code == 401
    failed = jit.catalog.access_events(action=AccessAction.LOGIN_FAILED.value)
    assert [e.actor for e in failed] == [PETROVA, "Insp. Nobody"]
    assert PASSWORD not in str([e.details for e in failed])


def test_me_without_login_is_401(client: httpx.Client) -> None:
    body = error_of(client.get(f"{API}/me"), 401)
    assert body["kind"] == "NotSignedIn"
    assert "log in" in body["error"]


def test_logout_ends_the_session(served: Served, jit: Wiring) -> None:
    with httpx.Client(base_url=served.url) as c:
        csrf = log_in(c, PETROVA)
        secret = c.cookies[COOKIE]
        out = c.delete(f"{API}/session", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 200, out.text
        assert out.json() == {"logged_out": PETROVA}
        assert COOKIE not in c.cookies  # the answer cleared it
    with httpx.Client(base_url=served.url, cookies={COOKIE: secret}) as old:
        body = error_of(old.get(f"{API}/me"), 401)
        assert "log in again" in body["error"]
    assert access_actions(jit, PETROVA)[-2:] == ["LOGGED_IN", "LOGGED_OUT"]


def test_a_person_changes_their_password_and_their_other_sessions_end(
    served: Served, jit: Wiring
) -> None:
    new = "a brand new passphrase"
    with (
        httpx.Client(base_url=served.url) as here,
        httpx.Client(base_url=served.url) as elsewhere,
    ):
        here.headers["X-CSRF-Token"] = log_in(here, PETROVA)
        log_in(elsewhere, PETROVA)
        wrong = here.post(f"{API}/me/password", json={"current": "a guess", "new": new})
        assert "current password is wrong" in error_of(wrong, 403)["error"]
        short = here.post(f"{API}/me/password", json={"current": PASSWORD, "new": "short"})
        assert "too short" in error_of(short, 400)["error"]
        done = here.post(f"{API}/me/password", json={"current": PASSWORD, "new": new})
        assert done.status_code == 200, done.text
        assert here.get(f"{API}/me").status_code == 200  # this session stays
        error_of(elsewhere.get(f"{API}/me"), 401)  # the other one ended
    with httpx.Client(base_url=served.url) as c:
        error_of(c.post(f"{API}/session", json={"name": PETROVA, "password": PASSWORD}), 403)
        log_in(c, PETROVA, new)
    assert access_actions(jit, PETROVA)[-4:] == [
        "LOGIN_FAILED", "PASSWORD_SET", "LOGIN_FAILED", "LOGGED_IN"
    ]  # fmt: skip


def test_an_expired_session_is_refused(served: Served, jit: Wiring) -> None:
    now = jit.clock.now()
    hasher = Argon2Hasher()
    _, old, _ = access.login(
        jit.catalog, hasher, PETROVA, PASSWORD, client="test", now=now - SESSION_LIFETIME
    )
    _, fresh, _ = access.login(jit.catalog, hasher, PETROVA, PASSWORD, client="test", now=now)
    with httpx.Client(base_url=served.url, cookies={COOKIE: old}) as c:
        body = error_of(c.get(f"{API}/me"), 401)
        assert "session has ended" in body["error"]
    with httpx.Client(base_url=served.url, cookies={COOKIE: fresh}) as c:
        assert c.get(f"{API}/me").json()["name"] == PETROVA


# -- CSRF -----------------------------------------------------------------------------------


def test_a_state_change_needs_the_sessions_csrf_token(served: Served, jit: Wiring) -> None:
    with httpx.Client(base_url=served.url) as c:
        csrf = log_in(c, PETROVA)
        before = recorded(jit)
        for headers in ({}, {"X-CSRF-Token": "stale" + csrf}, {"X-CSRF-Token": ""}):
            body = error_of(c.post(f"{API}/tokens", json={"label": "x"}, headers=headers), 403)
            assert "CSRF" in body["error"]
            answer = c.post(
                f"{API}/cases/{CASE}/exhibits",
                params={"name": "a.txt"},
                content=b"evidence",
                headers={**headers, "content-type": "application/octet-stream"},
            )
            assert "CSRF" in error_of(answer, 403)["error"]
            error_of(c.delete(f"{API}/session", headers=headers), 403)
        assert jit.catalog.tokens(PETROVA) == []
        assert recorded(jit) == before
        assert "TOKEN_ISSUED" not in access_actions(jit) and "LOGGED_OUT" not in access_actions(jit)
        assert c.get(f"{API}/me").status_code == 200  # the session was not ended

        made = c.post(f"{API}/tokens", json={"label": "x"}, headers={"X-CSRF-Token": csrf})
        assert made.status_code == 201, made.text
        assert [t.id for t in jit.catalog.tokens(PETROVA)] == [made.json()["id"]]


def test_an_api_token_caller_needs_no_csrf_token(as_: Login, served: Served, jit: Wiring) -> None:
    secret = as_(PETROVA).post(f"{API}/tokens", json={"label": "BG case system"}).json()["secret"]
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {secret}"}) as bot:
        answer = upload(bot, b"sent by the BG case system", "bot.txt")
        assert answer.status_code == 201, answer.text
    [event] = events_of(jit, "INGESTED", answer.json()["reference"])
    assert event.actor == PETROVA and event.team == "BG"


# -- API tokens -----------------------------------------------------------------------------


def test_token_is_shown_once_stored_as_a_digest_used_listed_and_revoked(
    as_: Login, served: Served, jit: Wiring
) -> None:
    petrova = as_(PETROVA)
    made = petrova.post(f"{API}/tokens", json={"label": "BG case system"})
    assert made.status_code == 201, made.text
    token = made.json()
    secret = token["secret"]
    assert secret.startswith("jitev_") and len(secret) > 40
    assert token["person"] == PETROVA and token["revoked_at"] is None

    with jit.catalog.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = [dict(r._mapping) for r in conn.execute(select(api_tokens))]
    assert len(rows) == 1
    assert rows[0]["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(v) for v in rows[0].values())

    listed = petrova.get(f"{API}/tokens")
    assert listed.status_code == 200
    assert [t["id"] for t in listed.json()] == [token["id"]]
    assert "secret" not in listed.json()[0] and secret not in listed.text

    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {secret}"}) as bot:
        assert bot.get(f"{API}/me").json()["name"] == PETROVA
        revoked = petrova.delete(f"{API}/tokens/{token['id']}")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_at"] is not None
        body = error_of(bot.get(f"{API}/me"), 401)
        assert "revoked" in body["error"]
    error_of(petrova.delete(f"{API}/tokens/{token['id']}"), 400)  # already revoked
    assert access_actions(jit, PETROVA)[-2:] == ["TOKEN_ISSUED", "TOKEN_REVOKED"]


@pytest.mark.parametrize(
    "header",
    ["Bearer jitev_0000_not-a-token", "Bearer not-even-prefixed", "Basic dXNlcjpwdw==", "Bearer"],
)
def test_a_bad_authorization_header_is_401(client: httpx.Client, header: str) -> None:
    error_of(client.get(f"{API}/me", headers={"Authorization": header}), 401)


def test_only_the_owner_or_an_admin_revokes_a_token(
    as_: Login, served: Served, jit: Wiring
) -> None:
    secret = as_(PETROVA).post(f"{API}/tokens", json={"label": "BG case system"}).json()["secret"]
    token_id = jit.catalog.tokens(PETROVA)[0].id
    body = error_of(as_(IVANOV).delete(f"{API}/tokens/{token_id}"), 403)
    assert "manage_people" in body["error"]
    assert jit.catalog.token(token_id).revoked_at is None
    with httpx.Client(base_url=served.url, headers={"Authorization": f"Bearer {secret}"}) as bot:
        assert bot.get(f"{API}/me").status_code == 200
        revoked = as_(HORVAT).delete(f"{API}/tokens/{token_id}")
        assert revoked.status_code == 200, revoked.text
        error_of(bot.get(f"{API}/me"), 401)
    [event] = jit.catalog.access_events(action=AccessAction.TOKEN_REVOKED.value)
    assert event.actor == PETROVA and event.team == "BG"  # the token's owner and her team
    assert event.details == {"token": token_id, "by": HORVAT}


def test_an_unknown_token_id_is_404(as_: Login) -> None:
    error_of(as_(PETROVA).delete(f"{API}/tokens/deadbeef"), 404)


# -- rate limit and access log -------------------------------------------------------------


def test_the_sixth_attempt_is_refused_even_with_the_right_password(
    client: httpx.Client, served: Served, jit: Wiring
) -> None:
    for _ in range(access.MAX_FAILURES):
        wrong = client.post(f"{API}/session", json={"name": PETROVA, "password": "guess " * 3})
        error_of(wrong, 403)
    refused = client.post(f"{API}/session", json={"name": PETROVA, "password": PASSWORD})
    body = error_of(refused, 429)
    assert body["kind"] == "TooManyAttempts"
    assert "too many failed logins" in body["error"] and PETROVA in body["error"]
    retry_after = int(refused.headers["retry-after"])
    assert 0 < retry_after <= access.FAILURE_WINDOW.total_seconds() + 1
    assert "set-cookie" not in refused.headers
    assert access_actions(jit, PETROVA) == ["PASSWORD_SET"] + ["LOGIN_FAILED"] * 5 + [
        "LOGIN_REFUSED"
    ]
    # The limit is per name: a colleague at the same address still logs in.
    with httpx.Client(base_url=served.url) as other:
        log_in(other, IVANOV)


def test_the_access_log_records_sign_ins_and_its_chain_verifies(
    as_: Login, client: httpx.Client, jit: Wiring
) -> None:
    error_of(client.post(f"{API}/session", json={"name": IVANOV, "password": "wrong"}), 403)
    petrova = as_(PETROVA)
    token_id = petrova.post(f"{API}/tokens", json={"label": "script"}).json()["id"]
    assert petrova.delete(f"{API}/tokens/{token_id}").status_code == 200
    assert petrova.delete(f"{API}/session").status_code == 200

    keller = as_(KELLER)
    answer = keller.get(f"{API}/access-log")
    assert answer.status_code == 200, answer.text
    log = answer.json()
    assert log["verification"]["ok"] is True
    actions = {e["action"] for e in log["items"]}
    assert {
        "PASSWORD_SET",
        "LOGIN_FAILED",
        "LOGGED_IN",
        "LOGGED_OUT",
        "TOKEN_ISSUED",
        "TOKEN_REVOKED",
    } <= actions
    assert PASSWORD not in answer.text
    assert verify(ACCESS_LOG, jit.catalog.access_events()).ok

    only = keller.get(f"{API}/access-log", params={"action": "LOGGED_OUT"}).json()["items"]
    assert [(e["action"], e["actor"]) for e in only] == [("LOGGED_OUT", PETROVA)]
    by_ivanov = keller.get(f"{API}/access-log", params={"actor": IVANOV}).json()["items"]
    assert [e["action"] for e in by_ivanov] == ["PASSWORD_SET", "LOGIN_FAILED"]

    body = error_of(as_(MOREAU).get(f"{API}/access-log"), 403)
    assert "read_access_log" in body["error"]

    # An edited entry breaks the chain. It is before the head verified above,
    # so a look (which checks only what is new) does not see it; the full
    # check does, and every look after it then starts from the first entry.
    with jit.catalog.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(
            update(access_events)
            .where(access_events.c.action == "LOGIN_FAILED")
            .values(actor="Insp. Somebody")
        )
    assert keller.get(f"{API}/access-log").json()["verification"]["ok"] is True
    full = keller.get(f"{API}/access-log", params={"full": "true"}).json()["verification"]
    assert full["ok"] is False and full["first_bad"] is not None
    assert keller.get(f"{API}/access-log").json()["verification"]["ok"] is False


# -- upload ---------------------------------------------------------------------------------


def test_upload_hashes_stores_and_records_the_exhibit(as_: Login, jit: Wiring) -> None:
    data = b"Marko: the vans leave Thursday\n" * 1000
    answer = upload(as_(PETROVA), data, "chat.txt", title="Chat export", seized_by="Insp. Petrova")
    assert answer.status_code == 201, answer.text
    out = answer.json()
    assert out["status"] == "stored"
    assert out["sha256"] == hashlib.sha256(data).hexdigest()
    assert out["blake3"] == blake3.blake3(data).hexdigest()
    assert out["size"] == len(data)
    reference = out["reference"]
    assert read_back(jit.store, "BG", out["blake3"]).matches(
        len(data), out["blake3"], out["sha256"]
    )
    exhibit = jit.catalog.exhibit(reference, CASE)
    assert (exhibit.team, exhibit.title, exhibit.original_name) == ("BG", "Chat export", "chat.txt")
    [event] = events_of(jit, "INGESTED", reference)
    assert event.actor == PETROVA
    assert event.details["sha256"] == out["sha256"] and event.details["blake3"] == out["blake3"]


def test_an_empty_upload_is_stored_too(as_: Login) -> None:
    answer = upload(as_(PETROVA), b"", "empty.bin")
    assert answer.status_code == 201, answer.text
    assert answer.json()["sha256"] == hashlib.sha256(b"").hexdigest()


def test_a_declared_hash_that_does_not_match_quarantines_the_exhibit(
    as_: Login, jit: Wiring
) -> None:
    petrova = as_(PETROVA)
    data = b"seized ledger page"
    good = upload(petrova, data, "good.txt", declared_hash=f"sha1:{hashlib.sha1(data).hexdigest()}")
    assert good.status_code == 201 and good.json()["status"] == "stored", good.text
    bad = upload(
        petrova, data + b"!", "bad.txt", declared_hash=f"sha1:{hashlib.sha1(data).hexdigest()}"
    )
    assert bad.status_code == 201, bad.text
    assert bad.json()["status"] == "quarantined"
    assert jit.catalog.exhibit(bad.json()["reference"], CASE).status.value == "quarantined"


def test_an_upload_over_the_size_limit_is_refused_and_nothing_recorded(
    as_: Login, jit: Wiring
) -> None:
    jit.settings.web.max_upload_mib = 1
    petrova = as_(PETROVA)
    before = recorded(jit)
    body = error_of(upload(petrova, b"x" * (1024 * 1024 + 1), "big.bin"), 400)
    assert "big.bin" in body["error"] and "max_upload_mib" in body["error"]
    assert recorded(jit) == before
    assert upload(petrova, b"x" * (1024 * 1024), "fits.bin").status_code == 201


def test_an_upload_cut_short_records_nothing(as_: Login, jit: Wiring, served: Served) -> None:
    """The client promises 100,000 bytes, sends 1,000 and leaves: the server
    answers once it has given up, and no exhibit or custody event exists."""
    petrova = as_(PETROVA)
    secret = petrova.post(f"{API}/tokens", json={"label": "cut short"}).json()["secret"]
    before = len(list(jit.catalog.events(CASE)))
    url = httpx.URL(served.url)
    head = (
        f"POST {API}/cases/{CASE}/exhibits?name=cut.bin HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Authorization: Bearer {secret}\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: 100000\r\n\r\n"
    )
    with socket.create_connection((url.host, url.port)) as conn:
        conn.sendall(head.encode() + b"x" * 1000)
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(65536):  # until the server has finished with it and closes
            pass
    assert all(ex.original_name != "cut.bin" for ex in jit.catalog.exhibits(CASE))
    assert len(list(jit.catalog.events(CASE))) == before
    # the server is still fine
    assert uploaded(petrova, b"whole", "whole.txt")


def test_an_upload_without_a_content_length_is_refused(as_: Login, jit: Wiring) -> None:
    before = recorded(jit)
    answer = as_(PETROVA).post(
        f"{API}/cases/{CASE}/exhibits",
        params={"name": "chunked.bin"},
        content=iter([b"part one", b"part two"]),  # sent chunked
        headers={"content-type": "application/octet-stream"},
    )
    assert "Content-Length" in error_of(answer, 400)["error"]
    assert recorded(jit) == before


def test_a_prosecutor_may_not_upload(as_: Login, jit: Wiring) -> None:
    before = recorded(jit)
    body = error_of(upload(as_(DUBOIS), b"a file", "a.txt"), 403)
    assert "ingest" in body["error"]
    assert recorded(jit) == before


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"name": "a.txt", "handling": "H9"}, 422),
        ({"name": "a.txt", "handling": "H3"}, 400),  # H3 needs its restriction in words
        ({"name": ".."}, 400),
        ({"name": "dir/"}, 400),
        ({"name": "a.txt", "declared_hash": "3f786850e387550fdab836ed7e6dc881de23001b"}, 400),
        ({"name": "a.txt", "declared_hash": "crc9:00"}, 400),
        ({"name": "a.txt", "seized_at": "last Tuesday"}, 400),
        ({}, 422),  # no name
    ],
)
def test_bad_upload_parameters_are_refused_with_a_message(
    as_: Login, jit: Wiring, params: dict[str, str], status: int
) -> None:
    petrova = as_(PETROVA)
    before = recorded(jit)
    answer = petrova.post(
        f"{API}/cases/{CASE}/exhibits",
        params=params,
        content=b"evidence",
        headers={"content-type": "application/octet-stream"},
    )
    error_of(answer, status)
    assert recorded(jit) == before


def test_an_upload_to_an_unknown_case_is_404(as_: Login) -> None:
    body = error_of(upload(as_(PETROVA), b"evidence", case="NOSUCH"), 404)
    assert "NOSUCH" in body["error"]


# -- download -------------------------------------------------------------------------------


def test_download_gives_the_bytes_and_records_who_accessed_them(as_: Login, jit: Wiring) -> None:
    data = bytes(range(256)) * 2000
    petrova = as_(PETROVA)
    reference = uploaded(petrova, data, "phone.bin")
    answer = as_(IVANOV).get(f"{API}/exhibits/{reference}/content")
    assert answer.status_code == 200, answer.text
    assert answer.content == data
    assert answer.headers["x-content-sha256"] == hashlib.sha256(data).hexdigest()
    assert answer.headers["content-disposition"].startswith("attachment;")
    [event] = events_of(jit, "ACCESSED", reference)
    assert (event.actor, event.team, event.exhibit) == (IVANOV, "BG", reference)
    assert event.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert event.details["size"] == len(data)


@pytest.mark.parametrize("who", [VUKOVIC, MOREAU, KELLER, HORVAT])
def test_only_a_team_holding_the_exhibit_downloads_it(as_: Login, jit: Wiring, who: str) -> None:
    reference = uploaded(as_(PETROVA), b"BG only", "bg.txt")
    body = error_of(as_(who).get(f"{API}/exhibits/{reference}/content"), 403)
    assert "download" in body["error"]
    assert events_of(jit, "ACCESSED", reference) == []


# -- hand-offs ------------------------------------------------------------------------------


def test_handoff_is_requested_approved_and_dispatched_as_a_flow_run(
    as_: Login, jit: Wiring
) -> None:
    petrova = as_(PETROVA)
    data = b"call records of +359 88 123 4567"
    reference = uploaded(petrova, data, "cdr.csv")
    transfer_id = request_handoff(petrova, [reference])

    job = approve_and_dispatch(as_(LAURENT), transfer_id)
    assert job["state"] == "COMPLETED", job
    assert job["result"] == {"transfer": transfer_id, "state": "dispatched", "failure": ""}
    assert job["flow_run_id"]
    state = petrova.get(f"{API}/transfers/{transfer_id}")
    assert state.status_code == 200 and state.json()["state"] == "dispatched", state.text
    [event] = events_of(jit, "DISPATCHED", reference)
    assert event.actor == LAURENT and event.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert (
        read_back(jit.store, "FR", blake3.blake3(data).hexdigest()).sha256
        == event.details["sha256"]
    )
    # The job is the approver's: another person does not see it.
    error_of(petrova.get(f"{API}/jobs/{job['id']}"), 404)


def test_a_decision_is_given_once_by_the_right_person(as_: Login, jit: Wiring) -> None:
    petrova = as_(PETROVA)
    reference = uploaded(petrova, b"photo of the container seal", "seal.jpg")
    first = request_handoff(petrova, [reference])
    for who in (PETROVA, MOREAU, GEORGIEV):  # own request, not a lead, not the JIT lead
        client = petrova if who == PETROVA else as_(who)
        body = error_of(client.post(f"{API}/transfers/{first}/approve", json={}), 403)
        assert "approve" in body["error"]
    laurent = as_(LAURENT)
    body = error_of(laurent.post(f"{API}/transfers/{first}/reject", json={"reason": " "}), 400)
    assert "why" in body["error"] and body["field"] == "reason"  # the client knows what to fill
    assert petrova.get(f"{API}/transfers/{first}").json()["state"] == "requested"
    rejected = laurent.post(f"{API}/transfers/{first}/reject", json={"reason": "not needed"})
    assert rejected.status_code == 200 and rejected.json()["state"] == "rejected", rejected.text
    error_of(laurent.post(f"{API}/transfers/{first}/approve", json={}), 409)

    second = request_handoff(petrova, [reference])
    job = approve_and_dispatch(laurent, second)
    assert job["state"] == "COMPLETED", job
    error_of(laurent.post(f"{API}/transfers/{second}/approve", json={}), 409)
    assert len(events_of(jit, "TRANSFER_APPROVED", reference)) == 1
    error_of(laurent.post(f"{API}/transfers/nosuch/approve", json={}), 404)


def test_an_originating_lead_approving_last_leaves_the_dispatch_to_the_sending_team(
    as_: Login, jit: Wiring
) -> None:
    """An H2 exhibit of BG, received by FR, handed on to ME: BG's lead gives
    the last approval but may not dispatch FR's copy, so no flow run is
    started in his name; FR dispatches it."""
    petrova, laurent, georgiev, moreau = as_(PETROVA), as_(LAURENT), as_(GEORGIEV), as_(MOREAU)
    reference = uploaded(petrova, b"wiretap transcript", "wiretap.txt", handling="H2")
    to_fr = request_handoff(petrova, [reference])
    first = laurent.post(f"{API}/transfers/{to_fr}/approve", json={})
    assert first.json()["state"] == "requested" and first.json()["job"] is None, first.text
    last = georgiev.post(f"{API}/transfers/{to_fr}/approve", json={"reason": "agreed"})
    assert last.json()["state"] == "approved", last.text
    assert finished(georgiev, last.json()["job"])["state"] == "COMPLETED"  # BG sends: BG may
    assert moreau.post(f"{API}/transfers/{to_fr}/receive").json()["state"] == "received"

    answer = moreau.post(
        f"{API}/transfers", json={"case": CASE, "exhibits": [reference], "to_team": "ME"}
    )
    assert answer.status_code == 201, answer.text
    to_me = answer.json()["id"]
    assert laurent.post(f"{API}/transfers/{to_me}/approve", json={}).json()["job"] is None
    last = georgiev.post(f"{API}/transfers/{to_me}/approve", json={"reason": "agreed"})
    assert last.status_code == 200, last.text
    assert last.json()["state"] == "approved" and last.json()["job"] is None
    error_of(georgiev.post(f"{API}/transfers/{to_me}/dispatch"), 403)
    started = moreau.post(f"{API}/transfers/{to_me}/dispatch")
    assert started.status_code == 202, started.text
    assert finished(moreau, started.json())["result"]["state"] == "dispatched"
    dispatched = [
        e for e in events_of(jit, "DISPATCHED", reference) if e.details["to_team"] == "ME"
    ]
    assert [e.actor for e in dispatched] == [MOREAU]


def test_a_handoff_of_an_exhibit_the_team_does_not_hold_is_refused(as_: Login) -> None:
    reference = uploaded(as_(PETROVA), b"BG only", "bg.txt")
    answer = as_(VUKOVIC).post(
        f"{API}/transfers", json={"case": CASE, "exhibits": [reference], "to_team": "FR"}
    )
    assert "does not hold" in error_of(answer, 403)["error"]


# -- disclosure bundles ---------------------------------------------------------------------


def test_a_prosecutor_builds_a_bundle_of_what_the_team_received(as_: Login, jit: Wiring) -> None:
    reference = handed_to_fr(as_, b"bank statement, account 4411", "statement.pdf")
    dubois = as_(DUBOIS)
    answer = dubois.post(f"{API}/bundles", json={"case": CASE, "exhibits": [reference]})
    assert answer.status_code == 202, answer.text
    job = finished(dubois, answer.json())
    assert job["state"] == "COMPLETED", job
    bundle_id = job["result"]["id"]
    assert job["result"]["exhibits"] == 1  # the receipt counts; the record names them
    assert job["progress"] == 100.0
    with get_client(sync_client=True) as prefect:  # the embedded default: this app served it
        run = prefect.read_flow_run(job["id"])
        deployment = prefect.read_deployment(run.deployment_id)
    assert deployment.name.startswith("local-") and run.work_pool_name is None
    listed = dubois.get("/jobs")  # the Jobs page
    assert listed.status_code == 200 and f'href="/jobs/{job["id"]}"' in listed.text

    record = dubois.get(f"{API}/bundles/{bundle_id}")
    assert record.status_code == 200, record.text
    assert record.json()["exhibits"] == [reference]
    content = dubois.get(f"{API}/bundles/{bundle_id}/content")
    assert content.status_code == 200, content.text
    assert content.headers["content-type"] == "application/zip"
    assert hashlib.sha256(content.content).hexdigest() == record.json()["sha256"]
    assert zipfile.ZipFile(BytesIO(content.content)).testzip() is None

    report = dubois.get(f"{API}/bundles/{bundle_id}/verification")
    assert report.status_code == 200, report.text
    assert report.json()["ok"] is True
    [event] = events_of(jit, "DISCLOSED", reference)
    assert event.actor == DUBOIS

    # Its bytes are the FR prosecutors' and leads': not the auditor's, not BG's.
    error_of(as_(KELLER).get(f"{API}/bundles/{bundle_id}/content"), 403)
    error_of(as_(PETROVA).get(f"{API}/bundles/{bundle_id}/content"), 403)


def test_a_bundle_with_an_h1_exhibit_without_consent_is_refused_at_once(
    as_: Login, jit: Wiring
) -> None:
    reference = handed_to_fr(as_, b"informant debrief", "debrief.txt", handling="H1")
    dubois = as_(DUBOIS)
    body = error_of(
        dubois.post(f"{API}/bundles", json={"case": CASE, "exhibits": [reference]}), 403
    )
    assert reference in body["error"] and "consent" in body["error"]
    assert body["consents"] == [{"reference": reference, "origin_team": "BG", "for_team": "FR"}]
    assert dubois.get(f"{API}/jobs").json()["items"] == []  # no build was started
    assert jit.catalog.bundles(CASE) == []
    assert events_of(jit, "DISCLOSED", reference) == []

    # BG's lead consents through the API (only a lead of the originating team may)...
    terms = {"for_team": "FR", "note": "for the trial in Marseille"}
    error_of(as_(LAURENT).post(f"{API}/exhibits/{reference}/consent", json=terms), 403)
    given = as_(GEORGIEV).post(f"{API}/exhibits/{reference}/consent", json=terms)
    assert given.status_code == 200, given.text
    assert given.json()["action"] == "JUDICIAL_USE_CONSENTED"
    assert given.json()["details"] == terms
    # ... and the same bundle is built
    job = dubois.post(f"{API}/bundles", json={"case": CASE, "exhibits": [reference]})
    assert job.status_code == 202, job.text
    assert finished(dubois, job.json())["state"] == "COMPLETED"
    assert [e.actor for e in events_of(jit, "DISCLOSED", reference)] == [DUBOIS]


def test_the_originating_lead_sets_handling_and_sensitivity(as_: Login, jit: Wiring) -> None:
    reference = uploaded(as_(PETROVA), b"phone extraction", "extraction.txt")
    georgiev = as_(GEORGIEV)
    changed = georgiev.post(
        f"{API}/exhibits/{reference}/handling",
        json={"code": "H3", "note": "not to Interpol", "purposes": ["other_offence"]},
    )
    assert changed.status_code == 200, changed.text
    handling = jit.catalog.exhibit(reference).handling
    assert (handling.code.value, handling.note) == ("H3", "not to Interpol")
    assert "other_offence" in handling.purposes
    # H3 says the restriction in words; the same handling again changes nothing
    error_of(georgiev.post(f"{API}/exhibits/{reference}/handling", json={"code": "H3"}), 400)
    # an investigator may not change handling
    error_of(as_(PETROVA).post(f"{API}/exhibits/{reference}/handling", json={"code": "H0"}), 403)
    marked = georgiev.post(
        f"{API}/exhibits/{reference}/sensitivity", json={"sensitive": True, "reason": "informant"}
    )
    assert marked.status_code == 200, marked.text
    assert [e.details for e in events_of(jit, "SENSITIVITY_SET", reference)] == [
        {"sensitive": True, "reason": "informant"}
    ]


def test_a_bundle_names_its_exhibits_or_all_held(as_: Login) -> None:
    dubois = as_(DUBOIS)
    error_of(dubois.post(f"{API}/bundles", json={"case": CASE}), 400)
    error_of(
        dubois.post(f"{API}/bundles", json={"case": CASE, "exhibits": ["X"], "all_held": True}), 400
    )
    body = error_of(dubois.post(f"{API}/bundles", json={"case": CASE, "all_held": True}), 400)
    assert "holds no exhibit" in body["error"]


# -- audit ----------------------------------------------------------------------------------


def test_the_ledger_page_shows_fixity_audits_and_their_failures(as_: Login, jit: Wiring) -> None:
    first = uploaded(as_(PETROVA), b"first", "port-manifest.pdf")
    keller = jit.catalog.person(KELLER)
    at = datetime.now(UTC)
    fixity.audit_fixity(jit.catalog, jit.store, keller, CASE, now=at, cycle_days=1)
    stored = jit.store.object_path("BG", jit.catalog.exhibit(first, CASE).blake3)
    stored.chmod(0o644)
    stored.write_bytes(b"FIRST")
    fixity.audit_fixity(jit.catalog, jit.store, keller, CASE, now=at, cycle_days=1)
    page = as_(KELLER).get("/ledger")
    assert page.status_code == 200, page.text
    table = page.text.split('id="fixity"')[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]  # newest first, after the header
    assert len(rows) == 2
    assert "FIXITY_FAILED events" in rows[0] and "none" in rows[1]


def test_an_auditor_verifies_the_case_and_searches_its_events(as_: Login, jit: Wiring) -> None:
    petrova = as_(PETROVA)
    first = uploaded(petrova, b"first", "port-manifest.pdf")
    uploaded(petrova, b"second", "invoice.pdf")
    keller = as_(KELLER)

    check = keller.get(f"{API}/cases/{CASE}/verification")
    assert check.status_code == 200, check.text
    assert check.json()["ok"] is True and check.json()["exhibits"] == 2
    assert check.json()["copies"] == 0  # the stored objects only when asked for

    stored = jit.store.object_path("BG", jit.catalog.exhibit(first, CASE).blake3)
    stored.chmod(0o644)
    stored.write_bytes(b"FIRST")  # replaced behind jitev's back
    reread = keller.get(f"{API}/cases/{CASE}/verification", params={"objects": "true"})
    assert reread.status_code == 200, reread.text
    assert reread.json()["ok"] is False and reread.json()["copies"] == 2
    assert any(f["where"].startswith(first) for f in reread.json()["findings"])

    found = keller.get(
        f"{API}/cases/{CASE}/events", params={"action": "INGESTED", "text": "PORT-MANIFEST"}
    )
    assert found.status_code == 200, found.text
    assert [(e["action"], e["exhibit"]) for e in found.json()["items"]] == [("INGESTED", first)]
    everything = keller.get(f"{API}/cases/{CASE}/events").json()
    assert everything["total"] == len(everything["items"]) == recorded(jit)[1]
    assert len(keller.get(f"{API}/cases/{CASE}/events", params={"limit": 2}).json()["items"]) == 2

    for who in (PETROVA, DUBOIS, GEORGIEV):  # auditors and the JIT lead only
        error_of(as_(who).get(f"{API}/cases/{CASE}/verification"), 403)
        error_of(as_(who).get(f"{API}/cases/{CASE}/events"), 403)
    assert as_(LAURENT).get(f"{API}/cases/{CASE}/verification").json()["ok"] is True


# -- errors ---------------------------------------------------------------------------------


def test_every_error_is_json_without_a_traceback(as_: Login, client: httpx.Client) -> None:
    petrova = as_(PETROVA)
    error_of(petrova.get(f"{API}/exhibits/NOSUCH-1"), 404)
    error_of(petrova.get(f"{API}/exhibits/NOSUCH-1/content"), 404)
    error_of(petrova.get(f"{API}/transfers/nosuch"), 404)
    error_of(petrova.get(f"{API}/jobs/nosuch"), 404)
    error_of(petrova.get(f"{API}/bundles/nosuch"), 404)
    error_of(petrova.get(f"{API}/cases/NOSUCH/events"), 404)
    error_of(petrova.get(f"{API}/no/such/route"), 404)
    error_of(petrova.put(f"{API}/me"), 405)
    error_of(petrova.get(f"{API}/exhibits", params={"status": "lost"}), 422)
    error_of(
        petrova.post(
            f"{API}/transfers", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
    )
    error_of(
        petrova.post(f"{API}/transfers", json={"case": CASE, "exhibits": [], "to_team": "FR"}), 422
    )
    error_of(client.post(f"{API}/session", json={"name": PETROVA}), 422)
    error_of(client.post(f"{API}/session", json={"name": PETROVA, "password": ""}), 400)
    error_of(client.post(f"{API}/session", json={"name": PETROVA, "password": "x" * 5000}), 422)
