"""Offline verification of a disclosure bundle's custody part: the ledger
extract, the receipts, the cosigned checkpoint, the proofs and the seal.
Each kind of tampering, even re-bagged, is caught and named."""

from __future__ import annotations

from dataclasses import replace

import pytest

from evidence.bundle import layout
from evidence.models import (
    Action,
)
from tests.memory_log import MemoryLog
from tests.unit.bundle_parts import (
    BUNDLE_ID,
    CASE,
    LOG,
    NATIVES,
    PROSECUTOR,
    TEAM,
    TRANSFER,
    Parts,
    failed,
    messages,
    relink,
    verify,
    wheres,
)


def test_an_edited_ledger_line_breaks_the_chain(parts: Parts) -> None:
    edited = parts.edit()
    lines = edited.ledger_lines()
    lines[2]["actor"] = "Somebody Else"  # event 3, an INGESTED event
    edited.set_ledger_lines(lines)
    report = verify(edited.zip())
    assert report.check("bag").ok
    assert failed(report) == {"ledger"}
    assert wheres(report, "ledger") == ["data/ledger/custody.jsonl event 3"]
    assert "edited" in messages(report, "ledger")


def test_a_deleted_ledger_line_breaks_the_seal_and_leaves_its_proof_alone(parts: Parts) -> None:
    edited = parts.edit()
    lines = edited.ledger_lines()
    del lines[1]  # event 2: FR's key registration
    edited.set_ledger_lines(lines)
    report = verify(edited.zip())
    assert "data/ledger/proofs/2.tlog-proof" in wheres(report, "proofs")
    assert "proves no event of the extract" in messages(report, "proofs")
    assert "removed from, added to or changed in the extract" in messages(report, "seal")
    assert "keys" in failed(report)  # keys.json has FR's key, the extract no longer


def test_an_event_removed_with_its_proof_is_caught_by_the_seal(parts: Parts) -> None:
    """An undisclosed event is only a hash in the proofs, so a gap is no
    error in itself; but the seal records the extract's digest."""
    edited = parts.edit()
    lines = [line for line in edited.ledger_lines() if line["seq"] != 6]  # a RECEIVED event
    edited.set_ledger_lines(lines)
    del edited.payload[layout.proof_name(6)]
    report = verify(edited.zip())
    assert failed(report) == {"seal"}
    assert wheres(report, "seal") == ["data/ledger/custody.jsonl event 8 (BUNDLE_SEALED)"]
    assert "7 events" in messages(report, "seal") and "6 before it" in messages(report, "seal")


def test_an_altered_receipt_signature_breaks_the_chain_and_the_receipt(parts: Parts) -> None:
    edited = parts.edit()
    lines = edited.ledger_lines()
    for line in lines:
        details = line["details"]
        if line["action"] == Action.RECEIVED and isinstance(details, dict):
            details["item_signature"] = "00" * 64
    edited.set_ledger_lines(lines)
    report = verify(edited.zip())
    assert failed(report) == {"ledger", "receipts"}  # the seal binds the hashes, as the proofs
    assert wheres(report, "ledger") == [
        "data/ledger/custody.jsonl event 6",
        "data/ledger/custody.jsonl event 7",
    ]
    assert wheres(report, "receipts") == [
        f"transfer {TRANSFER} (data/ledger/custody.jsonl event 6, BG-EX-0001)",
        f"transfer {TRANSFER} (data/ledger/custody.jsonl event 7, BG-EX-0002)",
    ]
    assert "does not match what the event says" in messages(report, "receipts")


def test_a_rewritten_chain_still_fails_on_the_receipt_and_the_cover(parts: Parts) -> None:
    """Alter what FR received, re-chain the ledger, fix bag-info's head and root
    digest: the chain verifies, the receipt's signatures and the proofs do not."""
    edited = parts.edit()
    events = [
        replace(e, details={**e.details, "size": 1}) if e.action == Action.RECEIVED else e
        for e in parts.events
    ]
    events = relink(events)
    edited.set_events(events)
    head = (events[-2].seq, events[-2].hash)
    edited.set_info("Ledger-Head", f"{head[0]} {head[1]}")
    identity = layout.Identity(BUNDLE_ID, CASE, TEAM, PROSECUTOR, events[-2].at)
    exhibits = [(n.reference, *n.hashes) for n in NATIVES]
    edited.set_info("Bundle-Root-Digest", layout.root_digest(identity, head, exhibits))
    report = verify(edited.zip())
    assert report.check("ledger").ok is False  # RECEIVED events no longer match the schedule
    assert "event 6 (RECEIVED BG-EX-0001)" in messages(report, "ledger")
    assert "receipts" in failed(report)
    assert "does not match what the event says" in messages(report, "receipts")
    assert "does not show the root digest" in messages(report, "root digest")
    # and nothing rewritten is in the cosigned log
    assert "event 6's hash is not in the checkpoint's tree" in messages(report, "proofs")


