"""The application layer: jitev's use cases over the typed ``Wiring``, one
function each, shared by the CLI, the JSON API, the pages and the demo.

An action takes the wiring, the person who acts and plain values; it calls
the domain (``evidence``, where every rule and every policy decision lives)
with the adapters the wiring holds, runs a Prefect flow where the work is a
flow, and returns what it made: a ``Transfer``, a ``Bundle``, an
``IngestResult``, a custody event or a ``Report``. It never prints and never
words an error for a person: the CLI and the web do that, each in its terms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from config.jit import JitFile
from config.orchestration import prefect_defaults
from config.wiring import Wiring
from evidence import (
    audit,
    disclosure,
    fixity,
    handling,
    policy,
    selections,
    setup,
    transfers,
    verified,
    visibility,
)
from evidence.audit import CaseFacts
from evidence.disclosure import BundlePlan
from evidence.errors import InputError
from evidence.findings import Report
from evidence.ingest import IngestPlan, Progress, plan_ingest
from evidence.manifest import from_fields
from evidence.models import (
    Bundle,
    Case,
    CustodyEvent,
    Exhibit,
    Handling,
    Person,
    Role,
    Transfer,
    parse_purpose,
)
from evidence.outcomes import IngestResult, Outcome
from evidence.policy import Right
from evidence.ports import ByteStream
from evidence.search import ExhibitFilter, Selection
from evidence.sizes import MiB
from evidence.tlog import proofs
from evidence.tlog.notes import NOTE_SIGNATURE, VerifierKey
from evidence.tlog.policy import Policy
from evidence.tlog.publish import Publication
from evidence.uploads import committed, frames, ingest_batch, ingest_upload
from evidence.verified import LookFacts

T = TypeVar("T")
Fields = dict[str, str | None]  # exhibit metadata as given: title, seized_at, declared_hash, ...


# -- setting up a JIT ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TeamKey:
    team: str
    public_key: str
    here: bool  # the private key is on this machine


@dataclass(frozen=True, slots=True)
class SetupResult:
    added: tuple[Person, ...]  # newly registered, in the file's order
    kept: tuple[tuple[Person, Person], ...]  # (in the file, as registered): left unchanged
    opened: Case | None  # the case, if this run opened it
    keys: tuple[TeamKey, ...]
    policy: str  # the case log's trust policy (C2SP tlog-policy) as its ledger records it
    publication: Publication | None


def setup_jit(w: Wiring, jit: JitFile, source: str, acting: str | None) -> SetupResult:
    """Open the JIT's case, register its people and each team's receipt key
    (created on this machine if the catalog has none). Run again, it adds only
    what is missing and replaces nothing. The file's first admin acts unless
    someone else is named."""
    catalog = w.catalog
    first_admin = next((p for p in jit.people if p.has(Role.ADMIN)), None)
    added: list[Person] = []
    if not catalog.people():
        if first_admin is None:
            raise InputError(f"{source}: no people are registered yet, so list an admin first")
        setup.add_person(catalog, None, first_admin)
        added.append(first_admin)
    acting = acting or (first_admin.name if first_admin else None)
    known = {p.name: p for p in catalog.people()}
    kept = []
    for person in jit.people:
        if person.name not in known:
            setup.add_person(catalog, acting, person)
            added.append(person)
        elif known[person.name] != person:
            kept.append((person, known[person.name]))
    if acting is None:
        raise InputError("say which admin sets up the JIT", field="actor")
    admin = catalog.person(acting)
    opened = None
    if jit.case.id not in {c.id for c in catalog.cases()}:
        setup.open_case(catalog, jit.case, admin.name)
        opened = jit.case
    elif catalog.case(jit.case.id) != jit.case:
        raise InputError(
            f"case {jit.case.id} exists with other teams or another lead team than {source} "
            "says: a case's teams are fixed when it is opened"
        )
    keys = []
    for team in jit.case.teams:
        public = catalog.team_key(team.code) or w.keys.generate(team.code)
        setup.register_team_key(catalog, admin, jit.case.id, team.code, public)
        keys.append(TeamKey(team.code, public, w.keys.public_key(team.code) == public))
    trust = log_policy(w, jit.case)
    setup.register_log_policy(catalog, admin, jit.case.id, w.origin(jit.case.id), trust)
    publication = w.publish(jit.case.id)
    return SetupResult(tuple(added), tuple(kept), opened, tuple(keys), trust.text(), publication)


def log_policy(w: Wiring, case: Case) -> Policy:
    """The case log's trust policy from this deployment's keys and settings:
    its log key (created here if this machine has none), each member team's
    witness, and ``[ledger] quorum`` of them."""
    log_key = w.keys.log.load_or_create()
    origin = w.origin(case.id)
    key = VerifierKey(origin, NOTE_SIGNATURE, bytes.fromhex(log_key.public_key))
    witnesses = {witness.name: witness.key for witness in w.witnesses(case)}
    count = w.settings.ledger.quorum_count()
    if count is not None and count > len(witnesses):
        raise InputError(
            f"[ledger] quorum {count} is more than case {case.id}'s {len(witnesses)} witnesses"
        )
    return Policy.every_team(key, witnesses, count)


# -- ingest ------------------------------------------------------------------------


def check_ingest(
    w: Wiring,
    person: Person,
    *,
    case_id: str,
    team: str,
    paths: list[str],
    fields: Fields,
    manifest: str | None,
) -> IngestPlan:
    """Everything a person can get wrong, checked in seconds before a flow
    starts (the flow checks again, for runs that do not come from here)."""
    return plan_ingest(
        w.catalog,
        case_id=case_id,
        team=team,
        actor=person.name,
        paths=paths,
        defaults=from_fields(fields),
        manifest=manifest,
    )


def ingest(
    w: Wiring,
    person: Person,
    *,
    case_id: str,
    paths: list[str],
    team: str | None = None,
    fields: Fields | None = None,
    manifest: str | None = None,
    progress: Progress | None = None,
    reread: bool = False,
) -> IngestResult:
    """Ingest files and folders as ``person`` into their team (or ``team``):
    checked first, then run as the Prefect ingest flow in this process. Files
    an earlier run of the same command committed, unchanged since, are not
    read again unless ``reread``."""
    team = team or person.team
    fields = fields or {}
    check_ingest(
        w, person, case_id=case_id, team=team, paths=paths, fields=fields, manifest=manifest
    )
    prefect_defaults()
    from flows.ingest import run_ingest

    return run_ingest(
        w.settings.ingest.concurrency,
        case_id=case_id,
        team=team,
        actor=person.name,
        paths=paths,
        fields=fields,
        manifest=manifest,
        progress=progress,
        reread=reread,
    )


def upload(
    w: Wiring,
    person: Person,
    *,
    case_id: str,
    name: str,
    length: int,
    body: ByteStream,
    fields: Fields,
) -> Outcome:
    """One file arriving as a stream (an HTTP upload): the same checks and
    custody events as ``ingest``, as a run of one file (no flow)."""
    outcome = ingest_upload(
        w.store,
        w.catalog,
        case_id=case_id,
        actor=person.name,
        name=name,
        length=length,
        body=body,
        metadata=from_fields(fields),
    )
    w.publish(case_id)
    return outcome


def upload_batch(
    w: Wiring, person: Person, *, case_id: str, body: ByteStream, what: str
) -> list[Outcome]:
    """Many files in one stream (``evidence.uploads``, the CLI in client mode),
    checked against the sender's digests; the log published once."""
    max_size = w.settings.web.max_upload_mib * MiB
    try:
        return ingest_batch(
            w.store, w.catalog, case_id=case_id, actor=person.name,
            arrivals=frames(body, what, max_size),
        )  # fmt: skip
    finally:
        w.publish(case_id)


