"""Offline verification of a disclosure bundle (evidence/bundle/verify/): a
small but real bundle, built here by hand from the layout's parts (a real
hash chain, a real signed receipt, a real bundle.pdf), passes every check;
each kind of tampering is caught and named; a damaged ZIP is reported, never
raised on."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from blake3 import blake3
from fpdf import FPDF

from evidence import receipts
from evidence.bundle import layout, pdf
from evidence.bundle.bag import BagWriter, checksum_file
from evidence.bundle.verify import CHECKS, TABLE, BundleFacts, BundleReport, verify_bundle
from evidence.bundle.verify.parts import INFO_RULES
from evidence.findings import Check
from evidence.ledger import link
from evidence.models import (
    Action,
    Capacity,
    CustodyEvent,
    Handling,
    Purpose,
    Requirement,
    Transfer,
    TransferItem,
    TransferState,
)
from evidence.ports import EventDraft
from storage.keys import KeyRing

CASE, TEAM, PROSECUTOR = "DANUBE", "FR", "Pr. Dubois"
BUNDLE_ID = "DANUBE-FR-B-0001"
PREFIX = f"{CASE}-{TEAM}"
T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
TRANSFER = "DANUBE-T-0001"


# -- a bundle, by hand -------------------------------------------------------------


@dataclass(frozen=True)
class Native:
    reference: str
    original_name: str
    media_type: str
    data: bytes

    @property
    def hashes(self) -> tuple[int, str, str]:
        return len(self.data), blake3(self.data).hexdigest(), hashlib.sha256(self.data).hexdigest()

    @property
    def path(self) -> str:
        return layout.native_name(self.reference, self.original_name)

    def opener(self) -> Callable[[], bytes]:
        return lambda: self.data


@dataclass
class Parts:
    """A bundle's content: payload files (paths under data/) and bag-info;
    ``zip()`` bags them. Tests edit the parts and bag them again, so the bag's
    own manifests stay consistent and only the bundle's checks can object."""

    payload: dict[str, bytes]
    info: list[tuple[str, str]]
    events: list[CustodyEvent]
    when: datetime
    name: str = BUNDLE_ID
    keys: dict[str, str] = field(default_factory=dict)

    def zip(self) -> bytes:
        out = io.BytesIO()
        with BagWriter(out, name=self.name, when=self.when, info=self.info) as bag:
            for path in sorted(self.payload, key=lambda p: p.encode()):
                bag.add_bytes(path, self.payload[path])
        return out.getvalue()

    def edit(self) -> Parts:
        """A copy to tamper with."""
        return replace(self, payload=dict(self.payload), info=list(self.info))

    def set_info(self, label: str, value: str | None) -> None:
        self.info = [(k, v) for k, v in self.info if k != label]
        if value is not None:
            self.info.append((label, value))

    def schedule(self) -> list[dict[str, str]]:
        return list(csv.DictReader(io.StringIO(self.payload[layout.SCHEDULE].decode())))

    def set_schedule(self, rows: list[dict[str, str]]) -> None:
        self.payload[layout.SCHEDULE] = layout.schedule_csv(rows)

    def set_events(self, events: list[CustodyEvent]) -> None:
        self.events = events
        self.payload[layout.LEDGER] = b"".join(layout.event_line(e) for e in events)

    def ledger_lines(self) -> list[dict[str, object]]:
        return [json.loads(x) for x in self.payload[layout.LEDGER].splitlines()]

    def set_ledger_lines(self, lines: list[dict[str, object]]) -> None:
        self.payload[layout.LEDGER] = b"".join(
            json.dumps(x, sort_keys=True, separators=(",", ":")).encode() + b"\n" for x in lines
        )


def exhibit_pdf(pages: int, label: str) -> bytes:
    doc = FPDF()
    doc.set_creation_date(T0)
    doc.set_font("helvetica", size=20)
    for i in range(pages):
        doc.add_page()
        doc.cell(text=f"{label} page {i + 1}")
    return bytes(doc.output())


NATIVES = (
    Native("BG-EX-0001", "report.PDF", "application/pdf", exhibit_pdf(2, "Surveillance report")),
    Native("BG-EX-0002", "call-log.txt", "text/plain", b"+359 2 000 000, 12:00, 3 min\n" * 20),
)


def chain(ring: KeyRing) -> list[CustodyEvent]:
    """CASE_OPENED, FR's key registered, two exhibits ingested by BG and
    handed to FR, which signed its receipt (one RECEIVED event per exhibit)."""
    fr_key = ring.generate("FR")
    drafts = [
        EventDraft(Action.CASE_OPENED, "K. Ivanov", "BG", None, {"title": "Danube"}),
        EventDraft(
            Action.TEAM_KEY_REGISTERED,
            "K. Ivanov",
            "BG",
            None,
            {
                "for_team": "FR",
                "algorithm": "ed25519",
                "public_key": fr_key,
                "key_fingerprint": receipts.fingerprint(fr_key),
            },
        ),
    ]
    for n in NATIVES:
        size, b3, sha = n.hashes
        details = {"size": size, "blake3": b3, "sha256": sha, "media_type": n.media_type}
        drafts.append(EventDraft(Action.INGESTED, "I. Petrova", "BG", n.reference, details))
    transfer = Transfer(
        id=TRANSFER,
        case_id=CASE,
        from_team="BG",
        to_team="FR",
        purpose=Purpose.JIT,
        legal_basis="JIT agreement art. 5",
        note="",
        state=TransferState.DISPATCHED,
        requested_by="A. Martin",
        requested_at=T0,
        items=tuple(TransferItem(n.reference, "BG", Handling(), *n.hashes) for n in NATIVES),
        required=(Requirement(Capacity.JIT_LEAD, "BG"),),
    )
    receipt = receipts.sign(
        ring.signer("FR"), transfer, received_by="A. Martin", at=T0 + timedelta(hours=1)
    )
    for n in NATIVES:
        details = {**receipts.event_details(receipt, n.reference), "store": f"FR/{n.hashes[1]}"}
        drafts.append(EventDraft(Action.RECEIVED, "A. Martin", "FR", n.reference, details))
    events: list[CustodyEvent] = []
    for i, draft in enumerate(drafts):
        events.append(link(CASE, events[-1] if events else None, draft, T0 + timedelta(minutes=i)))
    return events


def make_parts(tmp_path: Path) -> Parts:
    """The FR prosecutor's bundle of both exhibits, laid out as layout.py says."""
    ring = KeyRing(tmp_path / "keys")
    events = chain(ring)
    head = (events[-1].seq, events[-1].hash)
    identity = layout.Identity(BUNDLE_ID, CASE, TEAM, PROSECUTOR, events[-1].at)
    root = layout.root_digest(identity, head, [(n.reference, *n.hashes) for n in NATIVES])
    out = io.BytesIO()
    placed = pdf.build(
        out,
        pdf.Cover(
            CASE, "Danube", "JIT-2026-017", PROSECUTOR, TEAM, BUNDLE_ID, identity.created_at, root
        ),
        [
            pdf.ScheduleRow(i, n.reference, n.original_name, n.media_type, *n.hashes)
            for i, n in enumerate(NATIVES, 1)
        ],
        {
            n.reference: [
                pdf.ContinuityEntry(e.seq, e.at, e.action, e.actor, e.team)
                for e in events
                if e.exhibit == n.reference
            ]
            for n in NATIVES
        },
        [
            pdf.ExhibitPdf(
                n.reference,
                n.opener() if n.media_type == "application/pdf" else None,
                None,
                n.path,
                *n.hashes,
                media_type=n.media_type,
            )
            for n in NATIVES
        ],
        PREFIX,
    )
    rows = []
    for i, n in enumerate(NATIVES, 1):
        e = placed.exhibit(n.reference)
        size, b3, sha = n.hashes
        rows.append(
            {
                "number": str(i),
                "reference": n.reference,
                "title": n.original_name,
                "description": "",
                "media_type": n.media_type,
                "size": str(size),
                "native": n.path,
                "first_page": str(e.pages.first),
                "last_page": str(e.pages.last),
                "begbates": e.pages.begbates,
                "endbates": e.pages.endbates,
                "pdf": "merged" if e.merged else (e.reason or ""),
                "blake3": b3,
                "sha256": sha,
            }
        )
    keys = {"FR": ring.public_key("FR") or ""}
    parts = Parts(
        payload={
            layout.PDF: out.getvalue(),
            layout.CHECKSUMS_B3: checksum_file((n.path, n.hashes[1]) for n in NATIVES),
            layout.CHECKSUMS_SHA256: checksum_file((n.path, n.hashes[2]) for n in NATIVES),
            layout.KEYS: layout.keys_document(keys),
            **{n.path: n.data for n in NATIVES},
        },
        info=layout.bag_info(identity, root, head),
        events=events,
        when=identity.created_at,
        keys=keys,
    )
    parts.set_events(events)
    parts.set_schedule(rows)
    parts.payload[layout.LOAD_FILE] = layout.load_file(rows)
    return parts


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> Parts:
    return make_parts(tmp_path_factory.mktemp("bundle"))


