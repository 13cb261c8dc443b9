"""Checking a case's log against its checkpoints and its witnesses: the part
of ``ledger verify`` that no single host can fool.

From the stored events alone (in sequence order) the Merkle root at every size
that matters is recomputed in one pass: each stored checkpoint's, and each
witness's latest cosigned checkpoint's. Then:

- each stored checkpoint names this case's origin, carries a valid signature of
  the log key the policy registers and the cosignatures it claims, and its
  root is the root of the events (else: the events were rewritten since, or
  the checkpoint was forged);
- each witness's latest checkpoint (asked over its protocol, or read from its
  own state) is validly signed and cosigned, and the stored events extend it
  (else: events were removed, the database was restored from an old backup,
  or history was rewritten: the witness remembers what the catalog forgot);
- the catalog's own Merkle tree agrees with the events (it is rebuilt from
  them if not; a mismatch is reported);
- the events a published (quorum) checkpoint does not yet cover are counted,
  with the witnesses whose cosignature is missing: a note, not a failure.

Where a root disagrees, the first event that differs is named when a
reference to compare with is at hand (the catalog's tree nodes), else the
range between the last checkpoint that holds and the first that does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evidence.findings import Finding
from evidence.models import CustodyEvent
from evidence.tlog import merkle, notes
from evidence.tlog.notes import Checkpoint, Note, NoteError
from evidence.tlog.policy import Policy

CHECK = "log"


def span(first: int, last: int) -> str:
    return f"event {first}" if first == last else f"events {first}-{last}"


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str  # the signed note with the cosignatures gathered


@dataclass(frozen=True, slots=True)
class LogState:
    """What the log check established."""

    checkpoints: int  # stored checkpoints checked
    covered: int  # events covered by the latest published (quorum) checkpoint
    uncovered: int  # events after it
    missing: tuple[str, ...]  # witnesses whose cosignature the latest checkpoint lacks
    witnessed: dict[str, int]  # witness -> the size of its latest cosigned checkpoint


def roots_at(
    events: Sequence[CustodyEvent], sizes: set[int]
) -> tuple[dict[int, bytes], list[Finding]]:
    frontier = merkle.Frontier()
    found: dict[int, bytes] = {0: merkle.EMPTY_ROOT} if 0 in sizes else {}
    findings: list[Finding] = []
    for event in events:
        try:
            leaf = bytes.fromhex(event.hash)
        except ValueError:
            leaf = b""
        if len(leaf) != 32:
            findings.append(
                Finding(CHECK, f"event {event.seq}", "its hash is not 32 bytes of hex", "edited")
            )
            leaf = bytes(32)
        frontier.append(leaf)
        if frontier.size in sizes:
            found[frontier.size] = frontier.root()
    return found, findings


def check_log(
    events: Sequence[CustodyEvent],
    origin: str,
    policy: Policy | None,
    stored: Sequence[StoredCheckpoint],
    witnessed: dict[str, str | None],
    tree_root: Callable[[int], bytes] | None = None,
) -> tuple[list[Finding], list[str], LogState]:
    """Findings (failures), notes (worth saying, not failures) and the facts."""
    findings: list[Finding] = []
    said: list[str] = []
    count = len(events)
    views = _views(witnessed, origin, policy, findings)
    sizes = {cp.size for cp in stored} | {v.size for v in views.values()} | {count}
    roots, bad = roots_at(events, sizes)
    findings += bad
    published = 0
    latest_missing: tuple[str, ...] = ()
    for cp in sorted(stored, key=lambda c: c.size):
        where = f"checkpoint {cp.size}"
        cosigners = _checkpoint(cp, origin, policy, roots, count, findings, where)
        if cosigners is None:
            continue
        if policy is not None and policy.satisfied(cosigners):
            published = max(published, cp.size)
        latest_missing = tuple(policy.missing(cosigners)) if policy else ()
    for name, view in views.items():
        where = f"witness {name}"
        if view.size > count:
            findings.append(
                Finding(
                    CHECK,
                    where,
                    (
                        f"cosigned a tree of {view.size} events; the log holds {count}: "
                        f"{span(count + 1, view.size)} were removed, or the database was restored from a backup"
                    ),
                    "missing",
                )
            )
        elif roots.get(view.size) != view.root:
            findings.append(
                Finding(
                    CHECK,
                    where,
                    (
                        f"cosigned events 1-{view.size} with another root than the stored events give: "
                        "history was rewritten (or the database restored and appended differently)"
                    ),
                    "rewritten",
                )
            )
    if tree_root is not None and count and tree_root(count) != roots[count]:
        findings.append(
            Finding(
                CHECK,
                "the catalog's Merkle tree",
                (
                    f"its root at size {count} is not the root of the events: the tree or the events "
                    "were changed outside jitev"
                ),
                "edited",
            )
        )
    if published < count:
        who = f"; missing the cosignature of {', '.join(latest_missing)}" if latest_missing else ""
        said.append(
            f"{count - published} event(s) are not yet covered by a cosigned checkpoint{who}"
        )
    state = LogState(
        len(stored),
        published,
        count - published,
        latest_missing,
        {n: v.size for n, v in views.items()},
    )
    return findings, said, state


def _checkpoint(
    cp: StoredCheckpoint,
    origin: str,
    policy: Policy | None,
    roots: dict[int, bytes],
    count: int,
    findings: list[Finding],
    where: str,
) -> list[str] | None:
    try:
        note = notes.parse(cp.note)
        parsed = Checkpoint.parse(note.text)
    except NoteError as exc:
        findings.append(Finding(CHECK, where, f"is not a signed checkpoint: {exc}", "malformed"))
        return None
    if (parsed.origin, parsed.size, parsed.root) != (origin, cp.size, cp.root):
        findings.append(Finding(CHECK, where, "its note does not say what its row says", "edited"))
        return None
    if cp.size > count:
        findings.append(
            Finding(
                CHECK,
                where,
                (
                    f"covers {cp.size} events; the log holds {count}: {span(count + 1, cp.size)} were removed"
                ),
                "missing",
            )
        )
    elif roots.get(cp.size) != cp.root:
        findings.append(
            Finding(
                CHECK,
                where,
                (
                    f"its root is not the root of events 1-{cp.size}: events were rewritten after it was signed"
                ),
                "rewritten",
            )
        )
    if policy is None:
        return []
    return _signers(note, policy, findings, where)


def _signers(note: Note, policy: Policy, findings: list[Finding], where: str) -> list[str] | None:
    try:
        logs = notes.verified(note, policy.logs)
        cosigned = notes.verified(note, policy.witnesses.values())
    except NoteError as exc:
        findings.append(Finding(CHECK, where, f"a signature does not verify: {exc}", "signature"))
        return None
    if not logs:
        findings.append(
            Finding(CHECK, where, "carries no valid signature of the log key", "signature")
        )
        return None
    names = {key: name for name, key in policy.witnesses.items()}
    return [names[key] for key, _ in cosigned]


@dataclass(frozen=True)
class _View:
    size: int
    root: bytes


def _views(
    witnessed: dict[str, str | None], origin: str, policy: Policy | None, findings: list[Finding]
) -> dict[str, _View]:
    views = {}
    for name, text in witnessed.items():
        if text is None:
            continue
        where = f"witness {name}"
        try:
            note = notes.parse(text)
            parsed = Checkpoint.parse(note.text)
            if policy is not None:
                key = policy.witnesses.get(name)
                if (
                    not notes.verified(note, policy.logs)
                    or key is None
                    or not notes.verified(note, [key])
                ):
                    raise NoteError("it is not signed by the log and cosigned by the witness")
        except NoteError as exc:
            findings.append(
                Finding(CHECK, where, f"its latest checkpoint cannot be used: {exc}", "malformed")
            )
            continue
        if parsed.origin != origin:
            continue
        views[name] = _View(parsed.size, parsed.root)
    return views
