"""What a disclosure bundle holds, and how its parts refer to each other: the
one description that ``build`` writes and ``verify`` checks.

The bundle is a BagIt bag in a ZIP (``evidence.bundle.bag``) named after the
bundle id, ``<CASE>-<TEAM>-B-<NNNN>`` (``DANUBE-FR-B-0001``). Its payload,
under ``data/``::

    bundle.pdf            cover, schedule, continuity, stamped exhibits (bundle.pdf)
    checksums.b3          b3sum --check format, over natives/ (paths "natives/<file>")
    checksums.sha256      sha256sum -c format, the same files
    keys.json             the teams' Ed25519 receipt keys, as the ledger records them
    ledger/               the seal's own material (not covered by the seal):
      checkpoint          the case log's checkpoint (C2SP tlog-checkpoint, a signed
                          note with the witnesses' cosignatures) covering every event
                          of custody.jsonl, the seal included
      consistency/<m>.tlog-consistency
                          for each earlier bundle of the case that carried a
                          checkpoint of size m: a consistency proof from m to this
                          checkpoint (``proofs.consistency_file``)
      custody.jsonl       the disclosed custody events (``disclosed``), one JSON object
                          a line (``event_line``), in sequence order; the last is
                          this bundle's BUNDLE_SEALED event
      policy              the case log's trust policy (C2SP tlog-policy: the log's key,
                          each team's witness key, the quorum), as the extract's last
                          LOG_POLICY_SET event records it
      proofs/<seq>.tlog-proof
                          for each event of custody.jsonl: its inclusion proof (C2SP
                          tlog-proof, index seq - 1) under the checkpoint, verbatim
    load.dat              a Concordance load file (``LOAD_FIELDS``), one row per exhibit
    natives/<REF><.ext>   the exhibits' bytes, byte-identical, named by reference
    provenance.jsonld     the chain of custody in CASE/UCO (bundle.provenance)
    schedule.csv          one row per exhibit (``SCHEDULE_FIELDS``)

**Selective disclosure.** The extract holds only the events about the
bundle's exhibits, the case-level events a verifier needs (``CASE_EVENTS``:
the case's opening, the teams' key registrations, the log policy) and the
bundle's own sealing event. Every other event of the case (another team's
exhibits, other bundles) appears only as hashes inside the proofs.

**The seal** (``seal_digest``) is the SHA-256 of the lines of
``manifest-sha256.txt`` for every payload file *outside* ``data/ledger/``::

    grep -v '  data/ledger/' manifest-sha256.txt | sha256sum

so it covers the PDF, the checksum files, keys.json, the load file, the
natives, the provenance and the schedule, and any file added among them. It
is recorded, with the root digest and the digest of the extract's events
(``extract_digest``: no event can be dropped from or slipped into the
extract), in the BUNDLE_SEALED custody event
(``seal_details``), which the log's witnesses cosign (the checkpoint the bag
carries) *before* the bundle is stored: a meaningful file edited or removed,
and the bag's manifests recomputed, no longer matches the cosigned seal. The
seal's own material (the extract, the checkpoint, the proofs, the policy)
lives in ``data/ledger/``, which the seal does not cover and which the
checkpoint's signatures and the proofs protect instead.

``bag-info.txt`` carries, after the bag writer's own fields, ``INFO_FIELDS``
in this order, one of each (``bag_info``; a verifier matches labels without
regard to case and takes values as they are)::

    External-Identifier   the bundle id; also the name of the bag folder in the ZIP
    Bundle-Case           the case id (DANUBE): the ledger extract's case
    Bundle-Team           the prosecutor's team code (FR)
    Bundle-Prosecutor     the prosecutor's name, as in the root digest
    Bundle-Created        format_time form (2026-03-14T09:30:00.000000Z): the time
                          of the ledger head
    Bundle-Root-Digest    root_digest, 64 lowercase hex digits
    Ledger-Head           "<seq> <hash>" of the extract's last event before the seal
    Bundle-Seal           "<seq> <seal digest>": the BUNDLE_SEALED event and its seal

Every page of ``bundle.pdf`` carries its Bates number, ``bates(prefix, page)``
(``DANUBE-FR-000123`` = bundle page 123), the prefix being ``<case>-<team>``
(``bates_prefix``). The root digest (``root_digest``) binds the bundle's
identity, the ledger head and every exhibit's hashes; it is computable before
the PDF exists, so the cover shows it, and anyone can recompute it from
``schedule.csv`` and the ledger extract.

**Cells** (``csv_cell``: OWASP's rule against CSV injection). A spreadsheet
runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or a
carriage return before one) as a formula: ``=cmd|' /C calc'!A0`` on the
defence's desktop. So every cell of ``schedule.csv`` and ``load.dat`` (and
of any CSV jitev hands a spreadsheet: ``csv_document``) whose value starts
with one of ``FORMULA_STARTS`` is written with a leading ``'``, which
spreadsheets take as "text"; and so is a value that starts with ``'``
itself, so that the rule reverses exactly: a cell that starts with ``'`` is
its value without that first character, any other cell is its value. Only
the cells are escaped: the ledger extract, ``keys.json`` and
``provenance.jsonld`` keep every value as recorded, and the schedule's
``title`` and ``description`` are those of the exhibit's INGESTED event
under this rule (the verifier checks both, and refuses a cell that a
spreadsheet would run).

**Limits**: what ``build`` writes, ``verify`` reads, and each part is read
with a limit no genuine part reaches, derived from the limit on what a
person hands jitev (``evidence.limits.TEXT_MAX_CHARS``, one metadata text):
a cell holds at most ``CELL_MAX_CHARS`` characters (such a text and its
escape), a table at most ``table_max_bytes`` for its rows, a line of the
ledger extract at most ``EVENT_LINE_MAX_BYTES``, ``keys.json`` at most
``KEYS_MAX_BYTES``. The builder refuses an exhibit whose texts are longer
(one recorded before the limit existed) rather than write a bundle that
would not verify.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blake3 import blake3

from evidence.ledger import canonical_json, format_time
from evidence.limits import TEXT_MAX_CHARS
from evidence.models import Action, CustodyEvent
from evidence.sizes import KiB

PDF = "bundle.pdf"
CHECKSUMS_B3 = "checksums.b3"
CHECKSUMS_SHA256 = "checksums.sha256"
KEYS = "keys.json"
LEDGER_DIR = "ledger"
LEDGER = f"{LEDGER_DIR}/custody.jsonl"
CHECKPOINT = f"{LEDGER_DIR}/checkpoint"
POLICY = f"{LEDGER_DIR}/policy"
PROOFS = f"{LEDGER_DIR}/proofs"
CONSISTENCY = f"{LEDGER_DIR}/consistency"
LOAD_FILE = "load.dat"
NATIVES = "natives"
PROVENANCE = "provenance.jsonld"
SCHEDULE = "schedule.csv"

SCHEDULE_FIELDS = (
    "number",
    "reference",
    "title",
    "description",
    "media_type",
    "size",
    "native",
    "first_page",
    "last_page",
    "begbates",
    "endbates",
    "pdf",  # "merged", or why the exhibit has a placeholder page instead
    "blake3",
    "sha256",
)

# Concordance: þ (U+00FE) quotes each field, DC4 (U+0014) separates them.
LOAD_QUOTE = "\u00fe"
LOAD_SEPARATOR = "\u0014"
LOAD_FIELDS = ("BEGBATES", "ENDBATES", "REFERENCE", "NATIVEPATH", "FILESIZE", "SHA256", "BLAKE3")
LOAD_COLUMNS = {  # load file field -> the schedule's field
    "BEGBATES": "begbates",
    "ENDBATES": "endbates",
    "REFERENCE": "reference",
    "NATIVEPATH": "native",
    "FILESIZE": "size",
    "SHA256": "sha256",
    "BLAKE3": "blake3",
}

# A cell whose value starts with one of these is escaped with a leading "'"
# (``csv_cell``), and so is one that starts with "'" itself.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CELL_ESCAPE = "'"
CELL_MAX_CHARS = TEXT_MAX_CHARS + len(CELL_ESCAPE)  # a metadata text at its limit, escaped
# Canonical JSON spends at most 6 bytes on a character (a control character
# as \u001f); an event's details carry at most this many texts of
# TEXT_MAX_CHARS (INGESTED, the largest, carries six).
EVENT_TEXTS_MAX = 32
EVENT_LINE_MAX_BYTES = EVENT_TEXTS_MAX * 6 * TEXT_MAX_CHARS  # one line of custody.jsonl: 12 MiB
# keys.json: a team's line is under 100 bytes (a code of at most 8 letters, 64
# hex digits), and a log policy names at most 64 witnesses, one a team.
KEYS_MAX_BYTES = 64 * KiB

ROOT_DOMAIN = b"jitev-bundle-v1\n"

# The case-level events every extract holds: what a verifier needs to read the rest.
CASE_EVENTS = frozenset({Action.CASE_OPENED, Action.TEAM_KEY_REGISTERED, Action.LOG_POLICY_SET})

INFO_BUNDLE_ID = "External-Identifier"
INFO_CASE = "Bundle-Case"
INFO_TEAM = "Bundle-Team"
INFO_PROSECUTOR = "Bundle-Prosecutor"
INFO_CREATED = "Bundle-Created"
INFO_ROOT_DIGEST = "Bundle-Root-Digest"
INFO_LEDGER_HEAD = "Ledger-Head"
INFO_SEAL = "Bundle-Seal"
INFO_FIELDS = (
    INFO_BUNDLE_ID,
    INFO_CASE,
    INFO_TEAM,
    INFO_PROSECUTOR,
    INFO_CREATED,
    INFO_ROOT_DIGEST,
    INFO_LEDGER_HEAD,
    INFO_SEAL,
)
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')  # a CSV cell holding one of these is quoted
HEX64 = re.compile(r"[0-9a-f]{64}")  # a BLAKE3 or SHA-256 digest, the root digest
LEDGER_HEAD = re.compile(r"([0-9]{1,15}) ([0-9a-f]{64})")  # Ledger-Head, Bundle-Seal
BATES_PREFIX = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,47}$")


@dataclass(frozen=True, slots=True)
class Identity:
    bundle_id: str  # <CASE>-<TEAM>-B-<NNNN>
    case_id: str
    team: str
    prosecutor: str
    created_at: datetime  # the time of the last included custody event


def bates_prefix(case_id: str, team: str) -> str:
    """``DANUBE-FR``: the Bates prefix of a bundle of case ``case_id`` by ``team``."""
    return f"{case_id}-{team}"


def bates(prefix: str, page: int) -> str:
    """``DANUBE-FR-000123``: the Bates number of bundle page ``page`` (from 1)."""
    return f"{prefix}-{page:06d}"


def bundle_id_pattern(case_id: str, team: str) -> re.Pattern[str]:
    """The bundle ids of case ``case_id`` by ``team``: ``DANUBE-FR-B-0001``."""
    return re.compile(rf"{re.escape(case_id)}-{re.escape(team)}-B-\d{{4,}}")


def bag_info(
    identity: Identity, root: str, head: tuple[int, str], seal: tuple[int, str]
) -> list[tuple[str, str]]:
    """The bundle's ``bag-info.txt`` fields (``INFO_FIELDS``, in order)."""
    values = (
        identity.bundle_id,
        identity.case_id,
        identity.team,
        identity.prosecutor,
        format_time(identity.created_at),
        root,
        f"{head[0]} {head[1]}",
        f"{seal[0]} {seal[1]}",
    )
    return list(zip(INFO_FIELDS, values, strict=True))


