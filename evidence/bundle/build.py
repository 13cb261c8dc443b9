"""Assemble a disclosure bundle (``evidence.bundle.layout``) from what the
caller already chose and checked: the exhibits, the case's custody events,
the teams' public keys and a way to stream each exhibit's stored bytes.

Who may disclose what (policy, H1 consent, the sensitive schedule) is not
decided here, nor how the seal is recorded and cosigned
(``evidence.disclosure``); this module only writes, in two steps:

1. ``prepare``: the exhibits' texts and the extract's lines checked against
   the limits the verifier reads them with (``layout``'s "Limits": an
   exhibit recorded before them is refused, not cut); the extract
   (``disclosed_events``) and its head; the root
   digest (``layout.root_digest``); ``bundle.pdf`` into a temporary file (PDF
   exhibits read from the store one at a time to be merged); the schedule,
   load file, checksums, keys and provenance; the seal over all of them
   (``layout.seal_digest``: the natives' SHA-256 are the ledger's);
2. ``Payload.write``, once the seal's event is in a cosigned checkpoint: the
   bag, payload in path order, the seal's material (extract, checkpoint,
   policy, proofs) under ``ledger/``, the natives streamed from the store and
   checked against the ledger's hashes on the way (a mismatch abandons the
   bundle).

PDF exhibits are therefore read twice (to merge, then as natives); every
other native once. Memory stays bounded by one PDF exhibit at a time.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from evidence.bundle import layout, pdf
from evidence.bundle.bag import BagSummary, BagWriter, checksum_file
from evidence.bundle.layout import Identity
from evidence.bundle.provenance import BundleIdentity, provenance_jsonld
from evidence.errors import InputError
from evidence.limits import TEXT_MAX_CHARS
from evidence.models import Action, Case, CustodyEvent, Exhibit
from evidence.sizes import STREAM_CHUNK as CHUNK
from evidence.sizes import MiB
from evidence.tlog import notes, proofs

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
    seal: str
    pdf: pdf.PdfLayout
    bag: BagSummary


@dataclass(frozen=True, slots=True)
class LogMaterial:
    """The seal's own material, from the case's log once the seal is cosigned."""

    checkpoint: str  # the cosigned checkpoint (a signed note) covering the extract
    policy: str  # the log's trust policy (C2SP tlog-policy)
    inclusion: Mapping[int, list[bytes]]  # event seq -> its inclusion proof under it
    consistency: Mapping[int, list[bytes]] = field(default_factory=dict)  # earlier size -> proof


def disclosed_events(events: list[CustodyEvent], references: set[str]) -> list[CustodyEvent]:
    """The extract of a bundle of ``references`` from the case's whole chain
    (``events``, from event 1): the events about those exhibits and the
    case-level events a verifier needs (``layout.CASE_EVENTS``), in order."""
    if [e.seq for e in events] != list(range(1, len(events) + 1)):
        raise InputError("the custody events given are not the case's chain from its first event")
    if not any(e.exhibit in references for e in events):
        raise InputError("the included exhibits have no custody events: nothing to disclose")
    return [
        e
        for e in events
        if e.exhibit in references or (e.exhibit is None and e.action in layout.CASE_EVENTS)
    ]


def _within_limits(exhibits: list[Exhibit], extract: list[CustodyEvent]) -> None:
    """Refuse what the verifier would: an exhibit's title or description over
    ``TEXT_MAX_CHARS`` (a schedule cell), a line of the extract over
    ``layout.EVENT_LINE_MAX_BYTES``; both only when recorded before those limits."""
    for ex in exhibits:
        for name in ("title", "description"):
            if (n := len(getattr(ex, name))) > TEXT_MAX_CHARS:
                raise InputError(
                    f"exhibit {ex.reference}: its {name} holds {n:,} characters, more than the "
                    f"{TEXT_MAX_CHARS:,} a bundle's schedule carries (it was recorded before "
                    f"that limit): leave {ex.reference} out of the bundle",
                    field="exhibits",
                )
    for e in extract:
        if (n := len(layout.event_line(e))) > layout.EVENT_LINE_MAX_BYTES:
            fix = (
                f"leave {e.exhibit} out of the bundle"
                if e.exhibit
                else "no bundle of the case can carry it; report it to the JIT lead"
            )
            raise InputError(
                f"custody event {e.seq} ({e.action}) is {n:,} bytes long, more than the "
                f"{layout.EVENT_LINE_MAX_BYTES:,} a bundle's ledger extract carries: {fix}",
                field="exhibits" if e.exhibit else None,
            )


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


class Payload:
    """A bundle's payload, built and digested but not yet written: everything
    the seal covers (``layout.seal_digest``). ``prepare`` makes it; once the
    seal is cosigned, ``write`` bags it with the seal's material. A context
    manager: the rendered PDF waits in a temporary file."""

    def __init__(
        self,
        identity: Identity,
        exhibits: list[Exhibit],
        events: list[CustodyEvent],
        open_native: Callable[[Exhibit], Iterable[bytes]],
        rendered: IO[bytes],
        pages: pdf.PdfLayout,
        files: dict[str, bytes],
        natives: dict[str, str],
        root: str,
    ) -> None:
        self.identity = identity
        self.exhibits = exhibits
        self.events = events
        self.head = (events[-1].seq, events[-1].hash)
        self.root = root
        self.pages = pages
        self._open_native = open_native
        self._rendered = rendered
        self._files = files
        self._natives = natives
        pdf_sha256 = hashlib.sha256()
        for chunk in iter(lambda: rendered.read(CHUNK), b""):
            pdf_sha256.update(chunk)
        covered = [(layout.PDF, pdf_sha256.hexdigest())]
        covered += [(path, hashlib.sha256(data).hexdigest()) for path, data in files.items()]
        covered += [(natives[ex.reference], ex.sha256) for ex in exhibits]
        self.seal = layout.seal_digest(covered)
        self.sealed_files = len(covered)

    def __enter__(self) -> Payload:
        return self

    def __exit__(self, *exc: object) -> None:
        self._rendered.close()

    def seal_details(self) -> dict[str, Any]:
        """The details of the bundle's BUNDLE_SEALED custody event."""
        return layout.seal_details(
            self.identity, self.root, self.seal, self.sealed_files, self.events
        )

    def write(self, out: BinaryIO, seal_event: CustodyEvent, log: LogMaterial) -> Built:
        """Bag the payload with the seal's material into ``out`` (seekable:
        see ``bundle.bag``); natives are streamed from the store and checked
        against the ledger's hashes on the way (a mismatch abandons the bag)."""
        if seal_event.action != Action.BUNDLE_SEALED or seal_event.details.get("seal") != self.seal:
            raise InputError(f"event {seal_event.seq} is not the seal of this bundle's payload")
        extract = [*self.events, seal_event]
        ledger_files = {
            layout.LEDGER: b"".join(layout.event_line(e) for e in extract),
            layout.CHECKPOINT: log.checkpoint.encode(),
            layout.POLICY: log.policy.encode(),
        }
        for e in extract:
            proof = proofs.tlog_proof(e.seq, list(log.inclusion[e.seq]), log.checkpoint)
            ledger_files[layout.proof_name(e.seq)] = proof.encode()
        size = notes.Checkpoint.parse(notes.parse(log.checkpoint).text).size
        for old, proof_hashes in log.consistency.items():
            text = proofs.consistency_file(old, size, list(proof_hashes))
            ledger_files[layout.consistency_name(old)] = text.encode()
        small = {**self._files, **ledger_files}
        by_native = {self._natives[ex.reference]: ex for ex in self.exhibits}
        info = layout.bag_info(self.identity, self.root, self.head, (seal_event.seq, self.seal))
        self._rendered.seek(0)
        with BagWriter(
            out, name=self.identity.bundle_id, when=self.identity.created_at, info=info
        ) as bag:
            for path in sorted([layout.PDF, *small, *by_native], key=str.encode):
                if path == layout.PDF:
                    bag.add_stream(path, iter(lambda: self._rendered.read(CHUNK), b""))
                elif path in small:
                    bag.add_bytes(path, small[path])
                else:
                    ex = by_native[path]
                    bag.add_stream(
                        path, self._open_native(ex), expect=(ex.size, ex.blake3, ex.sha256)
                    )
            summary = bag.close()
        return Built(self.root, self.head, self.seal, self.pages, summary)