def known(w: Wiring, person: Person, case_id: str, digests: list[str]) -> list[Exhibit]:
    """The exhibits of the person's team in the case with these BLAKE3 digests."""
    return committed(w.catalog, person, case_id, digests)


# -- exhibits ----------------------------------------------------------------------


def change_handling(
    w: Wiring, person: Person, reference: str, new: Handling, case_id: str | None = None
) -> CustodyEvent:
    ex = w.catalog.exhibit(reference, case_id)
    return _logged(w, handling.set_handling(w.catalog, person, ex.case_id, ex.reference, new))


def consent(
    w: Wiring, person: Person, reference: str, for_team: str, note: str, case_id: str | None = None
) -> CustodyEvent:
    ex = w.catalog.exhibit(reference, case_id)
    return handling.consent_judicial_use(
        w.catalog, person, ex.case_id, ex.reference, for_team, note
    )


def mark_sensitive(
    w: Wiring, person: Person, reference: str, reason: str | None, case_id: str | None = None
) -> CustodyEvent:
    """``reason=None``: no longer sensitive."""
    ex = w.catalog.exhibit(reference, case_id)
    return _logged(w, handling.set_sensitive(w.catalog, person, ex.case_id, ex.reference, reason))


def download_exhibit(
    w: Wiring,
    person: Person,
    reference: str,
    write: Callable[[bytes], object],
    case_id: str | None = None,
) -> CustodyEvent:
    return _logged(w, visibility.download(w.store, w.catalog, person, reference, write, case_id))


