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
  or history was rewritten: the witness remembers what the catalog forgot),
  and the catalog holds that checkpoint (the log stores each one before it
  asks a witness: else its checkpoints were deleted or an old backup restored);
- the catalog's own Merkle tree agrees with the events (it is rebuilt from
  them if not; a mismatch is reported);
- the events a published (quorum) checkpoint does not yet cover are counted,
  with the witnesses whose cosignature is missing: a note, not a failure.

Where a root disagrees, the first event that differs is named when a
reference to compare with is at hand (the catalog's tree nodes, when they are
still the tree the contradicted checkpoint signed), else the range between the
last stored checkpoint that holds (and shares a cosigner with it, so that it
belongs to the same history) and the first that does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evidence.errors import LedgerError
from evidence.findings import Finding
from evidence.models import CustodyEvent
from evidence.tlog import merkle, notes
from evidence.tlog.notes import Checkpoint, Note, NoteError
from evidence.tlog.policy import Policy

CHECK = "log"


def span(first: int, last: int) -> str:
    return f"event {first}" if first == last else f"events {first}-{last}"


def removed(first: int, last: int) -> str:
    return f"{span(first, last)} {'was' if first == last else 'were'} removed"


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


TreeNodes = Callable[[set[tuple[int, int]]], dict[tuple[int, int], bytes]]


@dataclass(frozen=True, slots=True)
class _Signed:
    """A checkpoint someone signed: a stored one, or a witness's latest."""

    where: str
    size: int
    root: bytes
    cosigners: frozenset[str]


def check_log(
    events: Sequence[CustodyEvent],
    origin: str,
    policy: Policy | None,
    stored: Sequence[StoredCheckpoint],
    witnessed: dict[str, str | None],
    tree: TreeNodes | None = None,
) -> tuple[list[Finding], list[str], LogState]:
    """Findings (failures), notes (worth saying, not failures) and the facts.
    ``tree`` reads the catalog's own Merkle tree nodes ``(level, index)``."""
    findings: list[Finding] = []
    said: list[str] = []
    count = len(events)
    views = _views(witnessed, origin, policy, findings)
    sizes = {cp.size for cp in stored} | {v.size for v in views.values()} | {count}
    roots, bad = roots_at(events, sizes)
    findings += bad
    before = len(findings)  # where the first rewritten event is named, once known
    published = 0
    latest_missing: tuple[str, ...] = ()
    holding: list[_Signed] = []  # stored checkpoints whose root is the events'
    contradicted: list[_Signed] = []  # checkpoints whose root is not
    for cp in sorted(stored, key=lambda c: c.size):
        where = f"checkpoint {cp.size}"
        cosigners = check_checkpoint(cp, origin, policy, roots, count, findings, where)
        if cosigners is None:
            continue
        if cp.size <= count:
            signed = _Signed(where, cp.size, cp.root, frozenset(cosigners))
            (holding if roots.get(cp.size) == cp.root else contradicted).append(signed)
        if policy is not None and policy.satisfied(cosigners):
            published = max(published, cp.size)
        latest_missing = tuple(policy.missing(cosigners)) if policy else ()
    stored_sizes = {cp.size for cp in stored}
    for name, view in views.items():
        finding = _witness_finding(f"witness {name}", view, count, roots, stored_sizes)
        if finding is not None:
            findings.append(finding)
        if finding is not None and finding.kind == "rewritten":
            contradicted.append(_Signed(finding.where, view.size, view.root, frozenset([name])))
    first = _first_rewritten(events, contradicted, holding, tree)
    if first is not None:
        findings.insert(before, first)
    if tree is not None and count and _tree_root_or_none(tree, count) not in (None, roots[count]):
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


