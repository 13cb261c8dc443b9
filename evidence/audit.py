"""Auditing a case: its custody chain recomputed, every catalog row checked
against the ledger (the ledger is the authority), every stored object re-read
if asked; and searching its custody events. Auditors of the case's teams and
the JIT lead do it (``policy``: the ``audit`` right)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from evidence import policy
from evidence.errors import JitevError
from evidence.findings import Finding, Report
from evidence.hashing import read_back
from evidence.ledger import verify
from evidence.models import Action, CustodyEvent, Person
from evidence.policy import Right
from evidence.ports import Catalog, ObjectStore


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


def verify_case(
    catalog: Catalog, case_id: str, store: ObjectStore | None = None
) -> Report[CaseFacts]:
    """Recompute the chain; check every exhibit row against its INGESTED event
    (check ``exhibits``); with ``store``, re-read and re-hash every stored
    object too (check ``objects``)."""
    catalog.case(case_id)
    events = list(catalog.events(case_id))
    chain = verify(case_id, events)
    ingested = {e.exhibit: e.details for e in events if e.action == Action.INGESTED}
    findings = list(chain.findings)
    exhibits = catalog.exhibits(case_id)
    for ex in exhibits:
        recorded = ingested.get(ex.reference)
        if recorded is None:
            findings.append(
                Finding("exhibits", ex.reference, "no INGESTED custody event", "missing")
            )
            continue
        for name, value in (
            ("size", ex.size),
            ("blake3", ex.blake3),
            ("sha256", ex.sha256),
            ("store", f"{ex.team}/{ex.storage_key}"),
        ):
            if recorded.get(name) != value:
                findings.append(
                    Finding(
                        "exhibits",
                        ex.reference,
                        f"catalog {name} {value} differs from the ledger's {recorded.get(name)}",
                        "edited",
                    )
                )
        if store is not None:
            try:
                found = read_back(store, ex.team, ex.storage_key)
            except JitevError as exc:
                findings.append(
                    Finding(
                        "objects",
                        ex.reference,
                        f"stored object cannot be read: {exc}",
                        "unreadable",
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
    c = chain.facts
    facts = CaseFacts(case_id, c.events, c.head_seq, c.head_hash, c.first_bad, len(exhibits))
    if not findings:
        summary = (
            f"ledger intact: {c.events} custody events, {len(exhibits)} exhibits; "
            f"head #{c.head_seq} {c.head_hash}"
        )
    elif chain.ok:
        summary = f"the chain is intact (head #{c.head_seq} {c.head_hash}); the catalog or store disagrees"
    else:
        summary = chain.summary
    return Report(f"case {case_id}", facts, tuple(findings), summary=summary)


def audit_case(
    catalog: Catalog, person: Person, case_id: str, store: ObjectStore | None = None
) -> Report[CaseFacts]:
    policy.decide(person, Right.AUDIT, case=catalog.case(case_id)).require()
    return verify_case(catalog, case_id, store)


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
