"""Auditing a case: its custody chain recomputed, every catalog row checked
against the ledger (the ledger is the authority), every stored copy a team
holds re-read if asked; and searching its custody events. Auditors of the
case's teams and the JIT lead do it (``policy``: the ``audit`` right)."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from evidence import mirror, policy
from evidence.errors import JitevError, LedgerError, ObjectMissing
from evidence.findings import Finding, Report
from evidence.hashing import digest_chunks, open_recorded
from evidence.ledger import UNPARSEABLE, verify
from evidence.models import Action, CustodyEvent, Digests, Exhibit, Person
from evidence.paging import Cursor, Page, check_key, of_list
from evidence.policy import Right
from evidence.ports import Catalog, ObjectStore, WitnessClient
from evidence.setup import log_policy
from evidence.tlog.check import LogState, check_log
from evidence.tlog.policy import Policy as LogPolicy


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What a case's verification established: the chain (as
    ``ledger.ChainFacts``), how many exhibit rows were checked, and how many
    stored copies were re-read (0 when the objects were not asked for)."""

    case: str
    events: int
    head_seq: int
    head_hash: str
    first_bad: int | None
    exhibits: int
    covered: int  # events covered by the latest cosigned (quorum) checkpoint
    uncovered: int  # events after it: not yet witnessed
    copies: int  # stored copies re-read: each exhibit's original and each team's received one


