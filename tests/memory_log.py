"""A case log held in memory, for tests that build ledgers and bundles by
hand: the Merkle tree over a list of custody events, checkpoints signed by a
fixed log key and cosigned by fixed witness keys, proofs, and the policy
event that registers those keys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from blake3 import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from evidence.models import Action, CustodyEvent
from evidence.ports import EventDraft
from evidence.tlog import merkle, notes
from evidence.tlog.notes import COSIGNATURE, NOTE_SIGNATURE, Checkpoint, Note, VerifierKey
from evidence.tlog.policy import Policy


def _key(seed: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(blake3(seed.encode()).digest())


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


class MemoryLog:
    def __init__(self, origin: str, witnesses: Iterable[str] = ("BG", "FR")) -> None:
        self.origin = origin
        self._log = _key(f"memory log {origin}")
        self.log_key = VerifierKey(origin, NOTE_SIGNATURE, _raw(self._log))
        self._witnesses = {name: _key(f"memory witness {name}") for name in witnesses}
        self.witness_keys = {
            name: VerifierKey(f"witness/{name}", COSIGNATURE, _raw(key))
            for name, key in self._witnesses.items()
        }

    def policy(self) -> Policy:
        return Policy.every_team(self.log_key, self.witness_keys)

    def policy_draft(self, actor: str, team: str) -> EventDraft:
        """The LOG_POLICY_SET event that registers these keys in the ledger."""
        details = {"origin": self.origin, "policy": self.policy().text()}
        return EventDraft(Action.LOG_POLICY_SET, actor, team, None, details)

    @staticmethod
    def nodes(events: Sequence[CustodyEvent]) -> merkle.Nodes:
        """Every complete subtree of the tree over ``events``."""
        frontier = merkle.Frontier()
        found: dict[tuple[int, int], bytes] = {}
        for e in events:
            for level, index, digest in frontier.append(bytes.fromhex(e.hash)):
                found[(level, index)] = digest
        return lambda level, index: found[(level, index)]

    def checkpoint(
        self,
        events: Sequence[CustodyEvent],
        cosigners: Iterable[str] | None = None,
        timestamp: int = 1_773_480_600,
    ) -> str:
        """The signed checkpoint of the tree over all ``events``, cosigned by
        ``cosigners`` (default: every witness)."""
        size = len(events)
        root = merkle.root(self.nodes(events), size) if size else merkle.EMPTY_ROOT
        text = Checkpoint(self.origin, size, root).text()
        signatures = [notes.note_signature(text, self.log_key, self._log.sign)]
        for name in self._witnesses if cosigners is None else cosigners:
            key = self.witness_keys[name]
            signatures.append(notes.cosignature(text, key, self._witnesses[name].sign, timestamp))
        return Note(text, tuple(signatures)).encode()

    def inclusion(self, events: Sequence[CustodyEvent], seq: int) -> list[bytes]:
        return merkle.inclusion_proof(self.nodes(events), seq - 1, len(events))

    def consistency(self, events: Sequence[CustodyEvent], old: int) -> list[bytes]:
        return merkle.consistency_proof(self.nodes(events), old, len(events))
