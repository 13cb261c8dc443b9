"""Frozen value types of the domain: a JIT case, a team, an exhibit, a custody event."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from evidence.errors import InputError
from evidence.limits import check_text

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

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "agreement": self.agreement_ref,
            "lead_team": self.lead_team,
            "teams": [
                {"code": t.code, "member_state": t.member_state, "name": t.name} for t in self.teams
            ],
        }

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

    def matches(self, size: int, blake3: str, sha256: str) -> bool:
        """Are these the bytes recorded with that size, BLAKE3 and SHA-256?"""
        return (self.size, self.blake3, self.sha256) == (size, blake3, sha256)


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
    HASH_MISMATCH = "HASH_MISMATCH"  # declared hash at ingest, or a hand-off copy
    SOURCE_CHANGED = "SOURCE_CHANGED"  # a file changed while read: nothing committed
    HANDLING_CHANGED = "HANDLING_CHANGED"  # handling code or permitted purposes
    TRANSFER_REQUESTED = "TRANSFER_REQUESTED"  # one event per exhibit of the request
    TRANSFER_APPROVED = "TRANSFER_APPROVED"  # one decision, in one capacity
    TRANSFER_REJECTED = "TRANSFER_REJECTED"
    TRANSFER_CANCELLED = "TRANSFER_CANCELLED"
    DISPATCHED = "DISPATCHED"  # copied to the receiving team and read back verified
    TRANSFER_FAILED = "TRANSFER_FAILED"
    RECEIVED = "RECEIVED"  # the receiving team's signed receipt
    ACCESSED = "ACCESSED"  # a person downloaded the exhibit's bytes (verified)
    TEAM_KEY_REGISTERED = "TEAM_KEY_REGISTERED"  # a team's receipt public key, for this case
    JUDICIAL_USE_CONSENTED = "JUDICIAL_USE_CONSENTED"  # an H1 exhibit, for one team's courts
    SENSITIVITY_SET = "SENSITIVITY_SET"  # kept out of the defence-facing schedule, and why
    DISCLOSED = "DISCLOSED"  # included in a stored disclosure bundle
    BUNDLE_SEALED = "BUNDLE_SEALED"  # a bundle's seal, cosigned before the bundle is stored
    LOG_POLICY_SET = "LOG_POLICY_SET"  # the case log's key, its witnesses and their quorum
    FIXITY_AUDITED = "FIXITY_AUDITED"  # a fixity audit of the case: counts, checked-list digest
    FIXITY_FAILED = "FIXITY_FAILED"  # a team's stored copy failed a fixity audit


class Role(StrEnum):
    INVESTIGATOR = "investigator"
    LEAD = "lead"  # a team lead; a lead of the case's lead team is the JIT lead
    PROSECUTOR = "prosecutor"
    AUDITOR = "auditor"
    ADMIN = "admin"


def _choice(kind: type[StrEnum], value: str, what: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise InputError(
            f"{what} {value!r} is not valid: use one of {', '.join(m.value for m in kind)}"
        ) from None


def parse_role(value: str) -> Role:
    return _choice(Role, value, "role")  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Person:
    """Someone who acts in jitev: one team, one or more roles. The name is
    what every custody event records as its actor."""

    name: str
    team: str
    roles: frozenset[Role]

    def __post_init__(self) -> None:
        if not self.name.strip() or self.name != self.name.strip():
            raise InputError(f"person name {self.name!r} is empty or has spaces around it")
        check_team_code(self.team)
        if not self.roles:
            raise InputError(f"person {self.name}: give at least one role")

    def has(self, role: Role) -> bool:
        return role in self.roles

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "team": self.team, "roles": sorted(self.roles)}


class HandlingCode(StrEnum):
    H0 = "H0"  # JIT purposes
    H1 = "H1"  # no use in judicial proceedings without the originator's permission
    H2 = "H2"  # no onward transmission without the originator's permission
    H3 = "H3"  # other restrictions, in free text


class Purpose(StrEnum):
    JIT = "jit"  # the JIT's own purposes
    OTHER_OFFENCE = "other_offence"
    URGENT_PUBLIC_SECURITY = "urgent_public_security"
    OUTSIDE_JIT = "outside_jit"  # a third country or body


def parse_handling_code(value: str) -> HandlingCode:
    return _choice(HandlingCode, value.upper(), "handling code")  # type: ignore[no-any-return]


def parse_purpose(value: str) -> Purpose:
    return _choice(Purpose, value, "purpose")  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class Handling:
    """The use-limitation that travels with an exhibit. ``purposes`` are the
    purposes its originating team has agreed to in advance; ``jit`` is always
    one of them (the JIT agreement itself)."""

    code: HandlingCode = HandlingCode.H0
    note: str = ""  # the restriction, for H3; optional otherwise
    purposes: tuple[Purpose, ...] = (Purpose.JIT,)

    def __post_init__(self) -> None:
        if self.code is HandlingCode.H3 and not self.note.strip():
            raise InputError(
                "handling code H3 needs the restriction in words: give its note",
                field="handling_note",
            )
        ordered = tuple(sorted(set(self.purposes) | {Purpose.JIT}))
        if ordered != self.purposes:
            object.__setattr__(self, "purposes", ordered)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "note": self.note, "purposes": list(self.purposes)}


@dataclass(frozen=True, slots=True)
class ExhibitMetadata:
    """What a person says about an item: from flags, a sidecar manifest or an
    upload. Its text is kept exactly as given, or refused here, the one place
    every way in passes (``limits.check_text``)."""

    title: str | None = None
    description: str = ""
    seized_at: datetime | None = None
    seized_by: str = ""
    seized_from: str = ""
    declared: DeclaredHash | None = None
    handling: Handling | None = None  # None: not given (H0 unless a default says otherwise)

    def __post_init__(self) -> None:
        for name in ("title", "description", "seized_by", "seized_from"):
            check_text(name, getattr(self, name) or "")
        check_text("handling_note", self.handling.note if self.handling else "")


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
    handling: Handling = field(default_factory=Handling)

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
            "handling": self.handling.as_dict(),
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


# -- hand-offs -------------------------------------------------------------------


class TransferState(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"  # every required decision is an approval; dispatch may run
    DISPATCHED = "dispatched"  # every exhibit copied and read back verified
    RECEIVED = "received"  # the receiving team signed its receipt
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    FAILED = "failed"  # a copy did not verify: nothing was granted


class Capacity(StrEnum):
    JIT_LEAD = "jit_lead"  # a lead of the case's lead team: decides every hand-off
    ORIGIN = "origin_consent"  # a lead of the team where the evidence was obtained


@dataclass(frozen=True, slots=True)
class Requirement:
    """A decision a transfer needs: in a capacity, from a lead of a team."""

    capacity: Capacity
    team: str

    def describe(self) -> str:
        if self.capacity is Capacity.JIT_LEAD:
            return f"the JIT lead's approval (a lead of {self.team})"
        return f"the consent of the originating team {self.team} (a lead of {self.team})"


@dataclass(frozen=True, slots=True)
class Decision:
    capacity: Capacity
    team: str
    person: str
    approved: bool
    reason: str
    at: datetime
    seq: int  # its custody event

    def as_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity.value,
            "team": self.team,
            "person": self.person,
            "decision": "approved" if self.approved else "rejected",
            "reason": self.reason,
            "at": self.at.isoformat(),
            "seq": self.seq,
        }


@dataclass(frozen=True, slots=True)
class TransferItem:
    """One exhibit of a transfer, with the hashes it must keep."""

    reference: str
    origin_team: str
    handling: Handling
    size: int
    blake3: str
    sha256: str
    dispatched_seq: int | None = None  # its DISPATCHED event, once copied and verified

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "origin_team": self.origin_team,
            "handling": self.handling.as_dict(),
            "size": self.size,
            "blake3": self.blake3,
            "sha256": self.sha256,
            "dispatched_seq": self.dispatched_seq,
        }


@dataclass(frozen=True, slots=True)
class Receipt:
    """The receiving team's signed acknowledgement. ``payload`` is what was
    signed (see ``evidence.receipts``)."""

    transfer_id: str
    payload: dict[str, Any]
    signature: str  # Ed25519, hex
    key_fingerprint: str  # SHA-256 of the raw public key, hex

    def as_dict(self) -> dict[str, Any]:
        return {
            "transfer": self.transfer_id,
            "payload": self.payload,
            "signature": self.signature,
            "key_fingerprint": self.key_fingerprint,
        }


@dataclass(frozen=True, slots=True)
class Transfer:
    """A hand-off of exhibits from a holder team to another team of the case."""

    id: str  # DANUBE-T-0001
    case_id: str
    from_team: str
    to_team: str
    purpose: Purpose
    legal_basis: str
    note: str
    state: TransferState
    requested_by: str
    requested_at: datetime
    items: tuple[TransferItem, ...]
    required: tuple[Requirement, ...]
    decisions: tuple[Decision, ...] = ()
    receipt: Receipt | None = None
    failure: str = ""

    def pending(self) -> tuple[Requirement, ...]:
        """The decisions still missing."""
        done = {Requirement(d.capacity, d.team) for d in self.decisions if d.approved}
        return tuple(r for r in self.required if r not in done)

    def item(self, reference: str) -> TransferItem:
        for it in self.items:
            if it.reference == reference:
                return it
        raise InputError(f"exhibit {reference} is not part of transfer {self.id}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case": self.case_id,
            "from_team": self.from_team,
            "to_team": self.to_team,
            "purpose": self.purpose.value,
            "legal_basis": self.legal_basis,
            "note": self.note,
            "state": self.state.value,
            "requested_by": self.requested_by,
            "requested_at": self.requested_at.isoformat(),
            "exhibits": [i.as_dict() for i in self.items],
            "required": [{"capacity": r.capacity.value, "team": r.team} for r in self.required],
            "pending": [{"capacity": r.capacity.value, "team": r.team} for r in self.pending()],
            "decisions": [d.as_dict() for d in self.decisions],
            "receipt": self.receipt.as_dict() if self.receipt else None,
            "failure": self.failure,
        }


@dataclass(frozen=True, slots=True)
class Holding:
    """A team holds an exhibit: it originated it, or received it by a hand-off
    for a purpose."""

    team: str
    purpose: Purpose | None  # None for the originating team
    transfer_id: str | None  # None for the originating team

    def as_dict(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "purpose": self.purpose.value if self.purpose else None,
            "transfer": self.transfer_id,
        }


# -- disclosure ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bundle:
    """A stored disclosure bundle: what was disclosed, by whom, and where."""

    id: str  # DANUBE-FR-B-0001
    case_id: str
    team: str
    prosecutor: str
    created_at: datetime  # from the ledger: the last included custody event
    ledger_head: int  # the chain prefix 1..ledger_head the bundle was built from
    root_digest: str
    size: int
    blake3: str
    sha256: str
    exhibits: tuple[str, ...]  # in schedule order
    sensitive: tuple[str, ...]  # listed on the sensitive schedule instead
    sensitive_key: str | None  # the stored sensitive schedule (BLAKE3), if any

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case": self.case_id,
            "team": self.team,
            "prosecutor": self.prosecutor,
            "created_at": self.created_at.isoformat(),
            "ledger_head": self.ledger_head,
            "root_digest": self.root_digest,
            "size": self.size,
            "blake3": self.blake3,
            "sha256": self.sha256,
            "exhibits": list(self.exhibits),
            "sensitive": list(self.sensitive),
            "sensitive_schedule": self.sensitive_key,
        }


# -- signing in ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Session:
    """A browser's session: only the SHA-256 of the cookie's secret is kept."""

    digest: str
    person: str
    csrf: str  # the form token bound to this session
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A machine client's token: only the SHA-256 of its secret is kept."""

    id: str
    person: str
    label: str
    digest: str
    created_at: datetime
    revoked_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "person": self.person,
            "label": self.label,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }
