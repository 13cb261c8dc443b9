"""Offline verification of a disclosure bundle (evidence/bundle/verify/): a
small but real bundle (``tests.unit.bundle_parts``) passes every check; each
kind of tampering with its contents (natives, schedule, PDF, load file,
checksums, bag-info) is caught and named; a damaged ZIP is reported, never
raised on. The custody checks (ledger, receipts, log, proofs, seal) are in
``test_bundle_verify_custody``."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.bundle import layout
from evidence.bundle.bag import checksum_file
from evidence.bundle.bagcheck import NotABundleFile
from evidence.bundle.verify import CHECKS, TABLE, BundleFacts, verify_bundle
from evidence.bundle.verify.parts import INFO_RULES
from evidence.findings import Check
from storage.keys import KeyRing
from tests.unit.bundle_parts import (
    BUNDLE_ID,
    NATIVES,
    PREFIX,
    Parts,
    built,
    failed,
    messages,
    replace_member,
    verify,
    wheres,
)

# -- the good bundle ----------------------------------------------------------------


def test_a_good_bundle_passes_every_check(parts: Parts, tmp_path: Path) -> None:
    data = parts.zip()
    report = verify(data)
    assert report.findings == (), report.findings
    assert [c.name for c in report.checks] == list(CHECKS)
    assert all(isinstance(c, Check) and c.ok for c in report.checks), report.checks
    assert report.ok and report.facts == BundleFacts("<stream>", BUNDLE_ID)
    assert report.subject == f"bundle {BUNDLE_ID} (<stream>)"
    assert report.summary.startswith(f"all {len(CHECKS)} checks passed")
    assert "2 of 2 received exhibits' signatures verified" in report.check("receipts").detail
    assert "8 of the log's events disclosed" in report.check("ledger").detail
    assert "8 of 8 events proven" in report.check("proofs").detail
    assert "cosigned by BG, FR" in report.check("log").detail
    assert json.loads(json.dumps(report.as_dict()))["ok"] is True
    path = tmp_path / f"{BUNDLE_ID}.zip"  # from a path too
    path.write_bytes(data)
    assert verify_bundle(path).ok and verify_bundle(str(path)).ok


def test_the_good_bundle_is_what_the_layout_says(parts: Parts) -> None:
    rows = parts.schedule()
    assert [r["pdf"] for r in rows][0] == "merged"
    assert rows[1]["pdf"] != "merged"  # the text file has a placeholder page
    assert rows[1]["native"] == "natives/BG-EX-0002.txt"
    assert rows[0]["native"] == "natives/BG-EX-0001.pdf"


def test_the_builders_bundle_passes_every_check(tmp_path: Path) -> None:
    """The same exhibits and chain through evidence.bundle.build."""
    report = verify(built(tmp_path))
    assert report.findings == () and report.ok, report.findings


def test_the_checks_and_the_bag_info_rules_are_tables_in_the_layouts_order() -> None:
    assert len(CHECKS) == 13 and [name for name, _ in TABLE] == list(CHECKS)
    assert [label for label, _ in INFO_RULES] == list(layout.INFO_FIELDS)


def test_the_offline_verifier_loads_no_pdf_writer_or_framework(
    parts: Parts, tmp_path: Path
) -> None:
    """``import evidence.bundle.verify`` and a whole verification, in a fresh
    interpreter, load neither fpdf2 nor the application's frameworks."""
    path = tmp_path / f"{BUNDLE_ID}.zip"
    path.write_bytes(parts.zip())
    forbidden = ["fpdf", "prefect", "sqlalchemy", "minio", "fastapi"]
    code = (
        "import sys\n"
        "import evidence.bundle.verify\n"
        f"report = evidence.bundle.verify.verify_bundle({str(path)!r})\n"
        "assert report.ok, report.findings\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r}))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert done.stdout.strip() == "[]"


# -- tampering -----------------------------------------------------------------------


def test_a_flipped_byte_in_a_native_fails_the_bag_and_the_checksums(parts: Parts) -> None:
    data = bytearray(parts.zip())
    native = parts.payload["natives/BG-EX-0002.txt"]
    at = bytes(data).index(native) + 10
    data[at] ^= 0x01  # the ZIP's CRC-32 no longer matches either
    report = verify(bytes(data))
    assert not report.ok
    assert {"bag", "checksums", "schedule"} <= failed(report)
    assert "data/natives/BG-EX-0002.txt" in wheres(report, "bag")
    assert "BG-EX-0002.txt" in messages(report, "checksums")
    assert "BG-EX-0001" not in messages(report, "checksums")


def test_a_native_replaced_with_its_crc_fixed_fails_every_digest(parts: Parts) -> None:
    name = f"{BUNDLE_ID}/data/natives/BG-EX-0002.txt"
    original = parts.payload["natives/BG-EX-0002.txt"]
    report = verify(replace_member(parts.zip(), name, b"X" + original[1:]))
    assert {"bag", "checksums", "schedule"} <= failed(report)
    assert "data/natives/BG-EX-0002.txt" in wheres(report, "bag")
    text = messages(report, "checksums")
    assert "data/natives/BG-EX-0002.txt: SHA256 is" in text
    assert "data/natives/BG-EX-0002.txt: BLAKE3 is" in text
    assert "data/schedule.csv row 2 (BG-EX-0002)" in wheres(report, "schedule")


def test_an_edited_schedule_row_is_caught_by_the_schedule_check(parts: Parts) -> None:
    edited = parts.edit()
    rows = edited.schedule()
    rows[0]["size"] = str(int(rows[0]["size"]) + 1)
    edited.set_schedule(rows)
    report = verify(edited.zip())
    assert report.check("bag").ok  # a consistent bag: only the content disagrees
    assert "schedule" in failed(report)
    assert wheres(report, "schedule") == ["data/schedule.csv row 1 (BG-EX-0001)"]
    assert "holds" in messages(report, "schedule")
    # the same lie shows in the load file, the ledger and the root digest
    assert {"load file", "ledger", "root digest"} <= failed(report)
    assert "FILESIZE" in messages(report, "load file")


def test_a_schedule_row_with_wrong_pages_is_caught_by_the_pdf_check(parts: Parts) -> None:
    edited = parts.edit()
    rows = edited.schedule()
    first = int(rows[1]["first_page"])
    rows[1]["first_page"] = rows[1]["last_page"] = str(first - 1)  # onto EX1's last page
    rows[1]["begbates"] = rows[1]["endbates"] = layout.bates(PREFIX, first - 1)
    edited.set_schedule(rows)
    report = verify(edited.zip())
    assert report.check("schedule").ok
    text = messages(report, "pdf")
    assert "row 2 (BG-EX-0002)" in text and "do not overlap" in text
    assert f"page {first - 1} (BG-EX-0002): the stamp BG-EX-0002 is not on the page" in text
    assert "nothing follows the last exhibit" in text


def test_a_wrong_bates_number_is_caught(parts: Parts) -> None:
    edited = parts.edit()
    rows = edited.schedule()
    rows[0]["begbates"] = "DANUBE-BG-000001"
    edited.set_schedule(rows)
    report = verify(edited.zip())
    assert "expected 'DANUBE-FR-" in messages(report, "pdf")
    assert "BEGBATES" in messages(report, "load file")


def test_keys_json_that_disagrees_with_the_ledger_is_caught(parts: Parts, tmp_path: Path) -> None:
    other = KeyRing(tmp_path / "other").generate("FR")
    edited = parts.edit()
    edited.payload[layout.KEYS] = layout.keys_document({"FR": other, "BG": other})
    report = verify(edited.zip())
    assert failed(report) == {"keys", "seal"}  # keys.json is sealed too
    assert wheres(report, "keys") == ["data/keys.json team BG", "data/keys.json team FR"]
    assert "the ledger extract records" in messages(report, "keys")
    assert report.check("receipts").ok  # receipts use the ledger's key, not keys.json


def test_a_ledger_head_that_is_not_the_last_event_is_caught(parts: Parts) -> None:
    edited = parts.edit()
    first = parts.events[0]
    edited.set_info("Ledger-Head", f"{first.seq} {first.hash}")
    report = verify(edited.zip())
    assert "Ledger-Head is 1" in messages(report, "ledger")
    assert "root digest" in failed(report)


def test_an_edited_load_file_row_is_caught(parts: Parts) -> None:
    edited = parts.edit()
    data = edited.payload[layout.LOAD_FILE].decode()
    edited.payload[layout.LOAD_FILE] = data.replace(
        "natives/BG-EX-0002.txt", "natives/x.txt"
    ).encode()
    report = verify(edited.zip())
    assert failed(report) == {"load file", "seal"}
    assert wheres(report, "load file") == ["data/load.dat row 2 (BG-EX-0002)"]


def test_a_checksum_file_missing_a_native_is_caught(parts: Parts) -> None:
    edited = parts.edit()
    edited.payload[layout.CHECKSUMS_B3] = checksum_file([(NATIVES[0].path, NATIVES[0].hashes[1])])
    report = verify(edited.zip())
    assert failed(report) == {"checksums", "seal"}
    assert "data/natives/BG-EX-0002.txt: not listed in data/checksums.b3" in (
        messages(report, "checksums")
    )


def test_a_missing_bag_info_field_is_reported_and_its_checks_not_run(parts: Parts) -> None:
    edited = parts.edit()
    edited.set_info("Bundle-Team", None)
    report = verify(edited.zip())
    assert "Bundle-Team" in messages(report, "bag-info")
    assert report.check("pdf").detail.startswith("not checked")
    assert report.check("root digest").detail.startswith("not checked")
    assert not report.ok


def test_a_bundle_without_its_schedule_says_what_was_not_checked(parts: Parts) -> None:
    edited = parts.edit()
    del edited.payload[layout.SCHEDULE]
    report = verify(edited.zip())
    assert wheres(report, "schedule") == ["data/schedule.csv"]
    for name in ("pdf", "load file", "root digest"):
        assert report.check(name).detail.startswith("not checked"), name
    assert [c.name for c in report.checks] == list(CHECKS)


# -- damaged and hostile ZIPs ----------------------------------------------------------


def test_what_is_not_a_zip_is_reported_not_raised(tmp_path: Path) -> None:
    for data in (b"", b"not a zip at all", b"PK\x05\x06" + b"\0" * 18):
        report = verify(data)
        assert not report.ok and report.findings
        assert [c.name for c in report.checks] == list(CHECKS)
        assert report.check("bag").ok is False
    (tmp_path / "x.zip").write_bytes(b"not a zip at all")
    report = verify_bundle(tmp_path / "x.zip")
    assert not report.ok and report.findings[0].where == str(tmp_path / "x.zip")
    assert report.findings[0].kind == "zip" and "not a readable ZIP" in report.findings[0].message
    # a path that is no file at all is the person's mistake, not a finding (tests/hostile)
    with pytest.raises(NotABundleFile, match="nowhere.zip: no such file"):
        verify_bundle(tmp_path / "nowhere.zip")


def test_damaged_bundles_never_raise(parts: Parts) -> None:
    good = parts.zip()
    rng = random.Random(4)
    for _ in range(25):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        report = verify(bytes(data))
        assert [c.name for c in report.checks] == list(CHECKS)
        assert report.ok == (bytes(data) == good)
    for cut in (len(good) // 3, len(good) - 30):
        assert not verify(good[:cut]).ok


def test_a_hostile_ledger_line_is_reported(parts: Parts) -> None:
    edited = parts.edit()
    lines = edited.payload[layout.LEDGER].splitlines(keepends=True)
    lines[2] = b'{"seq": NaN, "details": ' + b"[" * 5000 + b"]" * 5000 + b"}\n"
    lines[3] = b'{"case": "DANUBE", "seq": 1.5}\n'
    edited.payload[layout.LEDGER] = b"".join(lines)
    report = verify(edited.zip())
    where = wheres(report, "ledger")
    assert "data/ledger/custody.jsonl line 3" in where
    assert "data/ledger/custody.jsonl line 4" in where
    assert "removed from, added to or changed" in messages(report, "seal")