def _all_events(catalog: Catalog, case_id: str) -> list[CustodyEvent]:
    """The case's events, read with the cycle collector paused: it would walk
    the growing list again and again (a third of the read time of a million
    events), and events hold no reference cycles to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return list(catalog.events(case_id))
    finally:
        if enabled:
            gc.enable()


def verify_case(
    catalog: Catalog,
    case_id: str,
    store: ObjectStore | None = None,
    witnesses: Sequence[WitnessClient] = (),
) -> Report[CaseFacts]:
    """Everything a case's ledger must hold, from the stored rows:

    - ``chain``: the hash chain recomputed (``ledger.verify``), every event's
      details their exact canonical bytes;
    - ``log``: the Merkle tree, every stored checkpoint and what each of
      ``witnesses`` last cosigned, against the events (``tlog.check``);
    - ``exhibits``, ``transfers``, ``bundles``: every catalog row against
      the events it mirrors (``mirror``);
    - ``objects``, with ``store``: every copy a team holds (``held_copies``)
      re-read and re-hashed, BLAKE3 and SHA-256 in one pass, against the
      digests the ledger records for it.
    """
    catalog.case(case_id)
    events = _all_events(catalog, case_id)
    chain = verify(case_id, events)
    findings = list(chain.findings)
    findings += [
        Finding(
            "chain",
            f"event {e.seq}",
            "its stored details are not their canonical bytes "
            "(a duplicate key, a float, or a re-encoding)",
            "edited",
        )
        for e in events
        if UNPARSEABLE in e.details
    ]
    log_findings, notes, log = _check_log(catalog, case_id, events, witnesses)
    findings += log_findings  # before the rows: a row that differs may only echo the events' loss
    exhibits = catalog.exhibits(case_id)
    rows, row_notes = mirror.check_rows(
        events, exhibits, catalog.transfers(case_id), catalog.bundles(case_id)
    )
    findings += rows
    notes += row_notes
    copies = 0
    if store is not None:
        for copy in held_copies(events, exhibits):
            copies += 1
            findings += check_copy(store, case_id, copy)
    c = chain.facts
    facts = CaseFacts(
        case_id,
        c.events,
        c.head_seq,
        c.head_hash,
        c.first_bad,
        len(exhibits),
        log.covered if log else 0,
        log.uncovered if log else c.events,
        copies,
    )
    if not findings:
        reread = f", {copies} stored copies re-read" if store is not None else ""
        summary = (
            f"ledger intact: {c.events} custody events, {len(exhibits)} exhibits{reread}; "
            f"head #{c.head_seq} {c.head_hash}"
        )
    elif chain.ok:
        summary = f"the chain is intact (head #{c.head_seq} {c.head_hash}); {findings[0].text()}"
    else:
        summary = chain.summary
    return Report(f"case {case_id}", facts, tuple(findings), summary=summary, notes=tuple(notes))


def _check_log(
    catalog: Catalog, case_id: str, events: list[CustodyEvent], witnesses: Sequence[WitnessClient]
) -> tuple[list[Finding], list[str], LogState | None]:
    recorded = log_policy(catalog, case_id)
    if recorded is None:
        return [], ["the case's ledger records no log policy: its events are not witnessed"], None
    origin, text = recorded
    try:
        trust: LogPolicy | None = LogPolicy.parse(text)
    except LedgerError as exc:
        return (
            [
                Finding(
                    "log",
                    "the LOG_POLICY_SET event",
                    f"its policy cannot be read: {exc}",
                    "malformed",
                )
            ],
            [],
            None,
        )
    views: dict[str, str | None] = {}
    said: list[str] = []
    for witness in witnesses:
        try:
            views[witness.name] = witness.latest(origin)
        except JitevError as exc:
            said.append(f"witness {witness.name} could not be asked for its checkpoint: {exc}")

    def tree(wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return catalog.tree_nodes(case_id, wanted)

    findings, notes, state = check_log(
        events, origin, trust, catalog.checkpoints(case_id), views, tree
    )
    return findings, said + notes, state


@dataclass(frozen=True, slots=True)
class Copy:
    """A stored copy a team holds of an exhibit: where the store keeps it,
    and the digests the ledger records for it."""

    reference: str
    team: str
    namespace: str
    key: str
    recorded: Digests
    transfer: str | None  # the hand-off it was received by; None: the originating team's
    retention_until: datetime | None = None  # as the ledger records it (INGESTED, DISPATCHED)

    def name(self) -> str:
        how = f"received by transfer {self.transfer}" if self.transfer else "the original"
        return f"team {self.team}'s copy ({how})"


def held_copies(events: list[CustodyEvent], exhibits: list[Exhibit]) -> Iterator[Copy]:
    """Every copy a team holds, each once: an exhibit's original, as its row
    says (``mirror`` checks the row against its INGESTED event), then each
    receiving team's, as its RECEIVED event records it: where the team keeps
    it (``store``) and the hashes its receipt signed for. These are the bytes
    each team downloads and bundles. A copy dispatched and not yet received
    is the receiving team's too, as its DISPATCHED event records it (not one
    whose transfer failed at receipt: the team never took it)."""
    for ex in exhibits:
        recorded = Digests(ex.size, ex.blake3, ex.sha256)
        yield Copy(
            ex.reference, ex.team, ex.team, ex.storage_key, recorded, None, ex.retention_until
        )
    seen: set[tuple[str, str]] = set()
    retained: dict[tuple[str, str], datetime] = {}  # (exhibit, store): the DISPATCHED retention
    dispatched: dict[tuple[str, str], CustodyEvent] = {}  # the first DISPATCHED of each copy
    failed: set[tuple[str, object]] = set()  # (exhibit, transfer): refused at receipt
    for e in events:
        if e.action == Action.TRANSFER_FAILED and e.exhibit is not None:
            failed.add((e.exhibit, e.details.get("transfer")))
        if e.action == Action.DISPATCHED and e.exhibit is not None:
            to = str(e.details.get("to", ""))
            dispatched.setdefault((e.exhibit, to), e)
            until = _parse_time(e.details.get("retention_until"))
            if until is not None:
                retained[(e.exhibit, to)] = until
        if e.action != Action.RECEIVED or e.exhibit is None:
            continue
        d = e.details
        stored = str(d.get("store", ""))
        if (e.exhibit, stored) in seen:
            continue  # received again by a later hand-off: the same stored copy
        seen.add((e.exhibit, stored))
        namespace, _, key = stored.partition("/")
        recorded = Digests(d.get("size", 0), str(d.get("blake3", "")), str(d.get("sha256", "")))
        until = retained.get((e.exhibit, stored))
        yield Copy(e.exhibit, e.team, namespace, key, recorded, d.get("transfer"), until)
    for (exhibit, stored), e in dispatched.items():
        if (exhibit, stored) in seen or (exhibit, e.details.get("transfer")) in failed:
            continue  # received: counted above; or refused at receipt: never the team's
        d = e.details
        namespace, _, key = stored.partition("/")
        recorded = Digests(d.get("size", 0), str(d.get("blake3", "")), str(d.get("sha256", "")))
        team = str(d.get("to_team", namespace))
        yield Copy(
            exhibit,
            team,
            namespace,
            key,
            recorded,
            d.get("transfer"),
            retained.get((exhibit, stored)),
        )


def _parse_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


Pace = Callable[[Iterable[bytes]], Iterable[bytes]]  # e.g. a bandwidth cap (``fixity``)


def reread(
    store: ObjectStore, case_id: str, copy: Copy, pace: Pace | None = None
) -> tuple[Digests | None, list[Finding]]:
    """The copy re-read through BLAKE3 and SHA-256 in one pass (its chunks
    through ``pace`` first): its digests, if it could be read, and a finding
    if it is gone or replaced (in the local store: a link or a folder in its
    place), unreadable, or other bytes than the ledger's."""
    name = copy.name()
    try:
        chunks: Iterable[bytes] = open_recorded(store, copy.namespace, copy.key, name, case_id)
        found = digest_chunks(pace(chunks) if pace else chunks)
    except ObjectMissing as exc:
        return None, [Finding("objects", copy.reference, str(exc), "missing")]
    except JitevError as exc:
        problem = f"{name} cannot be read: {exc}"
        return None, [Finding("objects", copy.reference, problem, "unreadable")]
    r = copy.recorded
    if found.matches(r.size, r.blake3, r.sha256):
        return found, []
    message = (
        f"{name} does not match its ledger hashes: object {copy.namespace}/{copy.key} in the "
        f"{store.description} has {_digests(found)}, the ledger records {_digests(r)}; its "
        "bytes were changed outside jitev: report it to the store's operator, who restores "
        "it from a backup"
    )
    return found, [Finding("objects", copy.reference, message, "checksum")]


