"""Checks 10-12: the case log's cosigned checkpoint, the inclusion proof of
every disclosed event under it, and the seal over the bundle's meaningful
files; and ``against``: a later bundle's log extends an earlier one's."""

from __future__ import annotations

from evidence.bundle import layout
from evidence.bundle.bagcheck import say
from evidence.bundle.verify.context import Context, NotChecked
from evidence.bundle.verify.parts import CHECKPOINT, INFO, LEDGER, POLICY, LogParts
from evidence.models import Action, CustodyEvent
from evidence.tlog import merkle, notes, proofs
from evidence.tlog.notes import NoteError, VerifierKey

CONSISTENCY = f"data/{layout.CONSISTENCY}"


def _recorded_policy(ctx: Context, events: list[CustodyEvent]) -> tuple[CustodyEvent, str, str]:
    """The extract's last LOG_POLICY_SET event, its origin and policy text."""
    for e in reversed(events):
        if e.action == Action.LOG_POLICY_SET:
            origin, text = e.details.get("origin"), e.details.get("policy")
            if isinstance(origin, str) and isinstance(text, str):
                return e, origin, text
            ctx.found(
                f"{LEDGER} event {e.seq} ({e.action})", "has no origin and policy", "malformed"
            )
            raise NotChecked("the extract's log policy event cannot be read")
    ctx.found(LEDGER, "holds no LOG_POLICY_SET event: the log's keys are not known", "missing")
    raise NotChecked("the extract records no log policy")


def check_log(ctx: Context) -> str:
    """The checkpoint is of this case's log, signed by the log key, cosigned by
    the quorum of witnesses the policy names; the policy is the one the
    extract's LOG_POLICY_SET event records; it covers every disclosed event."""
    parts = ctx.report(ctx.log)
    events = ctx.need(ctx.events)
    event, origin, text = _recorded_policy(ctx, events)
    if parts.policy_text != text:
        message = f"is not the policy that {LEDGER} event {event.seq} ({event.action}) records"
        ctx.found(POLICY, message, "mismatch")
    checkpoint = parts.checkpoint
    if checkpoint.origin != origin:
        message = f"is of the log {checkpoint.origin!r}, the ledger's policy names {origin!r}"
        ctx.found(CHECKPOINT, message, "mismatch")
    if events and checkpoint.size < events[-1].seq:
        message = f"covers {checkpoint.size} events; the extract goes to event {events[-1].seq}"
        ctx.found(CHECKPOINT, message, "mismatch")
    logs = [k for k in parts.policy.logs if k.name == checkpoint.origin]
    if not _signed(ctx, parts, logs, "the log's signature"):
        ctx.found(CHECKPOINT, f"carries no valid signature of the log key of {origin}", "signature")
    cosigned = [
        name
        for name, key in parts.policy.witnesses.items()
        if _signed(ctx, parts, [key], f"witness {name}'s cosignature")
    ]
    if not parts.policy.satisfied(cosigned):
        missing = ", ".join(parts.policy.missing(cosigned)) or "?"
        message = (
            f"the policy's quorum ({parts.policy.quorum}) is not met: no valid cosignature of "
            f"witness {missing}"
        )
        ctx.found(CHECKPOINT, message, "quorum")
    return (
        f"checkpoint of {checkpoint.size} events of {checkpoint.origin}, cosigned by "
        f"{', '.join(cosigned) or 'no witness'}"
    )


def _signed(ctx: Context, parts: LogParts, keys: list[VerifierKey], what: str) -> bool:
    try:
        return bool(notes.verified(parts.note, keys))
    except NoteError as exc:
        ctx.found(CHECKPOINT, f"{what} does not verify: {exc}", "signature")
        return False


def check_proofs(ctx: Context) -> str:
    """Each disclosed event has its inclusion proof (index ``seq - 1``) under
    the very checkpoint the bag carries, and no proof is of another event;
    each consistency proof from an earlier bundle's checkpoint is well formed."""
    events = ctx.need(ctx.events)
    parts = ctx.need(ctx.log)
    seqs = {e.seq for e in events}
    proven = 0
    for e in events:
        where = f"data/{layout.proof_name(e.seq)}"
        if layout.proof_name(e.seq) not in ctx.names:
            ctx.found(where, f"missing: event {e.seq} is not proven in the log", "missing")
            continue
        proven += _proof(ctx, e, where, parts)
    for name in sorted(ctx.names):
        if name.startswith(f"{layout.PROOFS}/") and _seq(name) not in seqs:
            ctx.found(f"data/{name}", "proves no event of the extract", "extra")
        elif name.startswith(f"{layout.CONSISTENCY}/"):
            _consistency_file(ctx, name, parts.checkpoint.size)
    return f"{proven} of {len(events)} events proven in the checkpoint's tree"


def _seq(name: str) -> int | None:
    stem = name.rsplit("/", 1)[-1].removesuffix(".tlog-proof")
    return int(stem) if stem.isdigit() else None


