"""Hand-offs through the jitev command, as the people of the JIT use it, and
the demo story end to end."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import zipfile
from pathlib import Path

import pytest

from app.demo import DEMO_PASSWORD
from config.wiring import SystemClock
from storage.passwords import Argon2Hasher
from storage.sql.catalog import SqlCatalog
from tests.integration.cli_helpers import (
    AUDITOR,
    copy_prefect_home,
    environment,
    ingest,
    jitev,
    jitev_json,
    open_case,
)

JIT_LEAD = "Cdt. Laurent"
FR_INVESTIGATOR = "Lt. Moreau"


@pytest.fixture
def env(tmp_path: Path, prefect_template: Path) -> dict[str, str]:
    env = environment(tmp_path / "home", copy_prefect_home(prefect_template, tmp_path / "prefect"))
    open_case(env)
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "chat.txt").write_text("Ivo: border at 03:00\n")
    (seized / "ledger.csv").write_text("date,amount\n2026-01-12,14500\n")
    ingest(env, str(seized))
    return env


def refused(done: subprocess.CompletedProcess[str], code: int, *phrases: str) -> None:
    out = done.stdout + done.stderr
    assert done.returncode == code, out
    assert "Traceback" not in out
    for phrase in phrases:
        assert phrase in out, out


def test_request_approve_dispatch_receive_and_show(env: dict[str, str]) -> None:
    t = jitev_json(
        env, "transfer", "request", "BG-EX-0001", "BG-EX-0002", "--case", "DANUBE", "--to", "FR",
        "--note", "for the FR financial inquiry", "--as", "Insp. Petrova",
    )  # fmt: skip
    tid = t["id"]
    assert (tid, t["state"], t["pending"]) == (
        "DANUBE-T-0001",
        "requested",
        [{"capacity": "jit_lead", "team": "FR"}],
    )
    refused(
        jitev(env, "transfer", "receive", tid, "--as", FR_INVESTIGATOR, check=False),
        2,
        f"transfer {tid} is requested",
    )
    refused(
        jitev(env, "transfer", "approve", tid, "--as", "Insp. Ivanov", check=False),
        5,
        "may not approve",
    )
    approved = jitev_json(
        env,
        "transfer",
        "approve",
        tid,
        "--reason",
        "JIT purposes",
        "--no-dispatch",
        "--as",
        JIT_LEAD,
    )
    assert approved["state"] == "approved"
    dispatched = jitev_json(env, "transfer", "dispatch", tid, "--as", JIT_LEAD)
    assert dispatched["state"] == "dispatched"
    assert all(item["dispatched_seq"] for item in dispatched["exhibits"])
    received = jitev_json(env, "transfer", "receive", tid, "--as", FR_INVESTIGATOR)
    assert received["state"] == "received" and received["receipt_check"]["ok"] is True
    shown = jitev(env, "transfer", "show", tid, "--as", FR_INVESTIGATOR)
    assert "✔ signature valid" in shown.stdout and "for the FR financial inquiry" in shown.stdout
    listed = jitev_json(env, "exhibits", "list", "--as", FR_INVESTIGATOR)
    assert [e["reference"] for e in listed] == ["BG-EX-0001", "BG-EX-0002"]
    custody = jitev(env, "custody", "show", "BG-EX-0001", "--as", FR_INVESTIGATOR)
    assert "Held by: BG (originator), FR (for jit, DANUBE-T-0001)" in custody.stdout
    for action in ("TRANSFER_REQUESTED", "TRANSFER_APPROVED", "DISPATCHED", "RECEIVED"):
        assert action in custody.stdout
    assert jitev_json(env, "ledger", "verify", "--as", AUDITOR)[0]["ok"] is True

    # A receipt altered in the database no longer verifies: show exits 1.
    db = sqlite3.connect(Path(env["JITEV_HOME"]) / "jitev.db")
    with db:
        db.execute("UPDATE receipts SET signature = replace(signature, 'a', 'b')")
    db.close()
    done = jitev(env, "transfer", "show", tid, "--as", FR_INVESTIGATOR, check=False)
    refused(done, 1, "✘ INVALID")


def test_other_offence_needs_a_legal_basis_and_the_origin_s_consent(env: dict[str, str]) -> None:
    request = ["transfer", "request", "BG-EX-0001", "--case", "DANUBE", "--to", "ME"]
    refused(
        jitev(env, *request, "--purpose", "smuggling", "--as", "Insp. Petrova", check=False),
        2,
        "purpose 'smuggling' is not valid",
    )
    refused(
        jitev(env, *request, "--purpose", "other_offence", "--as", "Insp. Petrova", check=False),
        2,
        "needs its legal basis",
    )
    t = jitev_json(
        env, *request, "--purpose", "other_offence", "--legal-basis", "Art. 13(10)",
        "--as", "Insp. Petrova",
    )  # fmt: skip
    assert [p["team"] for p in t["pending"]] == ["FR", "BG"]
    after_lead = jitev_json(env, "transfer", "approve", t["id"], "--as", JIT_LEAD)
    assert after_lead["state"] == "requested"
    refused(
        jitev(env, "transfer", "reject", t["id"], "--as", "Cmsr. Georgiev", check=False),
        2,
        "--reason",
    )
    rejected = jitev_json(
        env, "transfer", "reject", t["id"], "--reason", "a witness", "--as", "Cmsr. Georgiev"
    )
    assert rejected["state"] == "rejected"
    listed = jitev(env, "transfer", "list", "--as", "Cmsr. Georgiev")
    assert "rejected" in listed.stdout and t["id"] in listed.stdout
    refused(
        jitev(env, "transfer", "show", t["id"], "--as", FR_INVESTIGATOR, check=False),
        5,
        f"may not view transfer {t['id']}",
    )


def test_demo_tells_the_whole_story_and_runs_again(tmp_path: Path, prefect_template: Path) -> None:
    env = environment(tmp_path / "home", copy_prefect_home(prefect_template, tmp_path / "prefect"))
    first = jitev(env, "demo")
    assert first.stdout.count("✔ signature valid") >= 2
    assert "The photo identifies a BG witness" in first.stdout
    assert "ledger intact" in first.stdout
    assert "PASS: the bundle verifies" in first.stdout
    assert "published (cosigned by BG, ME, FR)" in first.stdout
    # FR's bundle discloses the events of its own exhibits, and no other's
    with zipfile.ZipFile(tmp_path / "home" / "bundles" / "DANUBE-FR-B-0001.zip") as zf:
        data = "DANUBE-FR-B-0001/data"
        lines = zf.read(f"{data}/ledger/custody.jsonl").decode().splitlines()
        schedule = zf.read(f"{data}/schedule.csv").decode()
    scheduled = {row["reference"] for row in csv.DictReader(io.StringIO(schedule))}
    disclosed = [json.loads(line) for line in lines]
    assert {e["exhibit"] for e in disclosed} - {None} == scheduled
    assert not any("ME-EX" in line or "Vuković" in line for line in lines)
    assert "make serve" in first.stdout and DEMO_PASSWORD in first.stdout
    with SqlCatalog(f"sqlite:///{tmp_path / 'home' / 'jitev.db'}", SystemClock()) as catalog:
        hashed = catalog.password_hash("Pr. Dubois")
        assert hashed is not None and Argon2Hasher().verify(hashed, DEMO_PASSWORD)
    states = [t["state"] for t in jitev_json(env, "transfer", "list", "--as", AUDITOR)]
    assert states == ["received", "rejected", "received"]
    again = jitev(env, "demo")
    assert "made by an earlier run" in again.stdout and "ledger intact" in again.stdout
    assert "PASS: the bundle verifies" in again.stdout
    assert len(jitev_json(env, "transfer", "list", "--as", AUDITOR)) == 3


def test_a_bundle_from_the_command_line_verifies_offline(
    env: dict[str, str], tmp_path: Path
) -> None:
    tid = jitev_json(
        env, "transfer", "request", "BG-EX-0001", "BG-EX-0002", "--case", "DANUBE", "--to", "FR",
        "--as", "Insp. Petrova",
    )["id"]  # fmt: skip
    jitev(env, "transfer", "approve", tid, "--as", JIT_LEAD)
    jitev(env, "transfer", "receive", tid, "--as", FR_INVESTIGATOR)
    jitev(env, "exhibits", "handling", "BG-EX-0002", "--code", "H1", "--as", "Cmsr. Georgiev")
    refused(
        jitev(env, "bundle", "create", "--case", "DANUBE", "--all-held", "--as", "Pr. Dubois",
              check=False),
        5,
        "BG-EX-0002 (H1) needs the consent of its originating team BG",
    )  # fmt: skip
    jitev(env, "exhibits", "consent", "BG-EX-0002", "--for", "FR", "--note", "trial in Marseille",
          "--as", "Cmsr. Georgiev")  # fmt: skip
    made = jitev_json(
        env, "bundle", "create", "--case", "DANUBE", "--all-held", "--as", "Pr. Dubois"
    )
    assert made["exhibits"] == ["BG-EX-0001", "BG-EX-0002"]
    out = tmp_path / "got"
    out.mkdir()
    jitev(env, "bundle", "download", made["id"], "--out", str(out), "--as", "Pr. Dubois")
    zipped = out / f"{made['id']}.zip"
    # Only the ZIP: no jitev home, no database, no store.
    bare = environment(tmp_path / "nowhere", tmp_path / "no-prefect")
    report = jitev_json(bare, "bundle", "verify", str(zipped))
    assert report["ok"] is True and not (tmp_path / "nowhere").exists()
    # a second bundle, after more custody: its log extends the first's
    jitev(env, "exhibits", "consent", "BG-EX-0002", "--for", "FR", "--note", "and the appeal",
          "--as", "Cmsr. Georgiev")  # fmt: skip
    later = jitev_json(
        env, "bundle", "create", "--case", "DANUBE", "--all-held", "--as", "Pr. Dubois"
    )
    jitev(env, "bundle", "download", later["id"], "--out", str(out), "--as", "Pr. Dubois")
    second = out / f"{later['id']}.zip"
    both = jitev_json(bare, "bundle", "verify", str(second), "--against", str(zipped))
    assert both["ok"] is True and both["checks"][-1]["name"] == "against"
    assert "only grew" in both["checks"][-1]["detail"]
    backwards = jitev(bare, "bundle", "verify", str(zipped), "--against", str(second), check=False)
    refused(backwards, 1, "the log shrank")
    data = bytearray(zipped.read_bytes())
    data[len(data) // 2] ^= 0x01
    zipped.write_bytes(bytes(data))
    refused(jitev(bare, "bundle", "verify", str(zipped), check=False), 1, "FAIL")
