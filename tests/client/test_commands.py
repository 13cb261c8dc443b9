"""The commands in client mode against a real ``jitev serve``: a hand-off
from request to signed receipt with each person on a client of their own, a
bundle built, downloaded and verified offline, downloads checked byte for
byte (and a server whose bytes are not the record's, refused), refusals
naming the server, and ``--json`` the same as the operator's direct command.

The server is shared by the module: each test ingests exhibits of its own
(contents no other test has) and works on those references only."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from app.cli import remote_commands
from app.client import Server
from evidence.errors import InputError, IntegrityError
from evidence.hashing import MultiHash
from tests.client.conftest import Client
from tests.client.conftest import Server as Served
from tests.integration.cli_helpers import AUDITOR, INVESTIGATOR, ingest_args

BG_LEAD = "Cmsr. Georgiev"
JIT_LEAD = "Cdt. Laurent"  # a lead of FR, the lead team
ME_INVESTIGATOR = "Insp. Vuković"
BG_PROSECUTOR = "Pr. Dimitrov"


def ingested(server: Served, tmp_path: Path, count: int) -> dict[str, Path]:
    """``count`` new BG exhibits, ingested by the operator on the server's
    machine (direct mode): reference -> the original file."""
    folder = tmp_path / f"evidence-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    for i in range(count):
        (folder / f"item-{i}.txt").write_text(f"exhibit {i} of {folder.name}\n" * (i + 1))
    done = json.loads(server.operator(*ingest_args(), str(folder), "--json").stdout)
    return {
        o["reference"]: folder / Path(o["source"]).name
        for o in done["outcomes"]
        if o["status"] == "stored"
    }


def signed_in(server: Served, tmp_path: Path, name: str) -> Client:
    """A client machine of its own, signed in as ``name``."""
    from tests.integration.cli_helpers import environment

    home = tmp_path / f"client-{uuid.uuid4().hex[:8]}"
    config = home / "config" / "jitev" / "client.toml"
    env = environment(home / "no-home", home / "prefect", JITEV_CLIENT_CONFIG=str(config))
    made = Client(server, env, config)
    made.login(name)
    return made


def test_a_hand_off_from_request_to_signed_receipt_in_client_mode(
    server: Served, tmp_path: Path
) -> None:
    refs = sorted(ingested(server, tmp_path, 2))
    lead = signed_in(server, tmp_path, BG_LEAD)
    asked = lead.json(
        "transfer", "request", *refs, "--case", "DANUBE", "--to", "ME",
        "--note", "for the ME inquiry",
    )  # fmt: skip
    tid = asked["id"]
    assert asked["state"] == "requested" and [e["reference"] for e in asked["exhibits"]] == refs
    assert asked["requested_by"] == BG_LEAD

    investigator = signed_in(server, tmp_path, "Insp. Ivanov")
    refused = investigator.jitev("transfer", "approve", tid, check=False)
    assert refused.returncode == 5, refused.stderr
    assert server.url in refused.stderr and "Traceback" not in refused.stderr

    jit_lead = signed_in(server, tmp_path, JIT_LEAD)
    approved = jit_lead.json("transfer", "approve", tid, "--reason", "agreed", "--no-dispatch")
    assert approved["state"] == "approved" and approved["pending"] == []
    assert [d["person"] for d in approved["decisions"]] == [JIT_LEAD]

    dispatched = lead.json("transfer", "dispatch", tid, "--wait")
    assert dispatched["state"] == "dispatched"
    assert all(e["dispatched_seq"] for e in dispatched["exhibits"])

    receiver = signed_in(server, tmp_path, ME_INVESTIGATOR)
    received = receiver.json("transfer", "receive", tid)
    assert received["state"] == "received" and received["receipt"] is not None
    shown = receiver.json("transfer", "show", tid)
    assert shown["state"] == "received" and shown["receipt_check"]["ok"] is True
    said = receiver.jitev("transfer", "show", tid)
    assert "received" in said.stdout and "signature valid" in said.stdout
    assert tid in [t["id"] for t in receiver.json("transfer", "list", "--case", "DANUBE")]
    custody = receiver.json("custody", "show", refs[0])
    assert {"team": "ME", "purpose": "jit", "transfer": tid} in custody["holders"]
    assert [e["action"] for e in custody["events"]][-2:] == ["DISPATCHED", "RECEIVED"]


def test_a_bundle_made_waited_for_downloaded_and_verified_offline(
    server: Served, tmp_path: Path
) -> None:
    refs = sorted(ingested(server, tmp_path, 2))
    prosecutor = signed_in(server, tmp_path, BG_PROSECUTOR)
    made = prosecutor.json("bundle", "create", "--case", "DANUBE", "--exhibits", refs[0],
                           "--exhibits", refs[1], "--wait")  # fmt: skip
    assert made["exhibits"] == refs and made["prosecutor"] == BG_PROSECUTOR
    assert made["id"] in [b["id"] for b in prosecutor.json("bundle", "list", "--case", "DANUBE")]
    out = tmp_path / "out"
    out.mkdir()
    prosecutor.jitev("bundle", "download", made["id"], "--out", str(out))
    zipped = out / f"{made['id']}.zip"
    hashed = MultiHash()
    hashed.update(zipped.read_bytes())
    assert (hashed.size, hashed.digests().sha256) == (made["size"], made["sha256"])
    verified = prosecutor.jitev("bundle", "verify", str(zipped))
    assert "PASS" in verified.stdout
    again = prosecutor.jitev("bundle", "download", made["id"], "--out", str(zipped), check=False)
    assert again.returncode == 2 and "never overwrites" in again.stderr


def test_an_exhibit_download_is_the_original_and_other_teams_are_refused(
    server: Served, tmp_path: Path
) -> None:
    files = ingested(server, tmp_path, 1)
    [(ref, original)] = files.items()
    me = signed_in(server, tmp_path, INVESTIGATOR)
    out = tmp_path / "downloads"
    out.mkdir()
    done = me.json("exhibits", "download", ref, "--out", str(out))
    target = out / original.name
    assert Path(done["path"]) == target and target.read_bytes() == original.read_bytes()
    assert done["event"]["action"] == "ACCESSED" and done["event"]["actor"] == INVESTIGATOR
    assert [p.name for p in out.iterdir()] == [original.name]  # nothing else left

    other = signed_in(server, tmp_path, ME_INVESTIGATOR)
    refused = other.jitev("exhibits", "download", ref, "--out", str(tmp_path / "x"), check=False)
    assert refused.returncode == 5 and server.url in refused.stderr, refused.stderr
    assert not (tmp_path / "x").exists()


def test_exhibits_list_json_is_the_operator_s_for_that_person(
    server: Served, tmp_path: Path
) -> None:
    ref = next(iter(ingested(server, tmp_path, 1)))
    for name in (INVESTIGATOR, ME_INVESTIGATOR):
        client = signed_in(server, tmp_path, name)
        remote = client.json("exhibits", "list", "--case", "DANUBE")
        direct = json.loads(
            server.operator("exhibits", "list", "--case", "DANUBE", "--as", name, "--json").stdout
        )
        assert remote == direct
        assert (ref in [e["reference"] for e in remote]) == (name == INVESTIGATOR)
        shown = client.jitev("exhibits", "list", "--case", "DANUBE")
        assert shown.returncode == 0 and ("Exhibits" in shown.stdout)


def test_handling_and_show_through_the_server(server: Served, tmp_path: Path) -> None:
    ref = next(iter(ingested(server, tmp_path, 1)))
    lead = signed_in(server, tmp_path, BG_LEAD)
    event = lead.json("exhibits", "handling", ref, "--code", "h3", "--note", "eyes only",
                      "--purpose", "other_offence")  # fmt: skip
    assert event["action"] == "HANDLING_CHANGED" and event["exhibit"] == ref
    shown = lead.json("exhibits", "show", ref)
    assert shown["handling"] == {"code": "H3", "note": "eyes only",
                                 "purposes": ["jit", "other_offence"]}  # fmt: skip
    assert shown["holders"] == [{"team": "BG", "purpose": None, "transfer": None}]
    no_note = lead.jitev("exhibits", "handling", ref, "--code", "H3", check=False)
    assert no_note.returncode == 2 and "--handling-note" in no_note.stderr, no_note.stderr
    investigator = signed_in(server, tmp_path, INVESTIGATOR)
    refused = investigator.jitev("exhibits", "sensitive", ref, "--reason", "x", check=False)
    assert refused.returncode == 5 and server.url in refused.stderr, refused.stderr


def test_operator_commands_are_refused_and_case_list_answers(
    server: Served, tmp_path: Path
) -> None:
    client = signed_in(server, tmp_path, INVESTIGATOR)
    assert [c["id"] for c in client.json("case", "list")] == ["DANUBE"]
    for args in (
        ("people", "list"),
        ("ledger", "policy", "--case", "DANUBE"),
        ("engine", "status"),
    ):
        done = client.jitev(*args, check=False)
        assert done.returncode == 2 and "operator" in done.stderr, (args, done.stderr)
    assert client.json("jobs", "list") == []  # an ingest by the operator is no job of hers
    assert "No jobs yet." in client.jitev("jobs", "list").stdout


def test_an_audit_run_waited_for_then_listed_shown_and_its_job(
    server: Served, tmp_path: Path
) -> None:
    auditor = signed_in(server, tmp_path, AUDITOR)
    [done] = auditor.json("audit", "run", "--case", "DANUBE", "--all", "--wait")
    assert done["case"] == "DANUBE" and done["ok"] is True and done["failures"] == []
    seq = done["event"]["seq"]
    assert seq in [e["seq"] for e in auditor.json("audit", "list", "--case", "DANUBE")]
    shown = auditor.json("audit", "show", str(seq), "--case", "DANUBE")
    assert shown["event"] == done["event"]
    assert "clean" in auditor.jitev("audit", "show", str(seq), "--case", "DANUBE").stdout
    job = auditor.json("jobs", "list", "--kind", "audit")[0]  # newest first
    assert job["kind"] == "audit" and job["state"] == "COMPLETED"
    assert auditor.json("jobs", "show", job["id"])["id"] == job["id"]
    again = auditor.jitev("jobs", "retry", job["id"], check=False)
    assert again.returncode == 2 and "only a crashed, failed or cancelled job" in again.stderr
    [verified] = auditor.json("ledger", "verify", "--case", "DANUBE")
    assert verified["ok"] is True and verified["case"] == "DANUBE"

    investigator = signed_in(server, tmp_path, INVESTIGATOR)
    refused = investigator.jitev("audit", "run", "--case", "DANUBE", check=False)
    assert refused.returncode == 5 and server.url in refused.stderr, refused.stderr


def test_a_request_cancelled_and_one_rejected(server: Served, tmp_path: Path) -> None:
    first, second = sorted(ingested(server, tmp_path, 2))
    lead = signed_in(server, tmp_path, BG_LEAD)
    one = lead.json("transfer", "request", first, "--case", "DANUBE", "--to", "FR")
    cancelled = lead.json("transfer", "cancel", one["id"], "--reason", "asked by mistake")
    assert cancelled["state"] == "cancelled"
    two = lead.json("transfer", "request", second, "--case", "DANUBE", "--to", "FR")
    jit_lead = signed_in(server, tmp_path, JIT_LEAD)
    rejected = jit_lead.json("transfer", "reject", two["id"], "--reason", "not needed")
    assert rejected["state"] == "rejected"
    assert [d["reason"] for d in rejected["decisions"]] == ["not needed"]
    assert lead.json("transfer", "show", two["id"])["state"] == "rejected"
    late = lead.jitev("transfer", "cancel", two["id"], "--reason", "late", check=False)
    assert late.returncode == 2 and server.url in late.stderr, late.stderr


# -- a server whose bytes are not the record's (in process) ------------------------------


def _digests(body: bytes) -> tuple[int, str, str]:
    hashed = MultiHash()
    hashed.update(body)
    d = hashed.digests()
    return d.size, d.blake3, d.sha256


def _lying_server(body: bytes, headers_of: bytes) -> Server:
    """A server answering ``body`` with the digest headers of ``headers_of``."""
    _, blake3, sha256 = _digests(headers_of)

    def answer(request: httpx.Request) -> httpx.Response:
        headers = {"X-Content-SHA256": sha256, "X-Content-BLAKE3": blake3}
        return httpx.Response(200, content=body, headers=headers)

    made = Server("http://127.0.0.1:1", "token")
    made.http.close()
    made.http = httpx.Client(
        base_url="http://127.0.0.1:1/api/v1", transport=httpx.MockTransport(answer)
    )
    return made


RECORDED = b"the recorded bytes"


@pytest.mark.parametrize(
    ("body", "headers_of"),
    [(b"other bytes than those", RECORDED), (RECORDED, b"what the headers say")],
    ids=["bytes-not-the-record", "headers-not-the-bytes"],
)
def test_a_download_that_does_not_match_is_not_kept(
    tmp_path: Path, body: bytes, headers_of: bytes
) -> None:
    server = _lying_server(body, headers_of)
    target = tmp_path / "copy.bin"
    try:
        with pytest.raises(IntegrityError) as raised:
            remote_commands.checked_download(
                server, "/exhibits/X/content", target, _digests(RECORDED), "exhibit X", {},
                headers_say=lambda h: (h.get("x-content-sha256"), h.get("x-content-blake3")),
            )  # fmt: skip
    finally:
        server.close()
    assert raised.value.exit_code == 3 and "http://127.0.0.1:1" in str(raised.value)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its scratch copy


def test_a_matching_download_is_kept(tmp_path: Path) -> None:
    server = _lying_server(RECORDED, RECORDED)
    target = tmp_path / "copy.bin"
    try:
        remote_commands.checked_download(
            server, "/exhibits/X/content", target, _digests(RECORDED), "exhibit X", {},
            headers_say=lambda h: (h.get("x-content-sha256"), h.get("x-content-blake3")),
        )  # fmt: skip
    finally:
        server.close()
    assert target.read_bytes() == RECORDED


def test_a_server_naming_a_path_for_a_file_is_refused() -> None:
    server = _lying_server(b"", b"")
    try:
        for name in ("../escape", "a/b", "..", ""):
            with pytest.raises(InputError, match="not a plain file name"):
                remote_commands.safe_name(server, name, "exhibit X")
    finally:
        server.close()
