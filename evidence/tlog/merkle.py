"""The Merkle tree over a case's custody events (RFC 6962 / RFC 9162 §2.1,
SHA-256), and its proofs.

Leaf *i* is the 32 raw bytes of the hash of the event with sequence number
*i* + 1; its leaf hash is ``SHA-256(0x00 || those bytes)``, a node's
``SHA-256(0x01 || left || right)``, the empty tree's ``SHA-256("")``.

The tree is kept as its **complete subtrees**: node ``(level, index)`` is the
hash of the ``2**level`` leaves from ``index * 2**level``. Appending a leaf
adds at most ``log2(n) + 1`` nodes (``append``), and any root, inclusion proof
or consistency proof needs O(log n) of them (the range hashes along the right
edge are folded from the complete subtrees they cover). A proof is computed in
two passes: ``needed`` lists the nodes it reads (so a catalog can fetch them in
one query), then the same function runs over the fetched nodes.

Verification (``verify_inclusion``, ``verify_consistency``) follows RFC 9162
§2.1.3.2 and §2.1.4.2 and trusts nothing but its arguments; it raises
``ProofError`` saying what does not hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from evidence.errors import LedgerError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Nodes = Callable[[int, int], bytes]  # (level, index) -> the hash of that complete subtree


class ProofError(LedgerError, ValueError):
    """A proof, or the tree it is about, does not hold."""


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(nodes: Nodes, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range that is a complete subtree, or that ends
    at the right edge of the tree (what roots and proofs need)."""
    size = end - start
    if size <= 0:
        raise ValueError(f"empty range {start}..{end}")
    if size & (size - 1) == 0 and start % size == 0:
        return nodes(size.bit_length() - 1, start // size)
    k = _split(size)
    return node_hash(range_hash(nodes, start, start + k), range_hash(nodes, start + k, end))


def root(nodes: Nodes, size: int) -> bytes:
    """The root hash of the tree's first ``size`` leaves."""
    return EMPTY_ROOT if size == 0 else range_hash(nodes, 0, size)


def inclusion_proof(nodes: Nodes, index: int, size: int) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(index, D[0:size]), leaf sibling first."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(nodes, start + k, end))
            end = start + k
        else:
            path.append(range_hash(nodes, start, start + k))
            start += k
    return path[::-1]


def consistency_proof(nodes: Nodes, old: int, new: int) -> list[bytes]:
    """RFC 9162 §2.1.4.1 PROOF(old, D[0:new]); empty when the sizes are equal
    or the old tree is empty."""
    if not 0 <= old <= new:
        raise ValueError(f"no consistency proof from size {old} to size {new}")
    if old in (0, new):
        return []

    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        if m == end - start:
            return [] if whole else [range_hash(nodes, start, end)]
        k = _split(end - start)
        if m <= k:
            return [*subproof(m, start, start + k, whole), range_hash(nodes, start + k, end)]
        return [*subproof(m - k, start + k, end, False), range_hash(nodes, start, start + k)]

    return subproof(old, 0, new, True)


def needed(compute: Callable[[Nodes], object]) -> set[tuple[int, int]]:
    """The nodes ``compute`` reads: it runs once over placeholder hashes (which
    nodes a root or proof needs depends on the sizes only, never on hashes)."""
    asked: set[tuple[int, int]] = set()

    def record(level: int, index: int) -> bytes:
        asked.add((level, index))
        return bytes(HASH_SIZE)

    compute(record)
    return asked


# -- building ------------------------------------------------------------------------


@dataclass
class Frontier:
    """The right edge of a tree: its complete subtrees of decreasing size (the
    binary decomposition of ``size``), which is all an append needs. ``edge``
    holds ``(level, hash)`` pairs, largest first."""

    size: int = 0
    edge: list[tuple[int, bytes]] = field(default_factory=list)

    @staticmethod
    def levels(size: int) -> Iterator[tuple[int, int]]:
        """The ``(level, index)`` of each node of the frontier of ``size``."""
        start = 0
        for level in range(size.bit_length() - 1, -1, -1):
            if size >> level & 1:
                yield level, start >> level
                start += 1 << level

    @classmethod
    def load(cls, size: int, nodes: Nodes) -> Frontier:
        return cls(size, [(level, nodes(level, index)) for level, index in cls.levels(size)])

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf (its raw bytes); return the new nodes ``(level, index, hash)``."""
        index = self.size
        made = [(0, index, leaf_hash(leaf))]
        current = made[0][2]
        level = 0
        while index & 1:
            left_level, left = self.edge.pop()
            assert left_level == level, "the frontier does not match its size"
            current = node_hash(left, current)
            level, index = level + 1, index >> 1
            made.append((level, index, current))
        self.edge.append((level, current))
        self.size += 1
        return made

    def root(self) -> bytes:
        if not self.edge:
            return EMPTY_ROOT
        folded = self.edge[-1][1]
        for _, left in reversed(self.edge[:-1]):
            folded = node_hash(left, folded)
        return folded


def root_of(leaves: Iterable[bytes]) -> bytes:
    """The root over all ``leaves`` (raw leaf bytes), in one pass."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


# -- verifying ------------------------------------------------------------------------


def _check(hashes: Iterable[bytes], what: str) -> list[bytes]:
    found = list(hashes)
    if any(len(h) != HASH_SIZE for h in found):
        raise ProofError(f"{what}: every hash must be {HASH_SIZE} bytes")
    return found


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> None:
    """RFC 9162 §2.1.3.2: ``leaf`` (a leaf hash) is leaf ``index`` of the tree
    of ``size`` leaves whose root is ``root``."""
    path = _check(proof, "inclusion proof")
    if len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        raise ProofError(f"a leaf hash and a root are {HASH_SIZE} bytes")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not below the tree size {size}")
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError("the inclusion proof leads to another root")


def verify_consistency(
    old: int, new: int, proof: list[bytes], old_root: bytes, new_root: bytes
) -> None:
    """RFC 9162 §2.1.4.2: the tree of ``new`` leaves with root ``new_root``
    extends the tree of ``old`` leaves with root ``old_root``."""
    path = _check(proof, "consistency proof")
    if old > new:
        raise ProofError(f"the old size {old} is larger than the new size {new}")
    if old == 0:
        raise ProofError("nothing can be proven from an empty tree")
    if old == new:
        if path:
            raise ProofError("the sizes are equal, so the proof must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same size {old}")
        return
    if not path:
        raise ProofError("the consistency proof is empty")
    if old & (old - 1) == 0:
        path = [old_root, *path]
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise ProofError(f"the proof does not lead to the old root of size {old}")
    if sr != new_root:
        raise ProofError(f"the proof does not lead to the new root of size {new}")