def _proof(ctx: Context, event: CustodyEvent, where: str, parts: LogParts) -> bool:
    try:
        parsed = proofs.parse_tlog_proof(ctx.text(layout.proof_name(event.seq)))
    except NoteError as exc:
        ctx.found(where, f"not a tlog-proof: {exc}", "malformed")
        return False
    except NotChecked:
        return False
    if parsed.note.encode() != parts.text:
        ctx.found(where, f"its checkpoint is not the one in {CHECKPOINT}", "mismatch")
        return False
    if parsed.index != event.seq - 1:
        ctx.found(where, f"proves index {parsed.index}, not {event.seq - 1}", "mismatch")
        return False
    try:
        leaf = bytes.fromhex(event.hash)
        proofs.verify_inclusion_of(parsed, leaf)
    except (ValueError, merkle.ProofError) as exc:
        message = f"event {event.seq}'s hash is not in the checkpoint's tree: {say(exc)}"
        ctx.found(where, message, "proof")
        return False
    return True


def _consistency_file(ctx: Context, name: str, size: int) -> tuple[int, list[bytes]] | None:
    where = f"data/{name}"
    try:
        old, new, proof = proofs.parse_consistency_file(ctx.text(name))
    except NoteError as exc:
        ctx.found(where, f"not a consistency proof: {exc}", "malformed")
        return None
    except NotChecked:
        return None
    if new != size or not 0 < old <= size or name != layout.consistency_name(old):
        message = f"is from {old} to {new} events; this bag's checkpoint has {size}"
        ctx.found(where, message, "mismatch")
        return None
    return old, proof


def check_seal(ctx: Context) -> str:
    """The BUNDLE_SEALED event (the extract's last) records this bundle's root
    digest, the digest of the extract's events before it, and the seal
    recomputed over every payload file outside ledger/."""
    events = ctx.need(ctx.events)
    seal = events[-1] if events and events[-1].action == Action.BUNDLE_SEALED else None
    if seal is None:
        raise NotChecked(f"{LEDGER} has no BUNDLE_SEALED event")
    where = f"{LEDGER} event {seal.seq} ({seal.action})"
    recomputed = layout.seal_digest((f.path, f.sha256) for f in ctx.bag.facts.files)
    d = seal.details
    if d.get("bundle") != ctx.known.bundle_id:
        ctx.found(where, f"seals bundle {d.get('bundle')!r}, not {ctx.known.bundle_id}", "mismatch")
    if d.get("root_digest") != ctx.known.root_digest:
        message = f"records the root digest {d.get('root_digest')}, not Bundle-Root-Digest's"
        ctx.found(where, message, "mismatch")
    try:
        extract = layout.extract_digest(events[:-1])
    except ValueError:
        extract = "(an event's hash is not hex)"
    if d.get("extract") != extract or d.get("events") != len(events) - 1:
        message = (
            f"seals an extract of {d.get('events')} events with digest {d.get('extract')}; "
            f"{LEDGER} holds {len(events) - 1} before it, digesting to {extract}: events were "
            "removed from, added to or changed in the extract after the seal"
        )
        ctx.found(where, message, "seal")
    if d.get("seal") != recomputed:
        message = (
            f"seals {d.get('seal')}; the files outside data/ledger/ digest to {recomputed}: "
            "a sealed file was edited, added or removed after the seal was cosigned"
        )
        ctx.found(where, message, "seal")
    if ctx.known.seal is not None and ctx.known.seal != (seal.seq, d.get("seal")):
        message = f"Bundle-Seal is {ctx.known.seal[0]} {ctx.known.seal[1]}, not the seal event's"
        ctx.found(INFO, message, "mismatch")
    return f"sealed at event {seal.seq}: {recomputed}"


def check_against(ctx: Context, earlier: Context) -> str:
    """This bundle's log extends the ``earlier`` bundle's: same log, and the
    consistency proof this bag carries from its checkpoint holds."""
    old = earlier.log.value
    new = ctx.need(ctx.log)
    if old is None:
        ctx.found(f"the earlier bundle's {CHECKPOINT}", "cannot be read", "missing")
        return ""
    a, b = old.checkpoint, new.checkpoint
    if a.origin != b.origin:
        ctx.found(
            CHECKPOINT, f"is of the log {b.origin}; the earlier bundle's of {a.origin}", "log"
        )
        return ""
    if not notes.verified(old.note, [k for k in new.policy.logs if k.name == a.origin]):
        ctx.found(f"the earlier bundle's {CHECKPOINT}", "is not signed by this log's key", "log")
        return ""
    if a.size > b.size:
        message = (
            f"covers {b.size} events; the earlier bundle's covered {a.size}: the log shrank "
            "(events removed) or the bundles are given the wrong way round"
        )
        ctx.found(CHECKPOINT, message, "log")
        return ""
    proof: list[bytes] = []
    if a.size < b.size:
        name = layout.consistency_name(a.size)
        if name not in ctx.names:
            message = f"missing: no proof that the log grew from the earlier bundle's {a.size}"
            ctx.found(f"data/{name}", message, "missing")
            return ""
        found = _consistency_file(ctx, name, b.size)
        if found is None:
            return ""
        proof = found[1]
    try:
        merkle.verify_consistency(a.size, b.size, proof, a.root, b.root)
    except merkle.ProofError as exc:
        message = (
            f"the log of {b.size} events does not extend the earlier bundle's {a.size}: "
            f"history was rewritten between the two bundles ({say(exc)})"
        )
        ctx.found(CONSISTENCY, message, "log")
        return ""
    return f"the log grew from {a.size} to {b.size} events, and only grew"
