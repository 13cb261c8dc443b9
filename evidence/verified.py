"""Chains verified incrementally: a look at a case's ledger (or the access
log) checks only the events appended since the head the server verified
last, and a full verification recomputes everything.

**What a look trusts.** The server's own record of the head it verified
(``ports.VerifiedHead``: seq, hash, the Merkle right edge of those events,
the latest checkpoint they matched), kept by ``ports.VerifiedHeads`` beside
the server's keys, never in the catalog: a database host who rewrites events
cannot also move the verified point past them. A look then

1. reads the event at the verified seq: it must still be stored, hash to its
   stored hash, and that hash must be the verified one (a chain rewritten
   and re-linked through it ends in another hash: each event's hash covers
   the hash before it);
2. recomputes the events after it, their links continuing from its hash
   (``ledger.verify(after=...)``), their details canonical;
3. extends the recorded Merkle edge with their hashes and checks every
   checkpoint stored from the verified size on: signed by the log key the
   case's policy registers (its LOG_POLICY_SET event, read from the catalog:
   an event the verified head's hash covers), its root the root of the
   events (``tlog.check.check_checkpoint``);
4. when all holds, records the new head; when not, keeps the old one, so the
   next look finds the problem again.

**What a look does not see**: an event at or before the verified point
edited in place with its stored hash kept (its hash no longer matches its
fields), a row deleted or reordered before it, a catalog row (exhibits,
transfers, bundles) that no longer mirrors the events, what the witnesses
hold, and a checkpoint stored late for a size below the verified head. That
is the full verification's (``full``: the whole chain recomputed
from the first event, and for a case ``audit.verify_case`` too); a failed one
forgets the verified head, so every look after it starts from the first
event again and keeps showing the break.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from evidence import policy
from evidence.access import ACCESS_LOG
from evidence.errors import LedgerError
from evidence.findings import Finding, Report
from evidence.ledger import UNPARSEABLE, event_hash, verify
from evidence.models import CustodyEvent, Person
from evidence.paging import Cursor, Page, check_key
from evidence.policy import Right
from evidence.ports import Catalog, VerifiedHead, VerifiedHeads
from evidence.setup import log_policy
from evidence.tlog.check import StoredCheckpoint, check_checkpoint
from evidence.tlog.merkle import Frontier
from evidence.tlog.policy import Policy


@dataclass(frozen=True, slots=True)
class LookFacts:
    """What a look established: the chain intact through ``head_seq``;
    ``checked``, the events it recomputed (those after ``since``, the head
    verified before it; 0: the first event); ``checkpoint``, the size of the
    latest signed checkpoint the verified events match (0: none), and
    whether its cosigners make the policy's quorum."""

    case: str
    events: int
    head_seq: int
    head_hash: str
    first_bad: int | None
    checked: int
    since: int
    checkpoint: int
    cosigned: bool
    verified_at: datetime | None
    full_at: datetime | None


def look_case(
    catalog: Catalog, heads: VerifiedHeads, person: Person, case_id: str, now: datetime
) -> Report[LookFacts]:
    """A case's chain and checkpoints verified from the server's last verified head."""
    policy.decide(person, Right.AUDIT, case=catalog.case(case_id)).require()
    return _look_case(catalog, heads, case_id, now, None)


def full_case(
    catalog: Catalog, heads: VerifiedHeads, case_id: str, now: datetime, passed: bool
) -> Report[LookFacts]:
    """After a full verification of the case (``audit.verify_case``, which
    ``passed`` or not): the verified head forgotten, then the chain and every
    checkpoint verified from the first event, recorded as a full pass if it
    ``passed``. The caller asked ``policy`` for the audit."""
    heads.drop(case_id)
    return _look_case(catalog, heads, case_id, now, now if passed else None)


def look_access(
    catalog: Catalog, heads: VerifiedHeads, person: Person, now: datetime, *, full: bool = False
) -> Report[LookFacts]:
    """The access log's chain verified from the server's last verified head;
    with ``full``, from its first event."""
    policy.decide(person, Right.READ_ACCESS_LOG).require()
    if full:
        heads.drop(ACCESS_LOG)
    head = heads.get(ACCESS_LOG)
    events = catalog.access_events(after=head.seq - 1 if head else 0)
    return _look(heads, ACCESS_LOG, head, events, now, now if full else None, None)


def access_log(
    catalog: Catalog,
    heads: VerifiedHeads,
    person: Person,
    cursor: Cursor | None,
    limit: int,
    now: datetime,
    *,
    action: str | None = None,
    actor: str | None = None,
    full: bool = False,
) -> tuple[Report[LookFacts], Page[CustodyEvent]]:
    """The access log's chain verified (``look_access``) and a page of its
    events, filtered, in seq order (auditors, admins)."""
    check = look_access(catalog, heads, person, now, full=full)
    check_key(cursor, int)
    return check, catalog.access_page(cursor, limit, action=action, actor=actor)


@dataclass
class _Log:
    """What step 3 needs: the policy, the checkpoints to check, their roots."""

    origin: str
    trust: Policy | None
    stored: list[StoredCheckpoint]
    roots: dict[int, bytes]