def _witness_finding(
    where: str, view: _View, count: int, roots: dict[int, bytes], stored_sizes: set[int]
) -> Finding | None:
    """What a witness's latest checkpoint says about the stored events."""
    if view.size > count:
        return Finding(
            CHECK,
            where,
            (
                f"cosigned a tree of {view.size} events; the log holds {count}: "
                f"{removed(count + 1, view.size)}, or the database was restored from a backup"
            ),
            "missing",
        )
    if roots.get(view.size) != view.root:
        return Finding(
            CHECK,
            where,
            (
                f"cosigned events 1-{view.size} with another root than the stored events give: "
                "history was rewritten (or the database restored and appended differently)"
            ),
            "rewritten",
        )
    if view.size and view.size not in stored_sizes:
        # The log stores each checkpoint before it asks a witness to cosign it.
        return Finding(
            CHECK,
            where,
            (
                f"cosigned a checkpoint of {view.size} events that the catalog does not hold: "
                "its checkpoints were deleted, or the database was restored from a backup"
            ),
            "missing",
        )
    return None


def _first_rewritten(
    events: Sequence[CustodyEvent],
    contradicted: list[_Signed],
    holding: list[_Signed],
    tree: TreeNodes | None,
) -> Finding | None:
    """The first event that is not what the smallest contradicted checkpoint
    signed: exactly, when the catalog's tree still holds the leaves that
    checkpoint signed; else the range after the last stored checkpoint that
    holds and shares a cosigner with it (a witness cosigns only extensions of
    what it cosigned before, so that checkpoint is a prefix of the same
    history)."""
    if not contradicted:
        return None
    first = min(contradicted, key=lambda s: s.size)
    names = [s.where for s in contradicted if s.where.startswith("checkpoint")][:1]
    teams = [w for s in contradicted if s.where.startswith("witness") for w in s.cosigners]
    if teams:
        names.append(f"witness{'es' if len(teams) > 1 else ''} {', '.join(teams)}")
    who = " and ".join(names)
    exact = _first_leaf(events, first, tree) if tree is not None else None
    if exact is not None:
        return Finding(
            CHECK,
            f"event {exact}",
            (
                f"is not the event that {who} signed: the events were rewritten from it on "
                "(the catalog's Merkle tree still holds the one signed)"
            ),
            "rewritten",
        )
    good = max(
        (h.size for h in holding if h.size < first.size and h.cosigners & first.cosigners),
        default=0,
    )
    return Finding(
        CHECK,
        span(good + 1, first.size),
        (
            f"{'one of them' if good + 1 < first.size else 'it'} is not what {who} signed: "
            "history was rewritten"
        ),
        "rewritten",
    )


def _tree_root_or_none(tree: TreeNodes, size: int) -> bytes | None:
    """The catalog's root, or ``None`` when its tree cannot be read (an event
    without a 32-byte hash: ``roots_at`` names it)."""

    def compute(nodes: merkle.Nodes) -> bytes:
        return merkle.root(nodes, size)

    try:
        found = tree(merkle.needed(compute))
    except LedgerError:
        return None
    return compute(lambda level, index: found[(level, index)])


def _first_leaf(events: Sequence[CustodyEvent], signed: _Signed, tree: TreeNodes) -> int | None:
    """The seq of the first event whose leaf differs from the catalog's tree,
    if that tree is the one ``signed`` signed."""
    try:
        if _tree_root_or_none(tree, signed.size) != signed.root:
            return None
        leaves = tree({(0, i) for i in range(signed.size)})
    except LedgerError:
        return None
    for i, event in enumerate(events[: signed.size]):
        try:
            leaf = merkle.leaf_hash(bytes.fromhex(event.hash))
        except ValueError:
            return event.seq
        if leaves[(0, i)] != leaf:
            return event.seq
    return None


def check_checkpoint(
    cp: StoredCheckpoint,
    origin: str,
    policy: Policy | None,
    roots: dict[int, bytes],
    count: int,
    findings: list[Finding],
    where: str,
) -> list[str] | None:
    """A stored checkpoint against the ``roots`` of the ``count`` events at
    its size: its findings appended to ``findings``; the witnesses that
    validly cosigned it, or ``None`` when it is not a valid checkpoint of
    ``origin`` signed by the log (``policy``)."""
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
                (f"covers {cp.size} events; the log holds {count}: {removed(count + 1, cp.size)}"),
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