# -- the log: checkpoint, cosignatures, proofs, seal ---------------------------------


def flip(data: bytes, at: int) -> bytes:
    """``data`` with the byte at ``at`` changed (to another base64 or hex digit)."""
    swapped = b"B" if data[at : at + 1] != b"B" else b"C"
    return data[:at] + swapped + data[at + 1 :]


def line_start(data: bytes, n: int) -> int:
    """The offset of line ``n`` (from 0) of ``data``."""
    return sum(len(line) for line in data.splitlines(keepends=True)[:n])


@pytest.mark.parametrize(
    ("part", "line", "check", "where"),
    [
        (layout.LEDGER, 3, "ledger", "data/ledger/custody.jsonl"),  # event 4, INGESTED
        (layout.proof_name(4), 2, "proofs", "data/ledger/proofs/4.tlog-proof"),  # a hash line
        (layout.CHECKPOINT, 1, "log", "data/ledger/checkpoint"),  # the size line
        (layout.CHECKPOINT, 2, "log", "data/ledger/checkpoint"),  # the root line
        (layout.CHECKPOINT, 4, "log", "data/ledger/checkpoint"),  # the log's signature
        (layout.CHECKPOINT, 5, "log", "data/ledger/checkpoint"),  # a witness's cosignature
    ],
)
def test_a_flipped_byte_in_the_seal_material_fails_and_is_named(
    parts: Parts, part: str, line: int, check: str, where: str
) -> None:
    edited = parts.edit()
    data = edited.payload[part]
    at = line_start(data, line) + (12 if part == layout.LEDGER else 0) + 2
    if data[at : at + 1] in (b"\n", b" ", b"\xe2"):
        at += 3
    edited.payload[part] = flip(data, at)
    report = verify(edited.zip())
    assert report.check("bag").ok  # re-bagged: only the log's checks can object
    assert not report.ok and check in failed(report)
    assert any(w.startswith(where) for w in wheres(report, check)), report.findings


def test_a_missing_cosignature_fails_the_quorum(parts: Parts) -> None:
    edited = parts.edit()
    fr = LOG.witness_keys["FR"].name
    kept = [line for line in parts.payload[layout.CHECKPOINT].decode().splitlines(True)]
    edited.payload[layout.CHECKPOINT] = "".join(
        line for line in kept if not line.startswith(f"\u2014 {fr} ")
    ).encode()
    report = verify(edited.zip())
    assert "quorum (teams) is not met: no valid cosignature of witness FR" in messages(
        report, "log"
    )
    assert "its checkpoint is not the one in data/ledger/checkpoint" in messages(report, "proofs")


def test_a_policy_that_is_not_the_registered_one_is_caught(parts: Parts) -> None:
    """A tamperer who swaps in keys of their own: the policy must be the one
    the ledger's LOG_POLICY_SET event records."""
    other = MemoryLog(LOG.origin, ("BG", "FR", "XX"))
    edited = parts.edit()
    edited.payload[layout.POLICY] = other.policy().text().encode()
    report = verify(edited.zip())
    assert "data/ledger/policy" in wheres(report, "log")
    assert "is not the policy that data/ledger/custody.jsonl event 3" in messages(report, "log")


def test_a_schedule_edited_and_rebagged_breaks_the_seal(parts: Parts) -> None:
    edited = parts.edit()
    rows = edited.schedule()
    rows[0]["description"] = "Found at the defendant's home"
    edited.set_schedule(rows)
    report = verify(edited.zip())
    assert report.check("bag").ok and failed(report) == {"seal", "ledger"}
    assert "a sealed file was edited, added or removed" in messages(report, "seal")
    # the description is the INGESTED event's: an edit disagrees with the ledger too
    assert "records the description ''; data/schedule.csv row 1" in messages(report, "ledger")


def test_a_file_added_beside_the_payload_breaks_the_seal(parts: Parts) -> None:
    edited = parts.edit()
    edited.payload["natives/BG-EX-0099.txt"] = b"planted\n"
    report = verify(edited.zip())
    assert "seal" in failed(report)
