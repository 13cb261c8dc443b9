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
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from blake3 import blake3

from evidence.ledger import canonical_json, format_time
from evidence.models import Action, CustodyEvent

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


def schedule_csv(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """``schedule.csv``: a header of ``SCHEDULE_FIELDS``, then one row each."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(SCHEDULE_FIELDS)
    writer.writerows([row[f] for f in SCHEDULE_FIELDS] for row in rows)
    return text.getvalue().encode("utf-8")


def load_file(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """``load.dat`` from the schedule's rows: a header of ``LOAD_FIELDS``, then
    one row each, every field quoted with þ and separated by DC4."""
    table = [list(LOAD_FIELDS)] + [[row[LOAD_COLUMNS[f]] for f in LOAD_FIELDS] for row in rows]
    lines = [LOAD_SEPARATOR.join(f"{LOAD_QUOTE}{v}{LOAD_QUOTE}" for v in line) for line in table]
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