# -- hand-offs ---------------------------------------------------------------------


def request_transfer(
    w: Wiring,
    person: Person,
    *,
    case_id: str,
    references: list[str],
    to_team: str,
    purpose: str = "jit",
    legal_basis: str = "",
    note: str = "",
) -> Transfer:
    return _logged(
        w,
        transfers.request_transfer(
            w.catalog,
            person,
            case_id=case_id,
            references=references,
            to_team=to_team,
            purpose=parse_purpose(purpose),
            legal_basis=legal_basis,
            note=note,
        ),
    )


def approve(
    w: Wiring,
    person: Person,
    transfer_id: str,
    reason: str,
    *,
    then_dispatch: Callable[[Transfer], T] | None,
) -> tuple[Transfer, T | None]:
    """Approve in every capacity the person holds. When this was the last
    approval and the person may dispatch (``transfers.dispatch_due``),
    ``then_dispatch`` starts the dispatch: the CLI runs it, the web submits a
    job. Returns the transfer and what ``then_dispatch`` returned."""
    transfer = _logged(
        w, transfers.decide(w.catalog, person, transfer_id, approve=True, reason=reason)
    )
    if then_dispatch is None or not transfers.dispatch_due(w.catalog, person, transfer):
        return transfer, None
    return transfer, then_dispatch(transfer)


def reject(w: Wiring, person: Person, transfer_id: str, reason: str) -> Transfer:
    return _logged(
        w, transfers.decide(w.catalog, person, transfer_id, approve=False, reason=reason)
    )


def cancel(w: Wiring, person: Person, transfer_id: str, reason: str) -> Transfer:
    return _logged(w, transfers.cancel(w.catalog, person, transfer_id, reason))


def check_dispatch(w: Wiring, person: Person, transfer_id: str) -> Transfer:
    """The transfer, if ``person`` may dispatch it now (before a flow starts)."""
    return transfers.check_dispatch(w.catalog, person, transfer_id)


def dispatch(w: Wiring, person: Person, transfer: Transfer) -> Transfer:
    """Run (or finish, after a crash) the dispatch flow in this process."""
    prefect_defaults()
    from flows.dispatch import dispatch as dispatch_flow

    dispatch_flow(transfer_id=transfer.id, actor=person.name)
    return w.catalog.transfer(transfer.id)


def receive(w: Wiring, person: Person, transfer_id: str) -> Transfer:
    """Re-read the copies, then sign the receipt with the receiving team's key
    (kept on this machine)."""
    transfer = visibility.checked_transfer(w.catalog, person, transfer_id)
    signer = w.keys.signer(transfer.to_team)
    return _logged(w, transfers.receive(w.store, w.catalog, signer, w.clock, person, transfer_id))


def receipt_check(w: Wiring, transfer: Transfer) -> Report[None] | None:
    return transfers.check_receipt(w.catalog, transfer)


# -- disclosure bundles -------------------------------------------------------------


def check_bundle(
    w: Wiring,
    person: Person,
    case_id: str,
    references: list[str] | None,
    selection: str | None = None,
) -> BundlePlan:
    """Who may disclose what, checked now: ``references=None`` is every
    exhibit the person's team holds, or the person's ``selection``."""
    return disclosure.plan_bundle(w.catalog, person, case_id, references, selection=selection)


def create_bundle(
    w: Wiring,
    person: Person,
    case_id: str,
    references: list[str] | None,
    selection: str | None = None,
) -> Bundle:
    plan = check_bundle(w, person, case_id, references, selection)
    return _logged(w, disclosure.create_bundle(w.store, w.catalog, plan, workdir(w), w.checkpoint))


def select_for_bundle(w: Wiring, person: Person, match: ExhibitFilter) -> Selection:
    """Freeze the exhibits matching ``match`` that the person's team holds, for a bundle."""
    return selections.select_for_bundle(w.catalog, person, match, w.clock.now())


