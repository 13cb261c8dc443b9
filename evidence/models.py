"""Frozen value types of the domain: what a JIT case, a team, an exhibit and a
custody event are. No I/O here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from evidence.errors import InputError

TEAM_CODE = re.compile(r"^[A-Z]{2,8}$")
CASE_ID = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,31}$")
REFERENCE = re.compile(r"^(?P<team>[A-Z]{2,8})-EX-(?P<number>\d{4,})$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")

DECLARED_ALGORITHMS = {"md5": 32, "sha1": 40, "sha256": 64, "blake3": 64}


def check_team_code(code: str) -> str:
    if not TEAM_CODE.match(code):
        raise InputError(f"team code {code!r} is not valid: use 2-8 capital letters, e.g. BG or FR")
    return code


def check_case_id(case_id: str) -> str:
    if not CASE_ID.match(case_id):
        raise InputError(
            f"case id {case_id!r} is not valid: use capital letters, digits, '-' or '_', "
            "e.g. DANUBE"
        )
    return case_id


def exhibit_reference(team: str, number: int) -> str:
    """``BG-EX-0007``: the team's code and its gapless exhibit number."""
    return f"{team}-EX-{number:04d}"


@dataclass(frozen=True, slots=True)
class Team:
    code: str
    member_state: str
    name: str

    def __post_init__(self) -> None:
        check_team_code(self.code)


@dataclass(frozen=True, slots=True)
class Case:
    """A JIT operation: the agreement, its member teams and the lead team."""

    id: str
    title: str
    agreement_ref: str
    teams: tuple[Team, ...]
    lead_team: str

    def __post_init__(self) -> None:
        check_case_id(self.id)
        if self.lead_team not in {t.code for t in self.teams}:
            raise InputError(
                f"case {self.id}: lead team {self.lead_team} is not one of its member teams"
            )

    def team(self, code: str) -> Team:
        for t in self.teams:
            if t.code == code:
                return t
        members = ", ".join(t.code for t in self.teams)
        raise InputError(
            f"team {code} is not a member of case {self.id} (members: {members}); "
            "add it to the JIT first"
        )


@dataclass(frozen=True, slots=True)
class Digests:
    """What one pass over the bytes proves: the size and the digests."""

    size: int
    blake3: str
    sha256: str
    declared: dict[str, str] = field(default_factory=dict)  # algorithm -> hex, computed


@dataclass(frozen=True, slots=True)
class DeclaredHash:
    """A hash reported by the seizing tool (e.g. a forensic imager)."""

    algorithm: str
    value: str

    def __post_init__(self) -> None:
        width = DECLARED_ALGORITHMS.get(self.algorithm)
        if width is None:
            raise InputError(
                f"declared hash algorithm {self.algorithm!r} is not supported: "
                f"use one of {', '.join(DECLARED_ALGORITHMS)}"
            )
        if len(self.value) != width or not re.fullmatch(r"[0-9a-f]+", self.value):
            raise InputError(
                f"declared {self.algorithm} hash {self.value!r} is not {width} lowercase hex digits"
            )


class ExhibitStatus(StrEnum):
    STORED = "stored"  # bytes stored, verified, committed
    QUARANTINED = "quarantined"  # stored, but its declared acquisition hash did not match


class Action(StrEnum):
    CASE_OPENED = "CASE_OPENED"
    INGESTED = "INGESTED"
    DUPLICATE_SEEN = "DUPLICATE_SEEN"
    HASH_MISMATCH = "HASH_MISMATCH"
    SOURCE_CHANGED = "SOURCE_CHANGED"  # a file changed while read: nothing committed


@dataclass(frozen=True, slots=True)
class ExhibitMetadata:
    """What a person says about an item: from flags or a sidecar manifest."""

    title: str | None = None
    description: str = ""
    seized_at: datetime | None = None
    seized_by: str = ""
    seized_from: str = ""
    declared: DeclaredHash | None = None


@dataclass(frozen=True, slots=True)
class Exhibit:
    reference: str
    case_id: str
    team: str
    title: str
    description: str
    seized_at: datetime | None
    seized_by: str
    seized_from: str
    original_name: str
    relative_path: str
    media_type: str
    size: int
    blake3: str
    sha256: str
    declared: DeclaredHash | None
    storage_key: str
    retention_until: datetime | None
    status: ExhibitStatus
    ingested_at: datetime
    ingested_by: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "case": self.case_id,
            "team": self.team,
            "title": self.title,
            "description": self.description,
            "seized_at": self.seized_at.isoformat() if self.seized_at else None,
            "seized_by": self.seized_by,
            "seized_from": self.seized_from,
            "original_name": self.original_name,
            "relative_path": self.relative_path,
            "media_type": self.media_type,
            "size": self.size,
            "blake3": self.blake3,
            "sha256": self.sha256,
            "declared_hash": (
                {"algorithm": self.declared.algorithm, "value": self.declared.value}
                if self.declared
                else None
            ),
            "storage_key": self.storage_key,
            "retention_until": self.retention_until.isoformat() if self.retention_until else None,
            "status": self.status.value,
            "ingested_at": self.ingested_at.isoformat(),
            "ingested_by": self.ingested_by,
        }


@dataclass(frozen=True, slots=True)
class CustodyEvent:
    """One link of a case's custody chain. ``hash`` covers every other field;
    see ``evidence.ledger`` for the byte encoding."""

    case_id: str
    seq: int
    exhibit: str | None
    action: str
    actor: str
    team: str
    at: datetime
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case_id,
            "seq": self.seq,
            "exhibit": self.exhibit,
            "action": self.action,
            "actor": self.actor,
            "team": self.team,
            "at": self.at.isoformat(),
            "details": self.details,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class StoredObject:
    """What the object store promises after a verified write."""

    namespace: str  # the team's bucket or directory
    key: str
    size: int
    blake3: str
    sha256: str
    retention_until: datetime | None
    adopted: bool = False  # True when the object was already there (re-run after a crash)
