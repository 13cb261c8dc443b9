"""The JSON API's request bodies and answers, as pydantic models: what the
OpenAPI schema (``/api/v1/openapi.json``) says each route takes and gives
back. An answer is the ``as_dict()`` of a domain value (the same JSON as the
CLI's ``--json``), validated against its model on the way out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from evidence.access import MAX_PASSWORD
from evidence.paging import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from evidence.search import ExhibitFilter

T = TypeVar("T")
Text = Annotated[str, Field(max_length=2000)]
Name = Annotated[str, Field(max_length=100)]
PURPOSES = "^(jit|other_offence|urgent_public_security|outside_jit)$"

# -- requests -------------------------------------------------------------------------------


class Login(BaseModel):
    name: Annotated[str, Field(max_length=200)]
    password: Annotated[str, Field(max_length=MAX_PASSWORD)]


class NewPassword(BaseModel):
    current: Annotated[str, Field(max_length=MAX_PASSWORD)]
    new: Annotated[str, Field(max_length=MAX_PASSWORD)]


class NewToken(BaseModel):
    label: Annotated[str, Field(min_length=1, max_length=200)]


class NewHandling(BaseModel):
    code: Annotated[str, Field(pattern="^H[0-3]$")]
    note: Text = ""
    purposes: Annotated[
        list[Annotated[str, Field(pattern="^(other_offence|urgent_public_security|outside_jit)$")]],
        Field(max_length=3),
    ] = []


class Consent(BaseModel):
    for_team: Annotated[str, Field(min_length=1, max_length=20)]
    note: Text


class Sensitivity(BaseModel):
    sensitive: bool
    reason: Text = ""


class NewTransfer(BaseModel):
    case: Name
    exhibits: Annotated[list[Name], Field(min_length=1, max_length=1000)]
    to_team: Annotated[str, Field(max_length=20)]
    purpose: Annotated[str, Field(pattern=PURPOSES)] = "jit"
    legal_basis: Text = ""
    note: Text = ""


class Reason(BaseModel):
    reason: Text = ""


class Contents(BaseModel):
    blake3: Annotated[
        list[Annotated[str, Field(pattern="^[0-9a-f]{64}$")]], Field(min_length=1, max_length=1000)
    ]


class NewBundle(BaseModel):
    # A field this server does not know (a selection a newer client sends) is
    # refused, never ignored: ignored, it would widen what is disclosed.
    model_config = ConfigDict(extra="forbid")

    case: Name
    exhibits: Annotated[list[Name] | None, Field(max_length=10000)] = None
    all_held: bool = False
    selection: Annotated[
        str | None, Field(max_length=100, description="A selection you made: its id")
    ] = None


class ExhibitMatch(BaseModel):
    """An exhibit search (``evidence.search.ExhibitFilter``): every field
    given narrows it."""

    q: Annotated[
        str | None, Field(max_length=200, description="Text in reference, title or description")
    ] = None
    hash: Annotated[
        str | None, Field(max_length=64, description="Hex prefix of SHA-256 or BLAKE3, 4+ digits")
    ] = None
    media_type: Annotated[str | None, Field(max_length=255, description="image/png, or image/")] = (
        None
    )
    team: Annotated[str | None, Field(max_length=100, description="Originating team")] = None
    status: Annotated[str | None, Field(pattern="^(stored|quarantined)$")] = None
    handling: Annotated[str | None, Field(pattern="^H[0-3]$")] = None
    seized_from: Annotated[
        str | None, Field(max_length=40, description="ISO 8601 date or date-time with offset")
    ] = None
    seized_to: Annotated[
        str | None, Field(max_length=40, description="ISO 8601; a date: its whole day")
    ] = None

    def as_filter(self, case: str | None) -> ExhibitFilter:
        return ExhibitFilter.parse(
            case=case,
            text=self.q,
            hash_prefix=self.hash,
            media_type=self.media_type,
            team=self.team,
            status=self.status,
            handling=self.handling,
            seized_from=self.seized_from,
            seized_to=self.seized_to,
        )


class NewSelection(ExhibitMatch):
    model_config = ConfigDict(extra="forbid")

    case: Name


class NewAudit(BaseModel):
    case: Name | None = None  # None: every case of the caller's team
    all_copies: bool = False  # every copy, not only today's share


class PageQuery:
    """A list's paging parameters (a dependency of each list's route): the
    ``cursor`` decoded (a bad one is a 400 naming ``cursor``)."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="The rows a page holds.")] = (
            DEFAULT_LIMIT
        ),
        cursor: Annotated[
            str | None, Query(max_length=1000, description="A page's `next` or `prev`.")
        ] = None,
    ) -> None:
        self.limit = limit
        self.cursor = Cursor.decode(cursor)


# -- answers --------------------------------------------------------------------------------


class PersonOut(BaseModel):
    name: str
    team: str
    roles: list[str]


class SessionOut(BaseModel):
    person: PersonOut
    csrf: str


class MeOut(PersonOut):
    csrf: str | None


class LoggedOut(BaseModel):
    logged_out: str


class PasswordChanged(BaseModel):
    password_changed: str


class TokenOut(BaseModel):
    id: str
    person: str
    label: str
    created_at: str
    revoked_at: str | None


class NewTokenOut(TokenOut):
    secret: str  # shown in this answer only


class TeamOut(BaseModel):
    code: str
    member_state: str
    name: str


class CaseOut(BaseModel):
    id: str
    title: str
    agreement: str
    lead_team: str
    teams: list[TeamOut]