def check_copy(store: ObjectStore, case_id: str, copy: Copy) -> list[Finding]:
    """``reread``'s findings alone."""
    return reread(store, case_id, copy)[1]


def _digests(d: Digests) -> str:
    return f"size {d.size}, BLAKE3 {d.blake3[:16]}…, SHA-256 {d.sha256[:16]}…"


def audit_case(
    catalog: Catalog,
    person: Person,
    case_id: str,
    store: ObjectStore | None = None,
    witnesses: Sequence[WitnessClient] = (),
) -> Report[CaseFacts]:
    policy.decide(person, Right.AUDIT, case=catalog.case(case_id)).require()
    return verify_case(catalog, case_id, store, witnesses)


def search_events(
    catalog: Catalog,
    person: Person,
    case_id: str,
    *,
    exhibit: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    text: str | None = None,
) -> list[CustodyEvent]:
    """A case's custody events (auditors and leads of the case), filtered;
    ``text`` matches anywhere in the event, case-insensitively."""
    policy.decide(person, Right.AUDIT, case=catalog.case(case_id)).require()
    needle = (text or "").casefold()
    return [
        e
        for e in catalog.events(case_id, exhibit=exhibit, action=action)
        if (actor is None or e.actor == actor)
        and (not needle or needle in json.dumps(e.as_dict(), ensure_ascii=False).casefold())
    ]


def event_page(
    catalog: Catalog,
    person: Person,
    case_id: str,
    cursor: Cursor | None,
    limit: int,
    *,
    exhibit: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    text: str | None = None,
) -> Page[CustodyEvent]:
    """A page of ``search_events`` in seq order: a keyset on seq in the
    catalog; with ``text`` (matched in Python, anywhere in the event), the
    events of the other filters are read through and the matches windowed."""
    check_key(cursor, int)
    if not text:
        policy.decide(person, Right.AUDIT, case=catalog.case(case_id)).require()
        return catalog.event_page(
            case_id, cursor, limit, exhibit=exhibit, action=action, actor=actor
        )
    found = search_events(
        catalog, person, case_id, exhibit=exhibit, action=action, actor=actor, text=text
    )
    return of_list(found, lambda e: (e.seq,), cursor, limit)
