"""Auditing a case: its custody chain recomputed, every catalog row checked
against the ledger (the ledger is the authority), every stored object re-read
if asked; and searching its custody events. Auditors of the case's teams and
the JIT lead do it (``policy``: the ``audit`` right)."""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from dataclasses import dataclass

from evidence import mirror, policy
from evidence.errors import JitevError, LedgerError
from evidence.findings import Finding, Report
from evidence.hashing import read_back
from evidence.ledger import UNPARSEABLE, verify
from evidence.models import CustodyEvent, Exhibit, Person
from evidence.policy import Right
from evidence.ports import Catalog, ObjectStore, WitnessClient
from evidence.setup import log_policy
from evidence.tlog.check import LogState, check_log
from evidence.tlog.policy import Policy as LogPolicy


@dataclass(frozen=True, slots=True)
class CaseFacts:
    """What a case's verification established: the chain (as
    ``ledger.ChainFacts``) and how many exhibit rows were checked."""

    case: str
    events: int
    head_seq: int
    head_hash: str
    first_bad: int | None
    exhibits: int
    covered: int  # events covered by the latest cosigned (quorum) checkpoint
    uncovered: int  # events after it: not yet witnessed


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
    - ``objects``, with ``store``: every stored object re-read and re-hashed.
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
    if store is not None:
        findings += _objects(store, exhibits)
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
    )
    if not findings:
        summary = (
            f"ledger intact: {c.events} custody events, {len(exhibits)} exhibits; "
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


def _objects(store: ObjectStore, exhibits: list[Exhibit]) -> list[Finding]:
    findings = []
    for ex in exhibits:
        try:
            found = read_back(store, ex.team, ex.storage_key)
        except JitevError as exc:
            findings.append(
                Finding(
                    "objects", ex.reference, f"stored object cannot be read: {exc}", "unreadable"
                )
            )
            continue
        if not found.matches(ex.size, ex.blake3, ex.sha256):
            findings.append(
                Finding(
                    "objects",
                    ex.reference,
                    f"stored object {ex.storage_key} does not match its hashes",
                    "checksum",
                )
            )
    return findings


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
