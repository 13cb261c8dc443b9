"""Publishing a case's log: a checkpoint of its tree signed with the
deployment's log key, cosigned by the member teams' witnesses.

``publish`` signs a checkpoint of the tree as it stands (origin, size, root)
and stores it before it asks any witness, so that a crash at any point leaves
only checkpoints of the one append-only tree: signing the same size twice
gives the same note (Ed25519 is deterministic), and no two signed checkpoints
can be inconsistent unless the events themselves were rewritten. Each
witness gets a consistency proof from the size the log last knows it
cosigned; a witness that answers 409 (it cosigned another size, say because a
crash lost its answer) is asked again from the size it names. A witness that
is down or refuses does not stop the work: the publication says who is
missing and why, and the next one covers the events in between with one
consistency proof. The checkpoint is **published** once the policy's quorum
has cosigned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evidence.errors import LedgerError, WitnessUnavailable
from evidence.ports import LogCatalog, NoteSigner, WitnessClient
from evidence.tlog import notes, proofs
from evidence.tlog.notes import Checkpoint, Note, NoteError, VerifierKey
from evidence.tlog.policy import Policy
from evidence.tlog.witness import Refused, request_body


@dataclass(frozen=True)
class Publication:
    case: str
    size: int
    root: bytes
    checkpoint: str  # the signed note with every cosignature gathered
    cosigned: tuple[str, ...]
    missing: dict[str, str] = field(default_factory=dict)  # witness -> why it did not cosign
    published: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "size": self.size,
            "root": notes.b64(self.root),
            "published": self.published,
            "cosigned": list(self.cosigned),
            "missing": self.missing,
            "checkpoint": self.checkpoint,
        }


Publish = Callable[[str], "Publication | None"]  # a case id -> its log's publication, if it has one


def publish(
    log: LogCatalog,
    case_id: str,
    origin: str,
    signer: NoteSigner,
    witnesses: list[WitnessClient],
    policy: Policy,
) -> Publication:
    size = log.tree_size(case_id)
    root = proofs.root(log, case_id, size)
    checkpoint = Checkpoint(origin, size, root)
    key = VerifierKey(origin, notes.NOTE_SIGNATURE, bytes.fromhex(signer.public_key))
    if key not in policy.logs:
        raise LedgerError(
            f"the log key of this machine is not the one case {case_id}'s ledger registers: "
            "publish from the machine that keeps the case's log key"
        )
    signed = Note(checkpoint.text(), (notes.note_signature(checkpoint.text(), key, signer.sign),))
    stored = notes.parse(log.add_checkpoint(case_id, size, root, signed.encode()))
    sizes = log.witness_sizes(case_id)
    cosigned = [w.name for w in witnesses if sizes.get(w.name) == size and _has(stored, w)]
    missing: dict[str, str] = {}
    for witness in witnesses:
        if witness.name in cosigned:
            continue
        try:
            line = _ask(log, case_id, witness, sizes.get(witness.name, 0), size, signed)
        except (Refused, WitnessUnavailable, NoteError) as exc:
            missing[witness.name] = str(exc)
            continue
        log.add_cosignature(case_id, size, witness.name, line)
        stored = stored.with_signatures(notes.parse_signature_lines(line))
        cosigned.append(witness.name)
    return Publication(
        case_id,
        size,
        root,
        stored.encode(),
        tuple(cosigned),
        missing,
        policy.satisfied(cosigned),
    )


def _has(note: Note, witness: WitnessClient) -> bool:
    return any(
        (s.name, s.key_id) == (witness.key.name, witness.key.key_id) for s in note.signatures
    )


def _ask(
    log: LogCatalog, case_id: str, witness: WitnessClient, old: int, size: int, note: Note
) -> str:
    """Ask one witness to cosign, once more from the size it names on a 409."""
    for _ in range(2):
        if old > size:
            raise Refused(
                409,
                f"witness {witness.name} cosigned a tree of {old} events, larger than this "
                f"log's {size}: events were removed or the database was restored",
            )
        proof = proofs.consistency(log, case_id, old, size) if 0 < old < size else []
        try:
            answer = witness.add_checkpoint(request_body(old, proof, note.encode()))
        except Refused as exc:
            if exc.status == 409 and exc.size is not None and exc.size != old:
                old = exc.size
                continue
            raise
        lines = notes.parse_signature_lines(answer)
        if not notes.verified(note.with_signatures(lines), [witness.key]):
            raise NoteError(f"witness {witness.name} answered without a valid cosignature")
        return "".join(s.line() for s in lines if s.name == witness.key.name)
    raise Refused(409, f"witness {witness.name} keeps naming another size")
