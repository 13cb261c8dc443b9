"""The small real bundle the offline verifier's tests tamper with: built by
hand from the layout's parts (a real hash chain, a real signed receipt, a
real bundle.pdf, a real witnessed log), the same exhibits and chain through
``evidence.bundle.build`` (``built``), and helpers to read their reports."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from blake3 import blake3
from fpdf import FPDF

from evidence import receipts
from evidence.bundle import build, layout, pdf
from evidence.bundle.bag import BagWriter, checksum_file
from evidence.bundle.verify import CHECKS, BundleReport, verify_bundle
from evidence.ledger import link
from evidence.models import (
    Action,
    Capacity,
    Case,
    CustodyEvent,
    Exhibit,
    ExhibitStatus,
    Handling,
    Purpose,
    Requirement,
    Team,
    Transfer,
    TransferItem,
    TransferState,
)
from evidence.ports import EventDraft
from evidence.tlog import proofs
from storage.keys import KeyRing
from tests.memory_log import MemoryLog

CASE, TEAM, PROSECUTOR = "DANUBE", "FR", "Pr. Dubois"
BUNDLE_ID = "DANUBE-FR-B-0001"
PREFIX = f"{CASE}-{TEAM}"
T0 = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
TRANSFER = "DANUBE-T-0001"
LOG = MemoryLog(f"jitev.local/{CASE}")


# -- a bundle, by hand -------------------------------------------------------------


@dataclass(frozen=True)
class Native:
    reference: str
    original_name: str
    media_type: str
    data: bytes
    title: str = ""
    description: str = ""

    @property
    def texts(self) -> dict[str, str]:
        """What its INGESTED event records and the schedule shows (the title,
        as ingest does, the name when none is given)."""
        return {"title": self.title or self.original_name, "description": self.description}

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


def chain(ring: KeyRing, natives: tuple[Native, ...] = NATIVES) -> list[CustodyEvent]:
    """CASE_OPENED, FR's key registered, the exhibits (two) ingested by BG and
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
        LOG.policy_draft("K. Ivanov", "BG"),
    ]
    for n in natives:
        size, b3, sha = n.hashes
        details = {
            **n.texts,
            "size": size,
            "blake3": b3,
            "sha256": sha,
            "media_type": n.media_type,
        }
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
        items=tuple(TransferItem(n.reference, "BG", Handling(), *n.hashes) for n in natives),
        required=(Requirement(Capacity.JIT_LEAD, "BG"),),
    )
    receipt = receipts.sign(
        ring.signer("FR"), transfer, received_by="A. Martin", at=T0 + timedelta(hours=1)
    )
    signed = receipts.sign_items(ring.signer("FR"), receipt)
    for n in natives:
        details = {
            **receipts.event_details(receipt, n.reference, signed[n.reference]),
            "store": f"FR/{n.hashes[1]}",
        }
        drafts.append(EventDraft(Action.RECEIVED, "A. Martin", "FR", n.reference, details))
    events: list[CustodyEvent] = []
    for i, draft in enumerate(drafts):
        events.append(link(CASE, events[-1] if events else None, draft, T0 + timedelta(minutes=i)))
    return events