def prepare(
    *,
    identity: Identity,
    case: Case,
    exhibits: list[Exhibit],
    events: list[CustodyEvent],
    keys: dict[str, str],
    open_native: Callable[[Exhibit], Iterable[bytes]],
    limits: pdf.Limits | None = None,
) -> Payload:
    """Render and digest the payload of a bundle of ``exhibits`` from the
    case's whole chain ``events``: the extract (``disclosed_events``), the
    root digest (``layout.root_digest``), ``bundle.pdf`` (PDF exhibits read
    from the store one at a time to be merged), the schedule, load file,
    checksums, keys and provenance."""
    if not exhibits:
        raise InputError("a bundle needs at least one exhibit")
    if identity.case_id != case.id:
        raise InputError(
            f"bundle {identity.bundle_id} is of case {identity.case_id}, not {case.id}"
        )
    refs = [ex.reference for ex in exhibits]
    if len(set(refs)) != len(refs):
        raise InputError("an exhibit is listed twice in the bundle")
    extract = disclosed_events(events, set(refs))
    _within_limits(exhibits, extract)
    head = (extract[-1].seq, extract[-1].hash)
    natives = {ex.reference: layout.native_name(ex.reference, ex.original_name) for ex in exhibits}
    root = layout.root_digest(
        identity, head, [(ex.reference, ex.size, ex.blake3, ex.sha256) for ex in exhibits]
    )

    def source(ex: Exhibit) -> Callable[[], bytes]:
        return lambda: b"".join(open_native(ex))

    rendered = tempfile.SpooledTemporaryFile(max_size=SPOOL)
    try:
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
            _continuity(exhibits, extract),
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
        rows = _schedule_rows(exhibits, natives, pages)
        files = {
            layout.CHECKSUMS_B3: checksum_file(
                (natives[ex.reference], ex.blake3) for ex in exhibits
            ),
            layout.CHECKSUMS_SHA256: checksum_file(
                (natives[ex.reference], ex.sha256) for ex in exhibits
            ),
            layout.KEYS: layout.keys_document(keys),
            layout.LOAD_FILE: layout.load_file(rows),
            layout.PROVENANCE: provenance_jsonld(
                case,
                exhibits,
                extract,
                BundleIdentity(
                    identity.bundle_id, identity.prosecutor, identity.team, identity.created_at
                ),
            ),
            layout.SCHEDULE: layout.schedule_csv(rows),
        }
        rendered.seek(0)
        payload = Payload(
            identity, exhibits, extract, open_native, rendered, pages, files, natives, root
        )
    except BaseException:
        rendered.close()
        raise
    return payload


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