def verify(data: bytes) -> BundleReport:
    report = verify_bundle(io.BytesIO(data))
    for f in report.findings:  # each names its place once: where, then the message
        assert f.check in CHECKS and f.where and not f.message.startswith(f.where), f
    return report


def failed(report: BundleReport) -> set[str]:
    return {c.name for c in report.checks if not c.ok}


def wheres(report: BundleReport, check: str) -> list[str]:
    return [f.where for f in report.findings_of(check)]


def messages(report: BundleReport, check: str) -> str:
    return "\n".join(f.text() for f in report.findings_of(check))


def replace_member(data: bytes, name: str, content: bytes) -> bytes:
    """The ZIP with one member's bytes replaced (its CRC right, the bag's
    manifests now wrong): what a careless tamperer makes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, content if info.filename == name else src.read(info))
    return out.getvalue()


def relink(events: list[CustodyEvent]) -> list[CustodyEvent]:
    """The events re-chained from event 1: a chain rewritten wholesale."""
    out: list[CustodyEvent] = []
    for e in events:
        draft = EventDraft(e.action, e.actor, e.team, e.exhibit, e.details)
        out.append(link(e.case_id, out[-1] if out else None, draft, e.at))
    return out


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
    assert "1 of 1 receipts verified" in report.check("receipts").detail
    assert "6 events" in report.check("ledger").detail
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
    from evidence.bundle import build
    from evidence.models import Case, Exhibit, ExhibitStatus, Team

    ring = KeyRing(tmp_path / "keys")
    events = chain(ring)
    case = Case(
        CASE, "Danube", "JIT-2026-017", (Team("BG", "BG", "B"), Team("FR", "FR", "F")), "BG"
    )
    exhibits = [
        Exhibit(
            reference=n.reference,
            case_id=CASE,
            team="BG",
            title=n.original_name,
            description="",
            seized_at=None,
            seized_by="",
            seized_from="",
            original_name=n.original_name,
            relative_path=n.original_name,
            media_type=n.media_type,
            size=n.hashes[0],
            blake3=n.hashes[1],
            sha256=n.hashes[2],
            declared=None,
            storage_key=n.hashes[1],
            retention_until=None,
            status=ExhibitStatus.STORED,
            ingested_at=T0,
            ingested_by="I. Petrova",
        )
        for n in NATIVES
    ]
    data = {n.reference: n.data for n in NATIVES}
    out = io.BytesIO()
    build.build(
        out,
        identity=layout.Identity(BUNDLE_ID, CASE, TEAM, PROSECUTOR, events[-1].at),
        case=case,
        exhibits=exhibits,
        events=events,
        keys={"FR": ring.public_key("FR") or ""},
        open_native=lambda ex: iter([data[ex.reference]]),
    )
    report = verify(out.getvalue())
    assert report.findings == () and report.ok, report.findings


def test_the_checks_and_the_bag_info_rules_are_tables_in_the_layouts_order() -> None:
    assert len(CHECKS) == 10 and [name for name, _ in TABLE] == list(CHECKS)
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


def test_a_deleted_ledger_line_is_a_gap(parts: Parts) -> None:
    edited = parts.edit()
    lines = edited.ledger_lines()
    del lines[1]
    edited.set_ledger_lines(lines)
    report = verify(edited.zip())
    assert "ledger" in failed(report)
    assert wheres(report, "ledger") == ["data/ledger/custody.jsonl event 2"]
    assert "missing before event 3" in messages(report, "ledger")
    assert "keys" in failed(report)  # keys.json has FR's key, the extract no longer


def test_an_altered_receipt_signature_breaks_the_chain_and_the_receipt(parts: Parts) -> None:
    edited = parts.edit()
    lines = edited.ledger_lines()
    for line in lines[4:]:
        details = line["details"]
        assert isinstance(details, dict)
        details["receipt_signature"] = "00" * 64
    edited.set_ledger_lines(lines)
    report = verify(edited.zip())
    assert {"ledger", "receipts"} <= failed(report)
    assert wheres(report, "ledger") == ["data/ledger/custody.jsonl event 5"]
    assert wheres(report, "receipts") == [
        f"transfer {TRANSFER} (data/ledger/custody.jsonl events 5, 6)"
    ]
    assert "does not match the payload" in messages(report, "receipts")


def test_a_rewritten_chain_still_fails_on_the_receipt_and_the_cover(parts: Parts) -> None:
    """Alter what FR received, re-chain the ledger, fix bag-info's head and root
    digest: the chain verifies, the receipt's signature does not."""
    edited = parts.edit()
    events = [
        replace(e, details={**e.details, "size": 1}) if e.action == Action.RECEIVED else e
        for e in parts.events
    ]
    events = relink(events)
    edited.set_events(events)
    head = (events[-1].seq, events[-1].hash)
    edited.set_info("Ledger-Head", f"{head[0]} {head[1]}")
    identity = layout.Identity(BUNDLE_ID, CASE, TEAM, PROSECUTOR, events[-1].at)
    exhibits = [(n.reference, *n.hashes) for n in NATIVES]
    edited.set_info("Bundle-Root-Digest", layout.root_digest(identity, head, exhibits))
    report = verify(edited.zip())
    assert report.check("ledger").ok is False  # RECEIVED events no longer match the schedule
    assert "event 5 (RECEIVED BG-EX-0001)" in messages(report, "ledger")
    assert "receipts" in failed(report)
    assert "does not match the payload" in messages(report, "receipts")
    assert "does not show the root digest" in messages(report, "root digest")


def test_keys_json_that_disagrees_with_the_ledger_is_caught(parts: Parts, tmp_path: Path) -> None:
    other = KeyRing(tmp_path / "other").generate("FR")
    edited = parts.edit()
    edited.payload[layout.KEYS] = layout.keys_document({"FR": other, "BG": other})
    report = verify(edited.zip())
    assert failed(report) == {"keys"}
    assert wheres(report, "keys") == ["data/keys.json team BG", "data/keys.json team FR"]
    assert "the ledger extract records" in messages(report, "keys")
    assert report.check("receipts").ok  # receipts use the ledger's key, not keys.json


def test_a_receipt_cut_short_by_the_extract_is_named(parts: Parts) -> None:
    edited = parts.edit()
    events = parts.events[:-1]  # the extract ends inside the receipt
    edited.set_events(events)
    edited.set_info("Ledger-Head", f"{events[-1].seq} {events[-1].hash}")
    edited.set_info("Bundle-Created", "2026-03-14T09:04:00.000000Z")
    report = verify(edited.zip())
    assert report.check("ledger").ok
    assert "cut short" in messages(report, "receipts")


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
    assert failed(report) == {"load file"}
    assert wheres(report, "load file") == ["data/load.dat row 2 (BG-EX-0002)"]


def test_a_checksum_file_missing_a_native_is_caught(parts: Parts) -> None:
    edited = parts.edit()
    edited.payload[layout.CHECKSUMS_B3] = checksum_file([(NATIVES[0].path, NATIVES[0].hashes[1])])
    report = verify(edited.zip())
    assert failed(report) == {"checksums"}
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
    missing = verify_bundle(tmp_path / "nowhere.zip")
    assert not missing.ok and missing.findings[0].where.endswith("nowhere.zip")
    assert missing.findings[0].kind == "zip" and "No such file" in missing.findings[0].message


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
    assert "missing" in messages(report, "ledger")