class HandlingOut(BaseModel):
    code: str
    note: str
    purposes: list[str]


class DeclaredHashOut(BaseModel):
    algorithm: str
    value: str


class ExhibitOut(BaseModel):
    reference: str
    case: str
    team: str
    title: str
    description: str
    seized_at: str | None
    seized_by: str
    seized_from: str
    original_name: str
    relative_path: str
    media_type: str
    size: int
    blake3: str
    sha256: str
    declared_hash: DeclaredHashOut | None
    storage_key: str
    retention_until: str | None
    status: str
    ingested_at: str
    ingested_by: str
    handling: HandlingOut


class EventOut(BaseModel):
    case: str
    seq: int
    exhibit: str | None
    action: str
    actor: str
    team: str
    at: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class HoldingOut(BaseModel):
    team: str
    purpose: str | None  # None for the originating team
    transfer: str | None  # the hand-off it came by; None for the originating team


class ExhibitContinuityOut(ExhibitOut):
    holders: list[HoldingOut]
    continuity: list[EventOut]


class FixityAuditOut(BaseModel):
    event: EventOut  # its FIXITY_AUDITED event
    failures: list[EventOut]  # its FIXITY_FAILED events


class OutcomeOut(BaseModel):
    source: str
    status: str  # stored | quarantined | duplicate | changed
    reference: str | None
    size: int
    blake3: str
    sha256: str
    media_type: str
    message: str
    seq: int


class FindingOut(BaseModel):
    check: str
    where: str
    kind: str
    message: str


class CheckOut(BaseModel):
    name: str
    ok: bool
    detail: str


class ReportOut(BaseModel):
    """A report (``evidence.findings.Report``): its facts are the fields of
    the subclasses below."""

    subject: str
    ok: bool
    summary: str
    checks: list[CheckOut]
    findings: list[FindingOut]
    notes: list[str]  # worth knowing, not failures


class ChainReportOut(ReportOut):
    case: str
    events: int
    head_seq: int
    head_hash: str
    first_bad: int | None


class CaseReportOut(ChainReportOut):
    exhibits: int
    covered: int  # events covered by the latest cosigned checkpoint
    uncovered: int  # events not yet witnessed
    copies: int  # stored copies re-read (with objects=true), 0 otherwise


class BundleReportOut(ReportOut):
    source: str
    bundle: str


class RequirementOut(BaseModel):
    capacity: str
    team: str


class DecisionOut(BaseModel):
    capacity: str
    team: str
    person: str
    decision: str  # approved | rejected
    reason: str
    at: str
    seq: int


class TransferItemOut(BaseModel):
    reference: str
    origin_team: str
    handling: HandlingOut
    size: int
    blake3: str
    sha256: str
    dispatched_seq: int | None


class ReceiptOut(BaseModel):
    transfer: str
    payload: dict[str, Any]
    signature: str
    key_fingerprint: str


class TransferOut(BaseModel):
    id: str
    case: str
    from_team: str
    to_team: str
    purpose: str
    legal_basis: str
    note: str
    state: str
    requested_by: str
    requested_at: str
    exhibits: list[TransferItemOut]
    required: list[RequirementOut]
    pending: list[RequirementOut]
    decisions: list[DecisionOut]
    receipt: ReceiptOut | None
    failure: str
    receipt_check: ReportOut | None  # the receipt's signature and ledger checked; None before it


class JobOut(BaseModel):
    id: str  # the Prefect flow run's id
    kind: str  # bundle | dispatch | audit | checkpoint | ingest
    person: str
    case: str
    started_at: str  # when it was submitted
    state: str  # Prefect's state type: SCHEDULED, PENDING, RUNNING, COMPLETED, FAILED, CRASHED
    state_name: str  # and its name, e.g. Late, AwaitingRetry
    finished: bool
    flow_run_id: str
    progress: float | None  # percent, from the run's progress artifact
    result: dict[str, Any] | list[dict[str, Any]]  # the run's receipt
    error: str
    ui_url: str | None  # the run in the Prefect UI


class ApprovalOut(TransferOut):
    job: JobOut | None  # the dispatch this approval started, if it did


class BundleOut(BaseModel):
    id: str
    case: str
    team: str
    prosecutor: str
    created_at: str
    ledger_head: int
    root_digest: str
    size: int
    blake3: str
    sha256: str
    exhibits: list[str]
    sensitive: list[str]
    sensitive_schedule: str | None


class PageOut(BaseModel, Generic[T]):
    """One page of a list (``evidence.paging.Page``): pass ``next`` (or
    ``prev``) back as ``cursor`` for the next (previous) page; ``null`` at an end."""

    items: list[T]
    total: int
    limit: int
    next: str | None
    prev: str | None


class LookOut(ChainReportOut):
    """A chain verified from the head this server verified last
    (``evidence.verified``): ``checked`` events after ``since``."""

    checked: int
    since: int
    checkpoint: int  # the latest signed checkpoint the verified events match (0: none)
    cosigned: bool  # and its cosigners make the policy's quorum
    verified_at: datetime | None
    full_at: datetime | None  # when a full verification last passed


class AccessLogOut(PageOut[EventOut]):
    """A page of the access log, with its chain's verification."""

    verification: LookOut


class SelectionOut(BaseModel):
    """A selection, frozen when made: ``count`` exhibits, the first of them in
    ``sample``; build a bundle of it with ``POST /api/v1/bundles``
    ``{"case", "selection"}``."""

    id: str
    case: str
    person: str
    filter: dict[str, str]
    created_at: str
    count: int
    sample: list[str]