def native_name(reference: str, original_name: str) -> str:
    """``natives/BG-EX-0001.pdf``: the reference and the original extension
    (lower case, letters and digits only; none if it has no safe one)."""
    dot = original_name.rfind(".")
    ext = original_name[dot + 1 :].lower() if dot > 0 else ""
    suffix = f".{ext}" if ext and ext.isascii() and ext.isalnum() and len(ext) <= 10 else ""
    return f"{NATIVES}/{reference}{suffix}"


def event_line(event: CustodyEvent) -> bytes:
    """One line of the ledger extract: the event's fields as stored, in
    canonical JSON (``at`` in ``format_time`` form), so a verifier rebuilds
    each event exactly and recomputes its hash."""
    record = {**event.as_dict(), "at": format_time(event.at)}
    return canonical_json(record) + b"\n"


def root_digest(
    identity: Identity, head: tuple[int, str], exhibits: list[tuple[str, int, str, str]]
) -> str:
    """BLAKE3 of the bundle's identity, the ledger head (seq, hash) and each
    exhibit's (reference, size, blake3, sha256), in schedule order."""
    body: dict[str, Any] = {
        "bundle": identity.bundle_id,
        "case": identity.case_id,
        "team": identity.team,
        "prosecutor": identity.prosecutor,
        "created_at": format_time(identity.created_at),
        "ledger_head": {"seq": head[0], "hash": head[1]},
        "exhibits": [
            {"reference": r, "size": s, "blake3": b, "sha256": h} for r, s, b, h in exhibits
        ],
    }
    return blake3(ROOT_DOMAIN + canonical_json(body)).hexdigest()


