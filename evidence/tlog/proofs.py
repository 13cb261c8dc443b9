"""Proofs a court or the defence can keep and check offline.

- An **inclusion proof** of one custody event, as a C2SP tlog-proof file::

      c2sp.org/tlog-proof@v1
      index <event seq - 1>
      <base64 hash>          one per line, the leaf's sibling first
      ...
      <empty line>
      <the cosigned checkpoint, verbatim>

  The leaf is the event's hash (32 bytes); ``verify_tlog_proof`` checks it
  against the checkpoint's root.
- A **consistency proof** that today's log extends a checkpoint someone
  saved (``extends``): the hashes of RFC 9162 §2.1.4, from the saved size to
  the current one, checked against both roots. A bundle keeps one per earlier
  bundle's checkpoint (``consistency_file``)::

      c2sp.org/jitev-consistency@v1
      old <size>
      new <size>
      <base64 hash>          ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from evidence.errors import LedgerError
from evidence.ports import LogCatalog
from evidence.tlog import merkle, notes
from evidence.tlog.notes import Checkpoint, Note, NoteError
from evidence.tlog.policy import Policy

TLOG_PROOF = "c2sp.org/tlog-proof@v1"
CONSISTENCY = "c2sp.org/jitev-consistency@v1"


def _nodes(
    log: LogCatalog, case_id: str, compute: Callable[[merkle.Nodes], object]
) -> merkle.Nodes:
    """The stored nodes ``compute`` reads, fetched in one go."""
    found = log.tree_nodes(case_id, merkle.needed(compute))
    return lambda level, index: found[(level, index)]


def inclusions(
    log: LogCatalog, case_id: str, seqs: Collection[int], size: int
) -> dict[int, list[bytes]]:
    """The inclusion proof of each event ``seq`` in the tree of ``size``
    events, from the stored nodes fetched in one go."""

    def compute(nodes: merkle.Nodes) -> dict[int, list[bytes]]:
        return {seq: merkle.inclusion_proof(nodes, seq - 1, size) for seq in seqs}

    return compute(_nodes(log, case_id, compute))


def consistency(log: LogCatalog, case_id: str, old: int, new: int) -> list[bytes]:
    def compute(nodes: merkle.Nodes) -> list[bytes]:
        return merkle.consistency_proof(nodes, old, new)

    return compute(_nodes(log, case_id, compute))


def root(log: LogCatalog, case_id: str, size: int) -> bytes:
    def compute(nodes: merkle.Nodes) -> bytes:
        return merkle.root(nodes, size)

    return compute(_nodes(log, case_id, compute))


def tlog_proof(seq: int, proof: list[bytes], checkpoint: str) -> str:
    """The C2SP tlog-proof of event ``seq`` under ``checkpoint`` (a note)."""
    lines = [TLOG_PROOF, f"index {seq - 1}", *(notes.b64(h) for h in proof), ""]
    return "\n".join(lines) + "\n" + checkpoint


@dataclass(frozen=True, slots=True)
class ParsedProof:
    index: int
    proof: list[bytes]
    note: Note
    checkpoint: Checkpoint


def parse_tlog_proof(text: str) -> ParsedProof:
    head, sep, rest = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines or lines[0] != TLOG_PROOF:
        raise NoteError(f"not a tlog-proof: it starts with {TLOG_PROOF!r}, then index and hashes")
    body = lines[1:]
    if body and body[0].startswith("extra "):
        body = body[1:]
    found = re.fullmatch(r"index (0|[1-9][0-9]{0,18})", body[0]) if body else None
    if found is None:
        raise NoteError("a tlog-proof names the entry's index: 'index <n>'")
    proof = [notes.unb64(line, "an inclusion-proof line") for line in body[1:]]
    note = notes.parse(rest)
    return ParsedProof(int(found[1]), proof, note, Checkpoint.parse(note.text))


def verify_inclusion_of(parsed: ParsedProof, leaf: bytes) -> None:
    """``leaf`` (an event's 32 hash bytes) is entry ``parsed.index`` of the
    checkpointed tree; ``ProofError`` otherwise."""
    merkle.verify_inclusion(
        merkle.leaf_hash(leaf),
        parsed.index,
        parsed.checkpoint.size,
        parsed.proof,
        parsed.checkpoint.root,
    )


def consistency_file(old: int, new: int, proof: list[bytes]) -> str:
    return (
        "\n".join([CONSISTENCY, f"old {old}", f"new {new}", *(notes.b64(h) for h in proof)]) + "\n"
    )


def parse_consistency_file(text: str) -> tuple[int, int, list[bytes]]:
    lines = text.rstrip("\n").split("\n")
    old = re.fullmatch(r"old (0|[1-9][0-9]*)", lines[1]) if len(lines) > 2 else None
    new = re.fullmatch(r"new (0|[1-9][0-9]*)", lines[2]) if len(lines) > 2 else None
    if lines[0] != CONSISTENCY or old is None or new is None:
        raise NoteError(f"not a consistency proof: it starts with {CONSISTENCY!r}, old, new")
    return int(old[1]), int(new[1]), [notes.unb64(line, "a proof line") for line in lines[3:]]


@dataclass(frozen=True, slots=True)
class Extension:
    saved: Checkpoint
    current: Checkpoint
    current_note: str
    proof: list[bytes]

    def as_dict(self) -> dict[str, Any]:
        return {
            "origin": self.current.origin,
            "old": self.saved.size,
            "new": self.current.size,
            "proof": [notes.b64(h) for h in self.proof],
            "checkpoint": self.current_note,
        }


def extends(
    log: LogCatalog, case_id: str, origin: str, trust: Policy, saved_text: str
) -> Extension:
    """Prove that today's log of the case extends the checkpoint someone saved
    (signed by the case's log key); ``LedgerError`` saying why it does not."""
    try:
        saved_note = notes.parse(saved_text)
        saved = Checkpoint.parse(saved_note.text)
    except NoteError as exc:
        raise LedgerError(f"the saved file is not a signed checkpoint: {exc}") from None
    if saved.origin != origin:
        raise LedgerError(f"the saved checkpoint is of the log {saved.origin}, not of {origin}")
    if not notes.verified(saved_note, trust.logs):
        raise LedgerError(f"the saved checkpoint is not signed by the log key of {origin}")
    stored = log.checkpoints(case_id)
    if not stored or stored[-1].size < saved.size:
        have = stored[-1].size if stored else 0
        raise LedgerError(
            f"the saved checkpoint covers {saved.size} events; today's log has signed "
            f"{have}: events were removed, or the database was restored from an old backup"
        )
    latest = stored[-1]
    if root(log, case_id, saved.size) != saved.root:
        raise LedgerError(
            f"today's log does not extend the saved checkpoint: its first {saved.size} events "
            "are not the ones that checkpoint signed (history was rewritten)"
        )
    proof = (
        consistency(log, case_id, saved.size, latest.size) if 0 < saved.size < latest.size else []
    )
    if saved.size:
        merkle.verify_consistency(saved.size, latest.size, proof, saved.root, latest.root)
    current = Checkpoint(origin, latest.size, latest.root)
    return Extension(saved, current, latest.note, proof)
