"""``jitev ingest`` in client mode: files sent to the server in batches,
checked there against the digests computed here, each recorded once; a run
killed with ``kill -9`` resumes by hash without sending again what the
server committed; the exit codes and ``--json`` of a direct ingest."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.client.conftest import JITEV, Client

POLLS = 6000  # polls of 0.05 s at most: a cap, not a timed assertion


def _folder(base: Path, name: str, count: int, size: int = 8192) -> Path:
    top = base / name
    (top / "DCIM").mkdir(parents=True)
    for n in range(count):
        (top / "DCIM" / f"IMG_{n:05d}.jpg").write_bytes(os.urandom(size))
    return top


def _exhibits(api: httpx.Client, prefix: str) -> list[dict[str, Any]]:
    """The case's exhibits whose path starts with ``prefix``, every page."""
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"case": "DANUBE", "limit": 1000, **({"cursor": cursor} if cursor else {})}
        answer = api.get("/exhibits", params=params).json()
        found += [e for e in answer["items"] if e["relative_path"].startswith(prefix)]
        cursor = answer["next"]
        if not cursor:
            return found


def test_an_ingest_through_the_server_then_again_sends_nothing(
    client: Client, tmp_path: Path
) -> None:
    top = _folder(tmp_path, "phone-a", 40)
    (top / "notes.txt").write_text("seized 14 March")
    # A name that is not UTF-8, as a seized file system may hold: kept.
    (top / os.fsdecode(b"caf\xe9 \xff.txt")).write_bytes(b"Latin-1 name")
    (top / "DCIM" / "copy.jpg").write_bytes((top / "DCIM" / "IMG_00000.jpg").read_bytes())
    client.login("Insp. Petrova")
    first = client.json("ingest", str(top), "--case", "DANUBE", "--seized-by", "Insp. Petrova")
    statuses = [o["status"] for o in first["outcomes"]]
    assert statuses.count("stored") == 42 and statuses.count("duplicate") == 1, statuses
    assert first["team"] == "BG" and first["skipped"] == []
    with client.api() as api:
        made = {e["relative_path"]: e for e in _exhibits(api, "phone-a/")}
    assert set(made) == {o["source"] for o in first["outcomes"] if o["status"] == "stored"}
    note = made["phone-a/notes.txt"]
    assert note["seized_by"] == "Insp. Petrova" and note["original_name"] == "notes.txt"
    assert note["ingested_by"] == "Insp. Petrova" and note["team"] == "BG"
    assert made["phone-a/caf\\xe9 \\xff.txt"]["size"] == len(b"Latin-1 name")
    assert note["sha256"] == hashlib.sha256(b"seized 14 March").hexdigest()

    again = client.json("ingest", str(top), "--case", "DANUBE", "--seized-by", "Insp. Petrova")
    by_status: dict[str, int] = {}
    for o in again["outcomes"]:
        by_status[o["status"]] = by_status.get(o["status"], 0) + 1
    assert by_status == {"unchanged": 42, "duplicate": 1}, by_status
    assert again["seconds"]["send"] >= 0


def test_kill_9_in_the_middle_then_the_same_command_finishes_the_rest(
    client: Client, tmp_path: Path
) -> None:
    count = 4000
    top = _folder(tmp_path, "phone-k", count)
    client.login("Insp. Petrova")
    args = [JITEV, "ingest", str(top), "--case", "DANUBE", "--json"]
    with client.api() as api:
        running = subprocess.Popen(
            args, env=client.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        committed = 0
        for _ in range(POLLS):
            committed = len(_exhibits(api, "phone-k/"))
            if committed or running.poll() is not None:
                break
            time.sleep(0.05)
        running.send_signal(signal.SIGKILL)
        _, stderr = running.communicate()
        assert 0 < committed < count, f"killed at {committed} of {count}: {stderr.decode()}"
        before = {e["relative_path"]: e["reference"] for e in _exhibits(api, "phone-k/")}
        assert len(before) < count

        done = client.jitev(*args[1:])
        result = json.loads(done.stdout)
        outcomes = {o["source"]: o for o in result["outcomes"]}
        assert len(outcomes) == count
        for path, reference in before.items():  # committed before the kill: not sent again
            assert (
                outcomes[path]["status"] == "unchanged" and outcomes[path]["reference"] == reference
            )
        # The server may still be committing what arrived whole when ``before``
        # is read: those are found as unchanged too; the rest is stored now.
        rest = [o["status"] for p, o in outcomes.items() if p not in before]
        assert set(rest) <= {"stored", "unchanged"} and "stored" in rest
        after = _exhibits(api, "phone-k/")
    assert len(after) == count == len({e["relative_path"] for e in after})  # each once