def _look_case(
    catalog: Catalog, heads: VerifiedHeads, case_id: str, now: datetime, full_at: datetime | None
) -> Report[LookFacts]:
    head = heads.get(case_id)
    log = None
    recorded = log_policy(catalog, case_id)
    if recorded is not None:
        origin, text = recorded
        try:
            trust: Policy | None = Policy.parse(text)
        except LedgerError:
            trust = None  # the full verification names it; no checkpoint verifies without it
        since = head.seq - 1 if head else 0  # the verified size itself too: its cosigners now
        log = _Log(origin, trust, catalog.checkpoints(case_id, after=since), {})
    events = catalog.events(case_id, after=head.seq - 1 if head else 0)
    return _look(heads, case_id, head, events, now, full_at, log)


def _look(
    heads: VerifiedHeads,
    chain: str,
    head: VerifiedHead | None,
    stored: Iterable[CustodyEvent],
    now: datetime,
    full_at: datetime | None,
    log: _Log | None,
) -> Report[LookFacts]:
    rows = iter(stored)
    findings: list[Finding] = []
    if head is not None:
        first = next(rows, None)
        if (
            first is None
            or first.seq != head.seq
            or not (first.hash == head.hash == event_hash(first))
        ):
            message = (
                f"is not the event verified at {head.verified_at:%Y-%m-%d %H:%M} UTC: the chain "
                "was changed at or before it; run the full verification"
            )
            return _broken(chain, head, Finding("chain", f"event {head.seq}", message, "rewritten"))
    frontier = (
        Frontier(head.seq, [(level, bytes.fromhex(h)) for level, h in head.frontier])
        if head
        else Frontier()
    )
    sizes = {cp.size for cp in log.stored} if log else set()
    if log and head and head.seq in sizes:
        log.roots[head.seq] = frontier.root()
    unparseable: list[int] = []

    def tapped() -> Iterator[CustodyEvent]:
        for event in rows:
            try:
                leaf = bytes.fromhex(event.hash)
            except ValueError:
                leaf = bytes(32)  # the chain check names it
            frontier.append(leaf if len(leaf) == 32 else bytes(32))
            if log is not None and frontier.size in sizes:
                log.roots[frontier.size] = frontier.root()
            if UNPARSEABLE in event.details:
                unparseable.append(event.seq)
            yield event

    checked = verify(chain, tapped(), after=(head.seq, head.hash) if head else None)
    findings += checked.findings
    findings += [
        Finding(
            "chain", f"event {seq}", "its stored details are not their canonical bytes", "edited"
        )
        for seq in unparseable
    ]
    c = checked.facts
    checkpoint, cosigned = head.checkpoint if head else 0, False
    if log is not None and not findings:
        checkpoint, cosigned = _checkpoints(log, c.head_seq, checkpoint, findings)
    if findings:
        return _broken(chain, head, *findings, checked=c.events, first_bad=c.first_bad)
    verified = VerifiedHead(
        chain,
        c.head_seq,
        c.head_hash,
        tuple((level, h.hex()) for level, h in frontier.edge),
        checkpoint,
        now,
        full_at or (head.full_at if head else None),
    )
    if verified.seq:  # an empty access log: nothing to keep
        heads.put(verified)
    since = head.seq if head else 0
    facts = LookFacts(
        chain,
        c.head_seq,
        c.head_seq,
        c.head_hash,
        None,
        c.events,
        since,
        checkpoint,
        cosigned,
        now,
        verified.full_at,
    )
    kind = "fully verified" if full_at else "verified"
    shown = f"; checkpoint {checkpoint}{' (cosigned)' if cosigned else ''}" if checkpoint else ""
    summary = (
        f"chain {kind}: {c.head_seq} events, {c.events} checked now (after #{since}); "
        f"head #{c.head_seq} {c.head_hash}{shown}"
    )
    return Report(_subject(chain), facts, summary=summary)


def _checkpoints(log: _Log, count: int, latest: int, findings: list[Finding]) -> tuple[int, bool]:
    """Step 3: the latest checkpoint that verifies, and whether it is cosigned."""
    cosigned = False
    for cp in log.stored:
        before = len(findings)
        signers = check_checkpoint(
            cp, log.origin, log.trust, log.roots, count, findings, f"checkpoint {cp.size}"
        )
        if log.trust is None:
            findings.append(
                Finding(
                    "log",
                    f"checkpoint {cp.size}",
                    "the case's log policy cannot be read",
                    "malformed",
                )
            )
        if signers is not None and len(findings) == before and cp.size >= latest:
            latest = cp.size
            cosigned = log.trust is not None and log.trust.satisfied(signers)
    return latest, cosigned


def _subject(chain: str) -> str:
    return "the access log" if chain == ACCESS_LOG else f"case {chain}"


def _broken(
    chain: str,
    head: VerifiedHead | None,
    *findings: Finding,
    checked: int = 0,
    first_bad: int | None = None,
) -> Report[LookFacts]:
    """A look that found a problem: the verified head stays where it was."""
    since = head.seq if head else 0
    facts = LookFacts(
        chain,
        since,
        since,
        head.hash if head else "",
        first_bad if first_bad is not None else since,
        checked,
        since,
        head.checkpoint if head else 0,
        False,
        head.verified_at if head else None,
        head.full_at if head else None,
    )
    summary = f"{findings[0].text()}; verified before: through #{since}"
    return Report(_subject(chain), facts, tuple(findings), summary=summary)
