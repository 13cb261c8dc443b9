"""Assemble a disclosure bundle (``evidence.bundle.layout``) from what the
caller already chose and checked: the exhibits, the case's custody events,
the teams' public keys and a way to stream each exhibit's stored bytes.

Who may disclose what (policy, H1 consent, the sensitive schedule) is not
decided here; this module only writes. The order of work:

1. the events up to the last one of an included exhibit: the ledger extract
   and its head; the root digest (``layout.root_digest``);
2. ``bundle.pdf`` into a temporary file (it comes first in the bag): PDF
   exhibits are read from the store one at a time to be merged;
3. the bag, payload in path order: the PDF, the checksum files (from the
   ledger's hashes), ``keys.json``, the ledger extract, the load file, the
   natives streamed from the store and checked against the ledger's hashes on
   the way (a mismatch abandons the bundle), the provenance, the schedule.

PDF exhibits are therefore read twice (to merge, then as natives); every
other native once. Memory stays bounded by one PDF exhibit at a time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from evidence.bundle import layout, pdf
from evidence.bundle.bag import BagSummary, BagWriter, checksum_file
from evidence.bundle.layout import Identity
from evidence.bundle.provenance import BundleIdentity, provenance_jsonld
from evidence.errors import InputError
from evidence.models import Action, Case, CustodyEvent, Exhibit
from evidence.sizes import STREAM_CHUNK as CHUNK
from evidence.sizes import MiB

PDF_TYPES = {"application/pdf"}
SPOOL = 64 * MiB  # the PDF stays in memory up to this size, then goes to disk

# Detail fields worded on continuity pages, in this order.
WORDED = (
    ("from_team", "from team"),
    ("to_team", "to team"),
    ("purpose", "purpose"),
    ("legal_basis", "legal basis"),
    ("capacity", "as"),
    ("reason", "reason"),
    ("source", "source file"),
    ("from", "copied from"),
    ("to", "copied to"),
    ("verified", "verified"),
    ("size", "size"),
    ("blake3", "BLAKE3"),
    ("sha256", "SHA-256"),
    ("key_fingerprint", "receipt key"),
    ("receipt_signature", "receipt signature"),
)


@dataclass(frozen=True, slots=True)
class Built:
    root_digest: str
    head: tuple[int, str]
    pdf: pdf.PdfLayout
    bag: BagSummary


def included_events(events: list[CustodyEvent], references: set[str]) -> list[CustodyEvent]:
    """The chain prefix 1..N: N is the last event of an included exhibit, or
    the last RECEIVED event of a receipt that starts before it (a receipt's
    events are consecutive; all of them are needed to check its signature)."""
    last = max((e.seq for e in events if e.exhibit in references), default=0)
    if last == 0:
        raise InputError("the included exhibits have no custody events: nothing to disclose")
    receipts = {
        e.details.get("transfer") for e in events if e.seq <= last and e.action == Action.RECEIVED
    }
    last = max(
        [last]
        + [
            e.seq
            for e in events
            if e.action == Action.RECEIVED and e.details.get("transfer") in receipts
        ]
    )
    prefix = [e for e in events if e.seq <= last]
    if [e.seq for e in prefix] != list(range(1, last + 1)):
        raise InputError("the custody events given are not the case's chain from its first event")
    return prefix


def _lines(event: CustodyEvent) -> list[str]:
    lines = []
    for key, label in WORDED:
        value = event.details.get(key)
        if value not in (None, ""):
            lines.append(f"{label}: {value}")
    return lines


def _continuity(
    exhibits: list[Exhibit], events: list[CustodyEvent]
) -> dict[str, list[pdf.ContinuityEntry]]:
    sections: dict[str, list[pdf.ContinuityEntry]] = {ex.reference: [] for ex in exhibits}
    for e in events:
        if e.exhibit in sections:
            sections[e.exhibit].append(
                pdf.ContinuityEntry(e.seq, e.at, e.action, e.actor, e.team, _lines(e))
            )
    return sections


def build(
    out: BinaryIO,
    *,
    identity: Identity,
    case: Case,
    exhibits: list[Exhibit],
    events: list[CustodyEvent],
    keys: dict[str, str],
    open_native: Callable[[Exhibit], Iterable[bytes]],
    limits: pdf.Limits | None = None,
) -> Built:
    """Write the bundle ZIP to ``out`` (seekable: see ``bundle.bag``)."""
    if not exhibits:
        raise InputError("a bundle needs at least one exhibit")
    if identity.case_id != case.id:
        raise InputError(
            f"bundle {identity.bundle_id} is of case {identity.case_id}, not {case.id}"
        )
    refs = [ex.reference for ex in exhibits]
    if len(set(refs)) != len(refs):
        raise InputError("an exhibit is listed twice in the bundle")
    chain = included_events(events, set(refs))
    head = (chain[-1].seq, chain[-1].hash)
    natives = {ex.reference: layout.native_name(ex.reference, ex.original_name) for ex in exhibits}
    root = layout.root_digest(
        identity, head, [(ex.reference, ex.size, ex.blake3, ex.sha256) for ex in exhibits]
    )

    def source(ex: Exhibit) -> Callable[[], bytes]:
        return lambda: b"".join(open_native(ex))

    with tempfile.SpooledTemporaryFile(max_size=SPOOL) as rendered:
        pages = pdf.build(
            rendered,  # type: ignore[arg-type]
            pdf.Cover(
                case_id=case.id,
                case_title=case.title,
                agreement=case.agreement_ref,
                prosecutor=identity.prosecutor,
                team=identity.team,
                bundle_id=identity.bundle_id,
                created_at=identity.created_at,
                root_digest=root,
            ),
            [
                pdf.ScheduleRow(
                    i, ex.reference, ex.title, ex.media_type, ex.size, ex.blake3, ex.sha256
                )
                for i, ex in enumerate(exhibits, start=1)
            ],
            _continuity(exhibits, chain),
            [
                pdf.ExhibitPdf(
                    reference=ex.reference,
                    source=source(ex) if ex.media_type in PDF_TYPES else None,
                    placeholder_reason=None,
                    native_name=natives[ex.reference],
                    size=ex.size,
                    blake3=ex.blake3,
                    sha256=ex.sha256,
                    media_type=ex.media_type,
                )
                for ex in exhibits
            ],
            layout.bates_prefix(identity.case_id, identity.team),
            limits=limits or pdf.Limits(),
        )
        rendered.seek(0)
        info = layout.bag_info(identity, root, head)
        with BagWriter(out, name=identity.bundle_id, when=identity.created_at, info=info) as bag:
            bag.add_stream(layout.PDF, iter(lambda: rendered.read(CHUNK), b""))
            bag.add_bytes(
                layout.CHECKSUMS_B3,
                checksum_file((natives[ex.reference], ex.blake3) for ex in exhibits),
            )
            bag.add_bytes(
                layout.CHECKSUMS_SHA256,
                checksum_file((natives[ex.reference], ex.sha256) for ex in exhibits),
            )
            bag.add_bytes(layout.KEYS, layout.keys_document(keys))
            bag.add_bytes(layout.LEDGER, b"".join(layout.event_line(e) for e in chain))
            rows = _schedule_rows(exhibits, natives, pages)
            bag.add_bytes(layout.LOAD_FILE, layout.load_file(rows))
            for ex in sorted(exhibits, key=lambda e: natives[e.reference].encode()):
                bag.add_stream(
                    natives[ex.reference],
                    open_native(ex),
                    expect=(ex.size, ex.blake3, ex.sha256),
                )
            bag.add_bytes(
                layout.PROVENANCE,
                provenance_jsonld(
                    case,
                    exhibits,
                    chain,
                    BundleIdentity(
                        identity.bundle_id, identity.prosecutor, identity.team, identity.created_at
                    ),
                ),
            )
            bag.add_bytes(layout.SCHEDULE, layout.schedule_csv(rows))
            summary = bag.close()
    return Built(root, head, pages, summary)


def _schedule_rows(
    exhibits: list[Exhibit], natives: dict[str, str], pages: pdf.PdfLayout
) -> list[dict[str, Any]]:
    rows = []
    for number, ex in enumerate(exhibits, start=1):
        placed = pages.exhibit(ex.reference)
        rows.append(
            {
                "number": number,
                "reference": ex.reference,
                "title": ex.title,
                "description": ex.description,
                "media_type": ex.media_type,
                "size": ex.size,
                "native": natives[ex.reference],
                "first_page": placed.pages.first,
                "last_page": placed.pages.last,
                "begbates": placed.pages.begbates,
                "endbates": placed.pages.endbates,
                "pdf": "merged" if placed.merged else (placed.reason or "native file only"),
                "blake3": ex.blake3,
                "sha256": ex.sha256,
            }
        )
    return rows
