"""A witness's rules (C2SP tlog-witness ``add-checkpoint``): what a member
team's witness checks before it cosigns a checkpoint of a case's log, and
what it answers when it will not.

The witness keeps, per origin, the last checkpoint it cosigned, in state of
its own (``WitnessState``: a file under the team's own home, or its own
machine), never in the catalog database. It cosigns a new checkpoint only if
the log's signature verifies, the request's old size is the size it last
cosigned, and the consistency proof from that size holds. It refuses a
smaller tree or a fork, and keeps the conflicting signed checkpoint as
evidence. Refusals carry the protocol's status codes (``Refused.status``):

    404  the origin is not one this witness follows
    403  no valid signature of the log's key
    400  the old size is larger than the checkpoint's size
    409  the old size is not the size last cosigned (``Refused.size``)
    422  the proof does not hold, or a size-0 checkpoint's root is not the empty tree's
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from evidence.tlog import merkle, notes
from evidence.tlog.notes import Checkpoint, Note, NoteError, VerifierKey

MAX_PROOF = 63
MAX_BODY = 64 * 1024  # a request with 63 hashes and a checkpoint with 16 signatures is < 8 KiB


class Refused(Exception):
    def __init__(self, status: int, message: str, *, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size  # 409: the size this witness last cosigned


class WitnessState(Protocol):
    """The witness's own memory: per origin, the last cosigned checkpoint."""

    def latest(self, origin: str) -> str | None:
        """The last cosigned checkpoint (a signed note), or ``None``."""
        ...

    def replace(self, origin: str, old_size: int, note: str) -> None:
        """Store ``note`` as the latest, atomically, if the stored size is
        still ``old_size`` (0 for none); else ``Refused`` 409 with the size."""
        ...

    def keep_evidence(self, origin: str, note: str, why: str) -> None:
        """Keep a validly signed checkpoint that conflicts with what was seen."""
        ...


@dataclass(frozen=True)
class Witness:
    """One witness: its cosigning key (name, public key and a signing
    function: the private key stays with its caller), the logs it follows
    (``log_key(origin)``: the log's verifier key for an origin, or ``None``),
    its state and its clock (POSIX seconds)."""

    key: VerifierKey
    sign: notes.Sign
    log_key: Callable[[str], VerifierKey | None]
    state: WitnessState
    now: Callable[[], int]

    def add_checkpoint(self, body: bytes) -> str:
        """Check a request body; return the cosignature line(s)."""
        old, proof, note = parse_request(body)
        checkpoint = _checkpoint(note)
        log = self.log_key(checkpoint.origin)
        if log is None:
            raise Refused(404, f"this witness does not follow the log {checkpoint.origin}")
        try:
            signed = notes.verified(note, [log])
        except NoteError as exc:
            raise Refused(403, f"the checkpoint's log signature is malformed: {exc}") from None
        if not signed:
            raise Refused(403, f"the checkpoint carries no valid signature of {log.name}")
        if old > checkpoint.size:
            raise Refused(400, f"old size {old} is larger than the checkpoint's {checkpoint.size}")
        seen = self._seen(checkpoint.origin)
        if (seen.size if seen else 0) != old:
            raise Refused(
                409, "old size is not the size last cosigned", size=seen.size if seen else 0
            )
        if checkpoint.size == 0 and checkpoint.root != merkle.EMPTY_ROOT:
            raise Refused(422, "a checkpoint of size 0 has the empty tree's root")
        self._consistent(checkpoint, note, seen, proof)
        cosigned = notes.cosignature(note.text, self.key, self.sign, self.now())
        kept = Note(note.text, (*(s for _, s in signed), cosigned))
        self.state.replace(checkpoint.origin, old, kept.encode())
        return cosigned.line()

    def _seen(self, origin: str) -> Checkpoint | None:
        stored = self.state.latest(origin)
        return _checkpoint(notes.parse(stored)) if stored else None

    def _consistent(
        self, checkpoint: Checkpoint, note: Note, seen: Checkpoint | None, proof: list[bytes]
    ) -> None:
        if seen is None or seen.size == 0:
            if proof:
                raise Refused(422, "a proof from size 0 must be empty")
            return
        try:
            merkle.verify_consistency(seen.size, checkpoint.size, proof, seen.root, checkpoint.root)
        except merkle.ProofError as exc:
            why = f"not consistent with the checkpoint of size {seen.size} cosigned before: {exc}"
            self.state.keep_evidence(checkpoint.origin, note.encode(), why)
            raise Refused(422, f"the checkpoint is {why}") from None

    def latest(self, origin: str) -> str | None:
        """The monitoring view: the last cosigned checkpoint of ``origin``."""
        return self.state.latest(origin)


def _checkpoint(note: Note) -> Checkpoint:
    try:
        return Checkpoint.parse(note.text)
    except NoteError as exc:
        raise Refused(400, f"not a checkpoint: {exc}") from None


def request_body(old: int, proof: list[bytes], note: str) -> bytes:
    """The ``add-checkpoint`` body a log sends."""
    if len(proof) > MAX_PROOF:
        raise ValueError(f"a consistency proof of more than {MAX_PROOF} hashes")
    lines = [f"old {old}\n", *(f"{notes.b64(h)}\n" for h in proof), "\n"]
    return ("".join(lines) + note).encode("utf-8")


def parse_request(body: bytes) -> tuple[int, list[bytes], Note]:
    if len(body) > MAX_BODY:
        raise Refused(400, f"the request is larger than {MAX_BODY} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the request is not UTF-8") from None
    head, sep, rest = text.partition("\n\n")
    lines = head.split("\n")
    found = re.fullmatch(r"old (0|[1-9][0-9]{0,18})", lines[0]) if sep else None
    if found is None:
        raise Refused(400, "the request starts with 'old <size>', proof lines, an empty line")
    if len(lines) - 1 > MAX_PROOF:
        raise Refused(400, f"more than {MAX_PROOF} proof lines")
    try:
        proof = [notes.unb64(line, "a proof line") for line in lines[1:]]
        note = notes.parse(rest)
    except NoteError as exc:
        raise Refused(400, str(exc)) from None
    if any(len(h) != merkle.HASH_SIZE for h in proof):
        raise Refused(400, "a proof line is not a 32-byte hash")
    return int(found[1]), proof, note
