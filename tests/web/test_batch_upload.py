"""The batch upload (``POST /api/v1/cases/{case}/uploads``, the format of
``evidence.uploads``) and its lookup (``.../exhibits/known``), over real
HTTP: files checked against the sender's digests before anything is
recorded, a bad frame refused naming the file, what arrived whole before it
kept; and an upload's file past the 4 MiB bound of other bodies."""

from __future__ import annotations

import hashlib
import os
import struct

import blake3
import httpx

from config.wiring import Wiring
from evidence.uploads import END, frame_header
from tests.fixtures_web import Login
from tests.web.test_api import (
    API,
    CASE,
    MOREAU,
    PETROVA,
    error_of,
    events_of,
    recorded,
    upload,
)

URL = f"{API}/cases/{CASE}/uploads"


def frame(
    path: str,
    data: bytes,
    fields: dict[str, str] | None = None,
    sha256: str = "",
    raw_name: str = "",
) -> bytes:
    b3 = blake3.blake3(data).hexdigest()
    digest = sha256 or hashlib.sha256(data).hexdigest()
    return frame_header(path, len(data), b3, digest, fields or {}, raw_name) + data


def send(c: httpx.Client, body: bytes) -> httpx.Response:
    return c.post(URL, content=body, headers={"content-type": "application/x-jitev-batch"})


def test_a_batch_is_stored_with_its_paths_and_metadata(as_: Login, jit: Wiring) -> None:
    files = {f"phone/DCIM/IMG_{n}.jpg": os.urandom(5000 + n) for n in range(3)}
    body = b"".join(frame(p, d, {"seized_by": "Insp. Petrova"}) for p, d in files.items()) + END
    petrova = as_(PETROVA)
    answer = send(petrova, body)
    assert answer.status_code == 201, answer.text
    outcomes = answer.json()
    assert [o["status"] for o in outcomes] == ["stored"] * 3
    for o in outcomes:
        ex = jit.catalog.exhibit(o["reference"], CASE)
        assert ex.relative_path == o["source"] and ex.original_name == o["source"].rsplit("/")[-1]
        assert ex.sha256 == hashlib.sha256(files[o["source"]]).hexdigest()
        assert ex.seized_by == "Insp. Petrova" and ex.team == "BG"
    digests = [blake3.blake3(d).hexdigest() for d in files.values()]
    known = petrova.post(f"{API}/cases/{CASE}/exhibits/known", json={"blake3": digests})
    assert sorted(e["relative_path"] for e in known.json()) == sorted(files)
    # FR's investigator learns nothing of BG's contents from the lookup:
    moreau = as_(MOREAU)
    assert moreau.post(f"{API}/cases/{CASE}/exhibits/known", json={"blake3": digests}).json() == []


def test_bytes_that_are_not_the_senders_are_changed_and_not_recorded(
    as_: Login, jit: Wiring
) -> None:
    good, bad = os.urandom(3000), os.urandom(3000)
    wrong = hashlib.sha256(b"what the sender read").hexdigest()
    before = recorded(jit)
    answer = send(as_(PETROVA), frame("good.bin", good) + frame("bad.bin", bad, sha256=wrong) + END)
    assert answer.status_code == 201, answer.text
    [ok, changed] = answer.json()
    assert ok["status"] == "stored" and changed["status"] == "changed"
    assert "not those the sender hashed" in changed["message"] and changed["reference"] is None
    assert recorded(jit)[0] == before[0] + 1


def test_a_bad_frame_is_refused_naming_the_file_and_keeps_what_came_whole(
    as_: Login, jit: Wiring
) -> None:
    petrova = as_(PETROVA)
    first = os.urandom(2000)
    before = recorded(jit)[0]
    answer = send(petrova, frame("first.bin", first) + frame("../escape.bin", b"x") + END)
    body = error_of(answer, 400)
    assert "file 2" in body["error"] and "'../escape.bin'" in body["error"], body
    assert recorded(jit)[0] == before + 1  # first.bin arrived whole: committed
    deep = b"[" * 60000
    body = error_of(send(petrova, struct.pack(">I", len(deep)) + deep), 400)
    assert "file 1" in body["error"] and "not JSON" in body["error"]
    cut = frame("cut.bin", os.urandom(4000))[:-1000]
    body = error_of(send(petrova, cut), 400)
    assert "file 1" in body["error"] and "ended after" in body["error"], body
    assert recorded(jit)[0] == before + 1


def test_seized_names_are_kept_as_a_direct_ingest_keeps_them(as_: Login, jit: Wiring) -> None:
    """A name that is not UTF-8 (its readable form and its bytes), and one
    with a backslash and control characters: stored, not refused."""
    raw = "phone/IMG_\xff\xfe.jpg".encode("latin-1")
    shown = raw.decode("utf-8", "backslashreplace")  # phone/IMG_\\xff\\xfe.jpg
    odd = "chat/a\\b \x1b[2J\u202etxt.exe"
    body = frame(shown, os.urandom(700), raw_name=raw.hex()) + frame(odd, os.urandom(700)) + END
    petrova = as_(PETROVA)
    answer = send(petrova, body)
    assert answer.status_code == 201, answer.text
    assert [(o["source"], o["status"]) for o in answer.json()] == [
        (shown, "stored"),
        (odd, "stored"),
    ]
    [first, _] = answer.json()
    [ingested] = events_of(jit, "INGESTED", first["reference"])
    assert ingested.details["source_bytes"] == raw.hex()
    # raw_name must be the bytes of that readable name, and not UTF-8:
    for wrong in (b"phone/other".hex(), b"phone/IMG_\xfe.jpg".hex(), "zz"):
        lying = frame(shown, os.urandom(10), raw_name=wrong) + END
        body = error_of(send(petrova, lying), 400)
        assert "file 1" in body["error"] and "raw_name" in body["error"], body
    body = error_of(send(petrova, frame("nul\x00.bin", b"x") + END), 400)
    assert "NUL" in body["error"], body


def test_an_uploads_file_may_pass_the_bound_of_other_bodies(as_: Login, jit: Wiring) -> None:
    data = os.urandom(5 * 1024 * 1024)  # over the 4 MiB of JSON and forms
    answer = upload(as_(PETROVA), data, "large.bin")
    assert answer.status_code == 201, answer.text
    answer = send(as_(PETROVA), frame("large-in-batch.bin", os.urandom(5 * 1024 * 1024)) + END)
    assert answer.status_code == 201 and answer.json()[0]["status"] == "stored", answer.text