def proof_name(seq: int) -> str:
    """``ledger/proofs/12.tlog-proof``: the inclusion proof of event ``seq``."""
    return f"{PROOFS}/{seq}.tlog-proof"


def consistency_name(size: int) -> str:
    """``ledger/consistency/40.tlog-consistency``: the proof from an earlier
    bundle's checkpoint of ``size`` events."""
    return f"{CONSISTENCY}/{size}.tlog-consistency"


def sealed(path: str) -> bool:
    """Does the seal cover payload file ``path`` (relative to ``data/``)?"""
    return not path.startswith(f"{LEDGER_DIR}/")


def seal_digest(files: Iterable[tuple[str, str]]) -> str:
    """The seal over ``(path, sha256 hex)`` of the payload files: SHA-256 of
    their ``manifest-sha256.txt`` lines, outside ``data/ledger/``, in path order."""
    lines = sorted((p.encode(), f"{h}  data/{p}\n".encode()) for p, h in files if sealed(p))
    return hashlib.sha256(b"".join(line for _, line in lines)).hexdigest()


def extract_digest(events: Iterable[CustodyEvent]) -> str:
    """SHA-256 of the concatenated 32-byte hashes of the extract's events
    before the seal, in order: what binds the extract to the seal."""
    return hashlib.sha256(b"".join(bytes.fromhex(e.hash) for e in events)).hexdigest()


