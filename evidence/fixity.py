"""Fixity audits: every copy every team holds of a case's exhibits re-read
through BLAKE3 and SHA-256 (one pass) against the ledger, its protection
checked, and what crashed puts left behind cleared away.

What one audit of a case checks, for each copy it covers (``audit.held_copies``:
each exhibit's original and each receiving team's copy):

- the bytes: size, BLAKE3 and SHA-256 as the ledger records them
  (``audit.reread``: a copy gone, replaced or changed is a failure);
- the protection: a COMPLIANCE retention at least until the date the ledger
  recorded when the copy was stored (INGESTED, DISPATCHED), and in the local
  store that the file is still read-only (``ObjectInfo.writable``).

**Rolling coverage.** Each copy belongs to one of ``cycle_days`` slices, by
the BLAKE3 of its ``team/key`` (stable: a new copy never moves the others).
A run that is not ``all_copies`` checks the slice whose last check is the
oldest, as the case's earlier FIXITY_AUDITED events say (a slice never
checked first, then the lowest number; an audit of everything counts for
every slice). Run once a day, every copy is checked within ``cycle_days``
days; a missed day delays no slice for more than the days missed.

**Events.** One FIXITY_AUDITED event per case audited: the share checked,
the counts (copies, bytes, failures), the BLAKE3 of the checked list (the
sorted ``team/key`` lines, each ending in a newline), the sequence numbers of
its failures, and the crash leftovers it removed or left alone. Before it, a
FIXITY_FAILED event on the exhibit for each failing copy: the team, the
store key, what was expected and what was found. Both are in the exhibit's
continuity, which is how a failed copy is marked.

**Leftovers.** In the namespaces of the case's teams, each leftover
(``ports.Leftover``) older than ``grace`` is removed; younger ones may be a
put in progress and are only reported.

Nothing here sleeps or reads a clock of its own: the bandwidth cap
(``Throttle``) is given its clock and its sleep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from blake3 import blake3

from evidence import policy
from evidence.audit import Copy, held_copies, reread
from evidence.errors import JitevError, NotFound
from evidence.findings import Finding
from evidence.models import Action, Case, CustodyEvent, Digests, Person
from evidence.policy import Right
from evidence.ports import Catalog, EventDraft, Leftover, ObjectStore
from evidence.sizes import MiB


class Throttle:
    """At most ``mib_s`` MiB a second read over the whole audit (0: no cap),
    by sleeping ``sleep(seconds)`` when ahead of the pace ``monotonic()`` sets."""

    def __init__(
        self, mib_s: float, monotonic: Callable[[], float], sleep: Callable[[float], None]
    ) -> None:
        self.rate = mib_s * MiB
        self._monotonic = monotonic
        self._sleep = sleep
        self._start: float | None = None
        self.read = 0
        self.slept = 0.0

    def consumed(self, size: int) -> None:
        if self.rate <= 0:
            return
        if self._start is None:
            self._start = self._monotonic()
        self.read += size
        ahead = self._start + self.read / self.rate - self._monotonic()
        if ahead > 0:
            self.slept += ahead
            self._sleep(ahead)

    def pace(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            yield chunk
            self.consumed(len(chunk))


def copy_name(copy: Copy) -> str:
    """How the checked list names a copy: ``team/key``."""
    return f"{copy.namespace}/{copy.key}"


def slice_of(copy: Copy, slices: int) -> int:
    """The copy's slice of ``slices``, from the BLAKE3 of its ``team/key``."""
    digest = blake3(copy_name(copy).encode()).digest()
    return int.from_bytes(digest[:8], "big") % slices


def next_slice(events: Iterable[CustodyEvent], slices: int) -> int:
    """The slice of ``slices`` checked longest ago by the FIXITY_AUDITED events
    (never checked first, then the lowest number)."""
    last = [-1] * slices
    for e in events:
        if e.action != Action.FIXITY_AUDITED:
            continue
        share = e.details.get("share")
        if share == "all":
            last = [e.seq] * slices
        elif isinstance(share, dict) and share.get("of") == slices:
            s = share.get("slice")
            if isinstance(s, int) and 0 <= s < slices:
                last[s] = e.seq
    return min(range(slices), key=lambda s: (last[s], s))


def checked_digest(names: Iterable[str]) -> str:
    """BLAKE3 of the sorted checked list, a ``team/key`` a line."""
    h = blake3()
    for name in sorted(names):
        h.update(name.encode() + b"\n")
    return h.hexdigest()