def make_parts(tmp_path: Path, natives: tuple[Native, ...] = NATIVES) -> Parts:
    """The FR prosecutor's bundle of the exhibits, laid out as layout.py says,
    sealed and proven in a log cosigned by BG's and FR's witnesses."""
    ring = KeyRing(tmp_path / "keys")
    events = chain(ring, natives)
    head = (events[-1].seq, events[-1].hash)
    identity = layout.Identity(BUNDLE_ID, CASE, TEAM, PROSECUTOR, events[-1].at)
    root = layout.root_digest(identity, head, [(n.reference, *n.hashes) for n in natives])
    out = io.BytesIO()
    placed = pdf.build(
        out,
        pdf.Cover(
            CASE, "Danube", "JIT-2026-017", PROSECUTOR, TEAM, BUNDLE_ID, identity.created_at, root
        ),
        [
            pdf.ScheduleRow(i, n.reference, n.texts["title"], n.media_type, *n.hashes)
            for i, n in enumerate(natives, 1)
        ],
        {
            n.reference: [
                pdf.ContinuityEntry(e.seq, e.at, e.action, e.actor, e.team)
                for e in events
                if e.exhibit == n.reference
            ]
            for n in natives
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
            for n in natives
        ],
        PREFIX,
    )
    rows = []
    for i, n in enumerate(natives, 1):
        e = placed.exhibit(n.reference)
        size, b3, sha = n.hashes
        rows.append(
            {
                "number": str(i),
                "reference": n.reference,
                **n.texts,
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
    payload = {
        layout.PDF: out.getvalue(),
        layout.CHECKSUMS_B3: checksum_file((n.path, n.hashes[1]) for n in natives),
        layout.CHECKSUMS_SHA256: checksum_file((n.path, n.hashes[2]) for n in natives),
        layout.KEYS: layout.keys_document(keys),
        layout.SCHEDULE: layout.schedule_csv(rows),
        layout.LOAD_FILE: layout.load_file(rows),
        **{n.path: n.data for n in natives},
    }
    seal = layout.seal_digest((p, hashlib.sha256(d).hexdigest()) for p, d in payload.items())
    details = layout.seal_details(identity, root, seal, len(payload), events)
    draft = EventDraft(Action.BUNDLE_SEALED, PROSECUTOR, TEAM, None, details)
    events = [*events, link(CASE, events[-1], draft, T0 + timedelta(hours=2))]
    checkpoint = LOG.checkpoint(events)
    for e in events:
        proof = proofs.tlog_proof(e.seq, LOG.inclusion(events, e.seq), checkpoint)
        payload[layout.proof_name(e.seq)] = proof.encode()
    payload[layout.CHECKPOINT] = checkpoint.encode()
    payload[layout.POLICY] = LOG.policy().text().encode()
    parts = Parts(
        payload=payload,
        info=layout.bag_info(identity, root, head, (events[-1].seq, seal)),
        events=events,
        when=identity.created_at,
        keys=keys,
    )
    parts.set_events(events)
    return parts


def built(tmp_path: Path, natives: tuple[Native, ...] = NATIVES) -> bytes:
    """The same bundle of ``natives`` through ``evidence.bundle.build``, as
    ``disclosure`` makes it from the catalog's exhibits (their texts the
    INGESTED events')."""
    ring = KeyRing(tmp_path / "keys")
    events = chain(ring, natives)
    case = Case(
        CASE, "Danube", "JIT-2026-017", (Team("BG", "BG", "B"), Team("FR", "FR", "F")), "BG"
    )
    exhibits = [
        Exhibit(
            reference=n.reference,
            case_id=CASE,
            team="BG",
            title=n.texts["title"],
            description=n.texts["description"],
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
        for n in natives
    ]
    data = {n.reference: n.data for n in natives}
    out = io.BytesIO()
    with build.prepare(
        identity=layout.Identity(BUNDLE_ID, CASE, TEAM, PROSECUTOR, events[-1].at),
        case=case,
        exhibits=exhibits,
        events=events,
        keys={"FR": ring.public_key("FR") or ""},
        open_native=lambda ex: iter([data[ex.reference]]),
    ) as payload:
        draft = EventDraft(Action.BUNDLE_SEALED, PROSECUTOR, TEAM, None, payload.seal_details())
        full = [*events, link(CASE, events[-1], draft, T0 + timedelta(hours=2))]
        material = build.LogMaterial(
            LOG.checkpoint(full),
            LOG.policy().text(),
            {e.seq: LOG.inclusion(full, e.seq) for e in full},
        )
        made = payload.write(out, full[-1], material)
    assert made.seal == full[-1].details["seal"] and made.head == (events[-1].seq, events[-1].hash)
    return out.getvalue()


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