def download_bundle(
    w: Wiring, person: Person, bundle_id: str, write: Callable[[bytes], object], sensitive: bool
) -> Bundle:
    """Stream the stored bundle (or its sensitive schedule), checked against
    its digest on the way; a bundle's download is an ACCESSED event for each
    of its exhibits (its bytes went out), a sensitive schedule's is not."""
    bundle = disclosure.checked_bundle(w.catalog, person, bundle_id, content=True)
    disclosure.download_bundle(w.store, bundle, write, sensitive)
    if not sensitive:
        disclosure.record_bundle_access(w.catalog, person, bundle)
        w.publish(bundle.case_id)
    return bundle


def bundle_name(bundle: Bundle, sensitive: bool) -> str:
    """The file name of a downloaded bundle or sensitive schedule."""
    return f"{bundle.id}-sensitive.csv" if sensitive else f"{bundle.id}.zip"


# -- audit ---------------------------------------------------------------------------


def verify_cases(
    w: Wiring, person: Person, case_id: str | None, *, objects: bool = False
) -> list[Report[CaseFacts]]:
    """Each case's chain and catalog rows (and stored objects) checked."""
    store = w.store if objects else None
    return [
        audit.audit_case(w.catalog, person, c.id, store, w.witnesses(c))
        for c in visibility.member_cases(w.catalog, person, case_id)
    ]


def look_ledgers(w: Wiring, person: Person) -> list[tuple[Case, Report[LookFacts]]]:
    """Each case the person audits, its chain and checkpoints verified from
    the head this server verified last (``evidence.verified``)."""
    heads, now = w.verified_heads(), w.clock.now()
    return [
        (c, verified.look_case(w.catalog, heads, person, c.id, now))
        for c in visibility.member_cases(w.catalog, person, None)
        if policy.decide(person, Right.AUDIT, case=c).allowed
    ]


def verify_fully(
    w: Wiring, person: Person, case_id: str
) -> tuple[Report[CaseFacts], Report[LookFacts]]:
    """The full verification of a case (``verify_cases``), then its verified
    head recorded again from the first event (forgotten if the check failed)."""
    report = verify_cases(w, person, case_id)[0]
    look = verified.full_case(w.catalog, w.verified_heads(), case_id, w.clock.now(), report.ok)
    return report, look


def fixity_audit(
    w: Wiring, person: Person, case_id: str | None, *, all_copies: bool = False
) -> list[fixity.FixityAudit]:
    """Run the fixity-audit flow in this process over ``case_id`` (or every
    case of the person's team): one audit a case."""
    check_audit(w, person, case_id)
    prefect_defaults()
    from flows.audit import fixity_audit as audit_flow

    return audits_done(w, person, audit_flow(person.name, case_id, all_copies))


def check_audit(w: Wiring, person: Person, case_id: str | None) -> None:
    """Refuse an audit before a flow starts: the person audits every case named."""
    for c in visibility.member_cases(w.catalog, person, case_id):
        fixity.auditable(w.catalog, person, c.id)


def audits_done(
    w: Wiring, person: Person, receipts: list[dict[str, Any]]
) -> list[fixity.FixityAudit]:
    """The audits an audit flow run recorded, from its receipts (one a case)."""
    found = []
    for receipt in receipts:
        event, failures = fixity.audit_event(
            w.catalog, person, receipt["case"], str(receipt["seq"])
        )
        found.append(fixity.FixityAudit(receipt["case"], event, tuple(failures)))
    return found


def workdir(w: Wiring) -> Path:
    """Where jitev keeps temporary files of its own (a bundle being built)."""
    w.settings.home.mkdir(parents=True, exist_ok=True)
    return w.settings.home


Logged = TypeVar("Logged", CustodyEvent, Transfer, Bundle)


def _logged(w: Wiring, made: Logged) -> Logged:
    """``made`` (what an action appended events for), once a checkpoint was asked for."""
    w.publish(made.case_id)
    return made


def log_extends(w: Wiring, case_id: str, saved: str) -> proofs.Extension:
    """The proof that the case's log today extends a checkpoint saved earlier
    (``LedgerError`` when it does not): published first, so today's
    checkpoint covers every event."""
    recorded = setup.log_policy(w.catalog, case_id)
    if recorded is None:
        raise InputError(f"case {case_id}'s ledger records no log policy: run `jitev setup` again")
    w.publish(case_id)
    origin, text = recorded
    return proofs.extends(w.catalog, case_id, origin, Policy.parse(text), saved)