def check_protection(store: ObjectStore, copy: Copy) -> list[Finding]:
    """The copy's retention and read-only mode (its bytes are ``reread``'s)."""
    name = copy.name()
    where = f"{name}, object {copy_name(copy)} in the {store.description},"
    try:
        info = store.stat(copy.namespace, copy.key)
    except JitevError:
        return []  # gone or unreadable: reread says so
    found = []
    recorded = copy.retention_until
    if recorded is not None and (info.retention_until is None or info.retention_until < recorded):
        now = info.retention_until.isoformat() if info.retention_until else "none"
        found.append(
            Finding(
                "retention",
                copy.reference,
                f"{where} is retained until {now}, but the ledger recorded a "
                f"COMPLIANCE retention until {recorded.isoformat()}: its protection was "
                "shortened outside jitev; report it to the store's operator",
                "retention",
            )
        )
    if info.writable:
        found.append(
            Finding(
                "retention",
                copy.reference,
                f"{where} is no longer read-only: its file mode was changed outside "
                "jitev; report it to the store's operator, who makes it read-only again",
                "writable",
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class Failure:
    copy: Copy
    findings: tuple[Finding, ...]
    found: Digests | None

    def details(self) -> dict[str, Any]:
        c = self.copy
        d: dict[str, Any] = {
            "team": c.team,
            "store": copy_name(c),
            "copy": c.name(),
            "problems": [{"kind": f.kind, "message": f.message} for f in self.findings],
            "expected": _digests(c.recorded) | _until(c.retention_until),
            "found": None if self.found is None else _digests(self.found),
        }
        if c.transfer:
            d["transfer"] = c.transfer
        return d


def _digests(d: Digests) -> dict[str, Any]:
    return {"size": d.size, "blake3": d.blake3, "sha256": d.sha256}


def _until(when: datetime | None) -> dict[str, Any]:
    return {"retention_until": when.isoformat()} if when else {}


@dataclass(frozen=True, slots=True)
class FixityAudit:
    """One case's audit: its FIXITY_AUDITED event and the FIXITY_FAILED ones."""

    case: str
    event: CustodyEvent
    failures: tuple[CustodyEvent, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "ok": self.ok,
            "event": self.event.as_dict(),
            "failures": [e.as_dict() for e in self.failures],
        }


def sweep(
    store: ObjectStore, namespaces: Iterable[str], now: datetime, grace: timedelta
) -> tuple[list[Leftover], list[Leftover]]:
    """Leftovers older than ``grace`` removed, younger ones kept: (removed, kept)."""
    removed, kept = [], []
    for namespace in namespaces:
        for leftover in store.leftovers(namespace):
            if leftover.modified <= now - grace:
                store.remove_leftover(leftover)
                removed.append(leftover)
            else:
                kept.append(leftover)
    return removed, kept


def audit_fixity(
    catalog: Catalog,
    store: ObjectStore,
    person: Person,
    case_id: str,
    *,
    now: datetime,
    cycle_days: int,
    all_copies: bool = False,
    grace: timedelta = timedelta(hours=24),
    throttle: Throttle | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FixityAudit:
    """Audit the case's share of copies (all of them with ``all_copies``),
    sweep its teams' leftovers, and record the events (module docstring).
    ``progress`` hears (copies read, copies) after each one."""
    case = auditable(catalog, person, case_id)
    events = list(catalog.events(case_id))
    copies = list(held_copies(events, catalog.exhibits(case_id)))
    slices = max(1, cycle_days)
    share: Any = "all"
    if not all_copies:
        chosen = next_slice(events, slices)
        share = {"slice": chosen, "of": slices}
        copies = [c for c in copies if slice_of(c, slices) == chosen]
    copies.sort(key=copy_name)
    removed, kept = sweep(store, [t.code for t in case.teams], now, grace)
    failures: list[Failure] = []
    read = 0
    pace = throttle.pace if throttle is not None else None
    for done, copy in enumerate(copies, 1):
        found, problems = reread(store, case_id, copy, pace)
        read += found.size if found is not None else 0
        problems += check_protection(store, copy)
        if problems:
            failures.append(Failure(copy, tuple(problems), found))
        if progress is not None:
            progress(done, len(copies))
    with catalog.transaction(case_id) as tx:
        failed = [
            tx.append(
                EventDraft(
                    Action.FIXITY_FAILED, person.name, person.team, f.copy.reference, f.details()
                )
            )
            for f in failures
        ]
        details = {
            "share": share,
            "copies": len(copies),
            "bytes": read,
            "failures": len(failures),
            "failed": [e.seq for e in failed],
            "checked": checked_digest(copy_name(c) for c in copies),
            "leftovers_removed": [lo.as_dict() for lo in removed],
            "leftovers_kept": [lo.as_dict() for lo in kept],
        }
        event = tx.append(
            EventDraft(Action.FIXITY_AUDITED, person.name, person.team, None, details)
        )
    return FixityAudit(case_id, event, tuple(failed))


def auditable(catalog: Catalog, person: Person, case_id: str) -> Case:
    """The case, if ``person`` may audit it (auditors and leads; ``Denied`` otherwise)."""
    case = catalog.case(case_id)
    policy.decide(person, Right.AUDIT, case=case).require()
    return case


def audits(catalog: Catalog, person: Person, case_id: str) -> list[CustodyEvent]:
    """The case's FIXITY_AUDITED events, oldest first (auditors and leads)."""
    auditable(catalog, person, case_id)
    return list(catalog.events(case_id, action=Action.FIXITY_AUDITED))


def audit_event(
    catalog: Catalog, person: Person, case_id: str, which: str
) -> tuple[CustodyEvent, list[CustodyEvent]]:
    """One FIXITY_AUDITED event by its sequence number or hash, and its failures."""
    for e in audits(catalog, person, case_id):
        if which in (str(e.seq), e.hash):
            failed = set(e.details.get("failed") or [])
            found = catalog.events(case_id, action=Action.FIXITY_FAILED)
            return e, [f for f in found if f.seq in failed]
    raise NotFound(
        f"case {case_id} has no fixity audit {which}: give the sequence number or hash of a "
        "FIXITY_AUDITED event (the list of audits shows them)"
    )