def seal_details(
    identity: Identity, root: str, seal: str, files: int, extract: list[CustodyEvent]
) -> dict[str, Any]:
    """What the BUNDLE_SEALED event records: the bundle, its root digest, the
    seal and how many files it covers, and the extract's digest and length
    (a case-level event: the exhibits are bound through the root digest, not
    named, so that no member team learns another's disclosures from the
    case's events)."""
    return {
        "bundle": identity.bundle_id,
        "root_digest": root,
        "seal": seal,
        "files": files,
        "events": len(extract),
        "extract": extract_digest(extract),
    }


def keys_document(keys: dict[str, str]) -> bytes:
    """``keys.json``: team code -> raw Ed25519 public key (hex)."""
    return json.dumps(keys, sort_keys=True, indent=2).encode() + b"\n"


def csv_cell(value: object) -> str:
    """``value`` as a cell a spreadsheet shows and never runs: with a leading
    ``'`` when it starts with one of ``FORMULA_STARTS`` or with ``'`` (so a
    cell that starts with ``'`` is always its value without it)."""
    text = str(value)
    if text.startswith((*FORMULA_STARTS, CELL_ESCAPE)):
        return CELL_ESCAPE + text
    return text


def table_max_bytes(fields: int, rows: int) -> int:
    """The most a table of ``fields`` cells a row that jitev writes holds with
    ``rows`` rows and a header: every cell at ``CELL_MAX_CHARS``, each
    character 4 bytes of UTF-8, quoted, with its separator."""
    return (rows + 1) * fields * (4 * CELL_MAX_CHARS + 3)


def _quoted(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if _NEEDS_QUOTES.search(cell) else cell


def csv_document(header: Sequence[str], rows: Iterable[Iterable[object]]) -> bytes:
    """CSV as RFC 4180 has it, with LF line ends, in UTF-8: ``header``, then
    each row, every cell through ``csv_cell``; a cell holding a comma, a
    quote, a CR or an LF is quoted, its quotes doubled (Python's ``csv``
    writer leaves a lone CR unquoted when lines end with LF, and every reader
    then splits the row there)."""
    lines = [list(header), *([csv_cell(v) for v in row] for row in rows)]
    return "".join(",".join(map(_quoted, line)) + "\n" for line in lines).encode("utf-8")


def schedule_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """``schedule.csv``: a header of ``SCHEDULE_FIELDS``, then one row each."""
    return csv_document(SCHEDULE_FIELDS, ([row[f] for f in SCHEDULE_FIELDS] for row in rows))


def load_file(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """``load.dat`` from the schedule's rows: a header of ``LOAD_FIELDS``, then
    one row each, every field quoted with þ and separated by DC4 (each value
    through ``csv_cell``)."""
    table = [list(LOAD_FIELDS)] + [[row[LOAD_COLUMNS[f]] for f in LOAD_FIELDS] for row in rows]
    lines = [
        LOAD_SEPARATOR.join(f"{LOAD_QUOTE}{csv_cell(v)}{LOAD_QUOTE}" for v in line)
        for line in table
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def load_fields(line: str) -> list[str] | None:
    """One line of ``load.dat`` as its fields, or ``None`` when a field is not
    quoted with þ or holds one."""
    fields = []
    for raw in line.split(LOAD_SEPARATOR):
        if len(raw) < 2 or raw[0] != LOAD_QUOTE or raw[-1] != LOAD_QUOTE or LOAD_QUOTE in raw[1:-1]:
            return None
        fields.append(raw[1:-1])
    return fields
