#!/usr/bin/env python3
"""Check a jitev bundle's custody log without jitev: the worked example of
"Checking the log yourself" in the README, written from the formats alone
(it imports nothing of jitev; ``pip install blake3 cryptography``).

    python3 docs/check-bundle-log.py UNZIPPED-BUNDLE-FOLDER

It checks, and exits 1 with the first thing that does not hold:
1. each event of ``data/ledger/custody.jsonl``: its BLAKE3 hash recomputed
   from its fields (the chain links are not checked: the extract is
   selective, its proofs bind the events to the log instead);
2. the checkpoint ``data/ledger/checkpoint``: the log's signature and the
   cosignature of every witness in ``data/ledger/policy`` (jitev's default
   quorum; a policy with a smaller group needs its threshold instead);
3. each event's inclusion proof ``data/ledger/proofs/<seq>.tlog-proof``
   against that checkpoint's root (RFC 9162, section 2.1.3.2);
4. the seal: SHA-256 of the ``manifest-sha256.txt`` lines outside
   ``data/ledger/`` is the one ``bag-info.txt`` and the BUNDLE_SEALED event
   record, and the extract's digest is the one that event records.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

from blake3 import blake3
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

DOMAIN = b"jitev-custody-v1\n"


def fail(message: str) -> None:
    sys.exit(f"FAIL: {message}")


def event_hash(event: dict) -> str:
    body = {k: v for k, v in event.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return blake3(DOMAIN + text.encode("utf-8")).hexdigest()


def keys(policy: str) -> dict[str, tuple[bytes, bytes]]:
    """key name -> (key id, Ed25519 public key), from the policy's vkeys."""
    found = {}
    for line in policy.splitlines():
        words = line.split()
        if words and words[0] in ("log", "witness"):
            name, key_id, key = words[-1].split("+", 2)
            found[name] = (bytes.fromhex(key_id), base64.b64decode(key)[1:])
    return found


def check_note(note: str, known: dict[str, tuple[bytes, bytes]]) -> tuple[str, set[str]]:
    """The checkpoint's text and the names whose signature verifies."""
    text, _, signatures = note.partition("\n\n")
    text += "\n"
    good = set()
    for line in signatures.splitlines():
        name, blob = line.removeprefix("\u2014 ").split(" ")
        raw = base64.b64decode(blob)
        if name not in known or raw[:4] != known[name][0]:
            continue
        if len(raw) == 4 + 8 + 64:  # a cosignature: key id, timestamp, signature
            message = f"cosignature/v1\ntime {int.from_bytes(raw[4:12], 'big')}\n{text}"
        else:  # the log's own signature: key id, signature
            message = text
        Ed25519PublicKey.from_public_bytes(known[name][1]).verify(raw[-64:], message.encode())
        good.add(name)
    return text, good


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            fail("the proof is too long")
        if fn % 2 == 1 or fn == sn:
            r = node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        fail("the proof is too short")
    return r


def main(folder: Path) -> None:
    ledger = folder / "data" / "ledger"
    known = keys((ledger / "policy").read_text())
    text, cosigned = check_note((ledger / "checkpoint").read_text(), known)
    origin, size, root = text.splitlines()
    if origin not in cosigned:
        fail(f"the checkpoint is not signed by the log {origin}")
    missing = set(known) - cosigned  # the default quorum: every team's witness
    if missing:
        fail(f"the checkpoint lacks the cosignature of {', '.join(sorted(missing))}")
    print(f"checkpoint: {size} events of {origin}, signed by {', '.join(sorted(cosigned))}")
    events = [json.loads(line) for line in (ledger / "custody.jsonl").read_text().splitlines()]
    for event in events:
        if event_hash(event) != event["hash"]:
            fail(f"event {event['seq']}: its fields do not give its hash")
        lines = (ledger / "proofs" / f"{event['seq']}.tlog-proof").read_text().split("\n\n")[0]
        head = lines.splitlines()
        index = int(head[1].removeprefix("index "))
        leaf = hashlib.sha256(b"\x00" + bytes.fromhex(event["hash"])).digest()
        got = root_from_inclusion(leaf, index, int(size), [base64.b64decode(h) for h in head[2:]])
        if index != event["seq"] - 1 or base64.b64encode(got).decode() != root:
            fail(f"event {event['seq']}: its inclusion proof does not give the checkpoint's root")
    print(f"events: {len(events)} hashes recomputed, each proven in the checkpoint's tree")
    manifest = (folder / "manifest-sha256.txt").read_text().splitlines(keepends=True)
    seal = hashlib.sha256("".join(m for m in manifest if "  data/ledger/" not in m).encode())
    info = dict(line.split(": ", 1) for line in (folder / "bag-info.txt").read_text().splitlines())
    [sealed] = [e for e in events if e["action"] == "BUNDLE_SEALED"]
    extract = hashlib.sha256(b"".join(bytes.fromhex(e["hash"]) for e in events if e is not sealed))
    if info["Bundle-Seal"] != f"{sealed['seq']} {seal.hexdigest()}":
        fail("the files are not the ones sealed (Bundle-Seal)")
    if (sealed["details"]["seal"], sealed["details"]["extract"]) != (
        seal.hexdigest(),
        extract.hexdigest(),
    ):
        fail(f"the BUNDLE_SEALED event {sealed['seq']} sealed other files or another extract")
    print(f"seal: {seal.hexdigest()} (event {sealed['seq']})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
