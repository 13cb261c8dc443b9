"""The Merkle proof verifiers against the reference vectors of
transparency-dev/merkle (``tests/vectors/merkle``): every vector with
``wantErr: false`` is accepted, every one with ``wantErr: true`` rejected.
And the proofs this project makes are the ones its verifiers accept, for
every pair of sizes of a small tree."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from evidence.tlog import merkle

VECTORS = Path(__file__).parents[1] / "vectors" / "merkle"


def vectors(kind: str) -> list[Any]:
    found = sorted((VECTORS / kind).rglob("*.json"))
    assert len(found) > 50, f"the {kind} vectors are missing from {VECTORS}"
    return [pytest.param(json.loads(p.read_text()), id=str(p.relative_to(VECTORS))) for p in found]


def raw(value: str | None) -> bytes:
    return b"" if value is None else base64.b64decode(value)


def hashes(values: list[str] | None) -> list[bytes]:
    return [raw(v) for v in values or []]


@pytest.mark.parametrize("vector", vectors("inclusion"))
def test_inclusion_vectors(vector: dict[str, Any]) -> None:
    def check() -> None:
        merkle.verify_inclusion(
            raw(vector["leafHash"]),
            vector["leafIdx"],
            vector["treeSize"],
            hashes(vector["proof"]),
            raw(vector["root"]),
        )

    if vector["wantErr"]:
        with pytest.raises(merkle.ProofError):
            check()
    else:
        check()


@pytest.mark.parametrize("vector", vectors("consistency"))
def test_consistency_vectors(vector: dict[str, Any]) -> None:
    def check() -> None:
        merkle.verify_consistency(
            vector["size1"],
            vector["size2"],
            hashes(vector["proof"]),
            raw(vector["root1"]),
            raw(vector["root2"]),
        )

    if vector["wantErr"]:
        with pytest.raises(merkle.ProofError):
            check()
    else:
        check()


def test_the_proofs_made_are_the_proofs_verified() -> None:
    leaves = [bytes([i]) * 32 for i in range(17)]
    levels = [[merkle.leaf_hash(leaf) for leaf in leaves]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append(
            [merkle.node_hash(a, b) for a, b in zip(below[::2], below[1::2], strict=False)]
        )

    def nodes(level: int, index: int) -> bytes:
        return levels[level][index]

    for size in range(1, len(leaves) + 1):
        root = merkle.root(nodes, size)
        assert root == merkle.root_of(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(nodes, index, size)
            merkle.verify_inclusion(levels[0][index], index, size, proof, root)
        for old in range(1, size + 1):
            proof = merkle.consistency_proof(nodes, old, size)
            merkle.verify_consistency(old, size, proof, merkle.root(nodes, old), root)
