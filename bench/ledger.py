#!/usr/bin/env python3
"""Ledger benchmark: verifying, appending to, proving and publishing a case's
custody log (hash chain + RFC 6962 Merkle tree + cosigned checkpoints), with
ratios to baselines measured in the same run.

    .venv/bin/python bench/ledger.py [--events 1000000] [--publications 20] [--repeat 2]
        [--quick] [--json]

or ``make bench BENCH=ledger`` (this bench needs no server: it starts its own
witnesses on loopback).

The data: one case, LEDGER, with three member teams (BG leads, FR, NL) and so
three witnesses, in a fresh ``JITEV_HOME`` on the embedded defaults (SQLite
catalog, synchronous=FULL). Its log holds ``--events`` (1,000,000; quick
100,000) custody events: CASE_OPENED and LOG_POLICY_SET as ``evidence.setup``
records them, then events made from their index alone (same options, same
events: the catalog's clock is a counter, 1,237 us a tick): every other one a
DUPLICATE_SEEN with the details an ingest records for a file (source, title,
description, seizure fields, size, BLAKE3, SHA-256, media type, store key,
run, retention, handling: an INGESTED event's details, about 880 bytes
encoded), the others an ACCESSED (a download: size, hashes, store; about 400
bytes). These two actions mirror no catalog row, so ``verify_case``'s row
check (``evidence.mirror``) has nothing to compare and the figures are the
ledger's.

How the log is built: the first 20 transactions of 1,000 events go through
the regular path, ``SqlCatalog.transaction`` + ``tx.append`` (measurement 2,
young log), and a checkpoint is published. The rest is inserted as rows, in
tenths of the log with a checkpoint published after each (so about a dozen
checkpoints, the last at ``--events``): each event is made by ``ledger.link``
after the one before, its time taken from the catalog's clock as
``tx.append`` takes it, its tree nodes by ``merkle.Frontier.append``, and the
rows are inserted with the very statements ``SqlCaseTransaction.flush`` runs
(one ``executemany`` of events, one of nodes, per tenth). These are the rows
the regular path would write, but without it reading the tree's right edge
back from the catalog at every transaction: on a large log that read is what
makes the regular path slow (see measurement 2: about 0.1 s a transaction
into a young log, 0.7 s into the log of 1,000,000), and building 1,000,000
events through it would take some ten minutes on its own. Publications use
``evidence.tlog.publish.publish`` with the log policy read once.

The witnesses are three ``jitev witness serve --team T --dir D --log-key K
--port P`` processes on 127.0.0.1 (free ports), each with its own folder and
``JITEV_HOME``, listed under ``[witnesses.<T>]`` in the bench home's
``config.toml``: the case's log policy names their keys, so every publication
and every ``ledger verify`` speaks HTTP to them.

What is timed (best of ``--repeat``, 2, quick 1, unless said):

1. ``verify``: ``evidence.audit.verify_case`` (what ``jitev ledger verify``
   runs per case: the chain recomputed, the Merkle root at every checkpoint's
   size, every stored checkpoint's signature and cosignatures, each witness's
   latest checkpoint, the catalog's tree root, the row check):
   - ``in memory``: over the events already read into a list, through a small
     catalog that hands ``verify_case`` lists (the checkpoints, and the nodes of
     the catalog's tree it asks for, read beforehand; the witnesses' latest
     checkpoints asked beforehand): the evidence layer alone. Goal
     >= 250,000 events/s.
   - ``from SQLite``: the same call on the catalog itself (events read from the
     SQLite file in pages, checkpoints, tree nodes), the three witnesses asked
     over HTTP for their latest checkpoint, as ``jitev ledger verify`` does
     (the database file read through once before). Goal >= 100,000 events/s.
   - the baseline of both, the limit of any chain verification: BLAKE3 of the
     very same event bytes (``ledger.encode`` of every event, encoded
     beforehand), ``blake3(data).digest()`` each, nothing else.
   The notes split the in-memory time: ``ledger.verify`` (chain),
   ``tlog.check.check_log`` (tree + checkpoints + witnesses) and
   ``mirror.check_rows`` (rows), each timed alone, and give
   ``SqlCatalog.events`` read alone.
2. ``append``: 20 transactions of 1,000 ``tx.append`` each (link, hash, the
   tree's right edge read from the catalog once a transaction, the new tree
   nodes, one ``executemany`` of events and one of nodes, commit with fsync),
   each transaction timed, the drafts made before it: ``young log`` is the
   build's first 20 (into the log of 2 events), ``full log`` 20 more into the
   log of ``--events`` events, after the verify and proof measurements. Goal
   >= 10,000 events/s, for both.
3. ``proofs``: ``evidence.tlog.proofs.inclusions`` of 1,000 events drawn at
   random (fixed seed) from the whole log, from the catalog's stored tree
   (which nodes, fetched in one go, the proofs), each then checked against the
   last checkpoint's root (untimed); against one recomputation of the root
   over every leaf in memory (``merkle.root_of`` over the events' 32-byte
   hashes, made beforehand). Goal: at most 0.1x the root's time.
4. ``publication``: ``--publications`` (20, quick 5) times, 5 events appended
   (untimed), then ``Wiring.checkpoint`` (what jitev runs after every action:
   the case's log policy read from its ledger, the checkpoint signed and
   stored, each witness asked over HTTP with a consistency proof, each
   cosignature stored): the median and the range. No goal. The notes give
   the log policy's read alone, and ``publish`` alone (the policy read before)
   during the build.

Nothing asserts on time: each goal is printed as met or MISSED. Every result
is checked (the verifications report no finding, the proofs hold, the root is
the checkpoint's, every publication is cosigned by the three witnesses): a
wrong result stops the bench.

``--size-gib`` and ``--skip-s3`` are accepted (``make bench`` passes
``BENCH_ARGS`` to every bench) and ignored. Everything lives in a temporary
directory under /tmp, removed at the end (``--keep`` keeps it); the witness
processes are stopped (by their PIDs) on the way out.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from blake3 import blake3

from evidence import audit, ledger, mirror, setup
from evidence.models import Case, CustodyEvent
from evidence.ports import WitnessClient
from evidence.tlog import check, merkle, proofs
from evidence.tlog.check import StoredCheckpoint
from evidence.tlog.notes import VerifierKey
from evidence.tlog.policy import Policy
from storage.keys import KeyRing

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402 - after the path is set
    MiB,
    Run,
    clean_settings_env,
    options,
    say,
    sized,
    workdir,
)
from bench.ledger_parts import (  # noqa: E402 - after the path is set
    APPEND_GOAL,
    APPEND_TX,
    BATCH,
    CASE,
    EXTRA,
    PROOF_GOAL,
    PROOFS,
    SEED,
    VERIFY_MEMORY_GOAL,
    VERIFY_SQL_GOAL,
    Log,
    Row,
    append,
    append_row,
    best_of,
    build,
    checked,
    open_log,
    render,
    witnesses,
    write_config,
)


class MemoryCatalog:
    """What ``audit.verify_case`` reads of a catalog, from what was read
    before: the case, its events (a list), its checkpoints and the nodes of
    the catalog's tree it asks for; no exhibit, transfer or bundle rows (the
    bench's events mirror none)."""

    def __init__(
        self,
        case: Case,
        events: list[CustodyEvent],
        stored: list[StoredCheckpoint],
        nodes: dict[tuple[int, int], bytes],
    ) -> None:
        self._case = case
        self._events = events
        self._stored = stored
        self._nodes = nodes

    def case(self, case_id: str) -> Case:
        return self._case

    def events(
        self, case_id: str, exhibit: str | None = None, action: str | None = None
    ) -> Iterator[CustodyEvent]:
        if exhibit is None and action is None:
            return iter(self._events)
        return (
            e
            for e in self._events
            if (exhibit is None or e.exhibit == exhibit) and (action is None or e.action == action)
        )

    def exhibits(self, case_id: str | None = None, team: str | None = None) -> list[Any]:
        return []

    def transfers(self, case_id: str | None = None) -> list[Any]:
        return []

    def bundles(self, case_id: str | None = None) -> list[Any]:
        return []

    def checkpoints(self, case_id: str) -> list[StoredCheckpoint]:
        return list(self._stored)

    def tree_nodes(
        self, case_id: str, wanted: set[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        return {node: self._nodes[node] for node in wanted}


class HeldWitness:
    """A witness's latest checkpoint, asked before: what ``verify_case`` asks."""

    def __init__(self, name: str, key: VerifierKey, latest: str | None) -> None:
        self.name = name
        self.key = key
        self._latest = latest

    def add_checkpoint(self, body: bytes) -> str:
        raise NotImplementedError("a held witness cosigns nothing")

    def latest(self, origin: str) -> str | None:
        return self._latest


def verified(report: Any, count: int, where: str) -> Any:
    """``report``, if it found nothing wrong in ``count`` events."""
    if not report.ok or report.facts.events != count:
        problems = "; ".join(f.text() for f in report.findings[:5])
        raise SystemExit(f"bench: verify_case {where}: {report.summary}: {problems}")
    return report


def encoded(events: list[CustodyEvent]) -> list[bytes]:
    """Every event's bytes, the input of its BLAKE3 hash."""
    return [
        ledger.encode(
            case_id=e.case_id,
            seq=e.seq,
            exhibit=e.exhibit,
            action=e.action,
            actor=e.actor,
            team=e.team,
            at=e.at,
            details=e.details,
            prev_hash=e.prev_hash,
        )
        for e in events
    ]


def hash_all(data: list[bytes]) -> None:
    hasher = blake3
    for item in data:
        hasher(item).digest()


def warm_file(home: Path) -> None:
    """Read the catalog's database files through (the same page-cache state
    before each SQLite measurement)."""
    for path in sorted(home.glob("jitev.db*")):
        with path.open("rb") as f:
            while f.read(8 * MiB):
                pass


@dataclass
class Read:
    """The log as read back from the catalog, for the in-memory measurements."""

    events: list[CustodyEvent]
    seconds: float  # SqlCatalog.events, read into the list
    stored: list[StoredCheckpoint]
    nodes: dict[tuple[int, int], bytes]
    views: list[HeldWitness]
    leaves: list[bytes] = field(default_factory=list)  # the events' hashes, once they are gone


def read_back(log: Log, home: Path) -> Read:
    w = log.w
    warm_file(home)
    began = time.perf_counter()
    events = list(w.catalog.events(CASE))
    seconds = time.perf_counter() - began
    if len(events) != log.size:
        raise SystemExit(f"bench: read {len(events):,} events back, not {log.size:,}")
    size = log.size

    def compute(nodes: merkle.Nodes) -> bytes:
        return merkle.root(nodes, size)

    nodes = w.catalog.tree_nodes(CASE, merkle.needed(compute))
    views = [HeldWitness(c.name, c.key, c.latest(log.origin)) for c in w.witnesses(log.case)]
    return Read(events, seconds, w.catalog.checkpoints(CASE), nodes, views)


def bench_verify(log: Log, home: Path, read: Read, repeat: int) -> list[Row]:
    count = log.size
    events = read.events
    memory = cast(Any, MemoryCatalog(log.case, events, read.stored, read.nodes))
    held: list[WitnessClient] = list(read.views)

    def in_memory() -> Any:
        return audit.verify_case(memory, CASE, None, held)

    mem_seconds, report = best_of(repeat, in_memory)
    verified(report, count, "in memory")
    say(f"verify in memory: {count / min(mem_seconds):,.0f} events/s")

    # the parts of the in-memory time, each alone
    chain_s, chain = best_of(repeat, lambda: ledger.verify(CASE, events))
    if not chain.ok:
        raise SystemExit(f"bench: ledger.verify: {chain.summary}")
    text = setup.log_policy(memory, CASE)
    assert text is not None
    trust = Policy.parse(text[1])
    views = {v.name: v.latest(log.origin) for v in read.views}

    def tree(wanted: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        return memory.tree_nodes(CASE, wanted)  # type: ignore[no-any-return]

    log_s, (findings, _, _) = best_of(
        repeat, lambda: check.check_log(events, log.origin, trust, read.stored, views, tree)
    )
    if findings:
        raise SystemExit(f"bench: check_log: {findings[0].text()}")
    rows_s, _ = best_of(repeat, lambda: mirror.check_rows(events, [], [], []))

    data = encoded(events)
    sizes = sum(map(len, data))
    hash_seconds, _ = best_of(repeat, functools.partial(hash_all, data))
    del data
    limit = count / min(hash_seconds)
    say(f"BLAKE3 of the same bytes: {limit:,.0f} events/s")
    read.leaves = [bytes.fromhex(e.hash) for e in events]  # for the proofs
    events.clear()  # verify_case reads its own from SQLite: one list of them at a time

    clients = log.w.witnesses(log.case)

    def from_sqlite() -> Any:
        return audit.verify_case(log.w.catalog, CASE, None, clients)

    sql_seconds, report = best_of(repeat, from_sqlite, lambda: warm_file(home))
    verified(report, count, "from SQLite")
    say(f"verify from SQLite: {count / min(sql_seconds):,.0f} events/s")
    checkpoints = len(read.stored)
    return [
        Row(
            "verify in memory",
            "events/s",
            count / min(mem_seconds),
            limit,
            "BLAKE3 alone",
            least=VERIFY_MEMORY_GOAL,
            note=(
                f"audit.verify_case over {count:,} events in a list, {checkpoints:,} stored "
                f"checkpoints (each signed + 3 cosignatures), 3 witnesses' latest: "
                f"{min(mem_seconds):,.2f} s; its parts timed alone: the chain (ledger.verify) "
                f"{min(chain_s):,.2f} s ({count / min(chain_s):,.0f} events/s), the tree and "
                f"checkpoints (tlog.check.check_log) {min(log_s):,.2f} s "
                f"({count / min(log_s):,.0f} events/s), the rows (mirror.check_rows) "
                f"{min(rows_s):,.2f} s ({count / min(rows_s):,.0f} events/s)"
            ),
            samples={
                "jitev": mem_seconds,
                "baseline": hash_seconds,
                "chain": chain_s,
                "log": log_s,
                "rows": rows_s,
            },
        ),
        Row(
            "verify from SQLite",
            "events/s",
            count / min(sql_seconds),
            limit,
            "BLAKE3 alone",
            least=VERIFY_SQL_GOAL,
            note=(
                f"audit.verify_case on the SqlCatalog, witnesses asked over HTTP: "
                f"{min(sql_seconds):,.2f} s; SqlCatalog.events alone (read into a list) "
                f"{read.seconds:,.2f} s ({count / read.seconds:,.0f} events/s); the baseline "
                f"hashes {sizes / MiB:,.0f} MiB ({sizes / count:,.0f} bytes an event) with "
                "blake3(data).digest()"
            ),
            samples={"jitev": sql_seconds, "baseline": hash_seconds, "read": [read.seconds]},
        ),
    ]


# -- 3. proofs -----------------------------------------------------------------------------


def bench_proofs(log: Log, home: Path, read: Read, repeat: int) -> Row:
    count = log.size
    seqs = sorted(random.Random(SEED).sample(range(1, count + 1), min(PROOFS, count)))
    root = read.stored[-1].root
    if read.stored[-1].size != count:
        raise SystemExit("bench: the last checkpoint does not cover the log")

    def prove() -> dict[int, list[bytes]]:
        return proofs.inclusions(log.w.catalog, CASE, seqs, count)

    proof_seconds, found = best_of(repeat, prove, lambda: warm_file(home))
    leaves = read.leaves
    for seq in seqs:
        merkle.verify_inclusion(merkle.leaf_hash(leaves[seq - 1]), seq - 1, count, found[seq], root)
    hashes = sum(len(p) for p in found.values())
    root_seconds, computed = best_of(repeat, lambda: merkle.root_of(leaves))
    if computed != root:
        raise SystemExit("bench: the root of the leaves is not the last checkpoint's")
    say(f"proofs: {min(proof_seconds):.3f} s; root of {count:,} leaves {min(root_seconds):.2f} s")
    return Row(
        f"proofs ({len(seqs):,} inclusion proofs)",
        "s",
        min(proof_seconds),
        min(root_seconds),
        f"root of {count:,} leaves",
        most_ratio=PROOF_GOAL,
        note=(
            f"proofs.inclusions from the catalog's tree ({hashes:,} hashes, each proof checked "
            f"against the last checkpoint's root); the baseline merkle.root_of over the "
            f"{count:,} leaves in memory ({count / min(root_seconds):,.0f} leaves/s)"
        ),
        samples={"jitev": proof_seconds, "baseline": root_seconds},
    )


# -- 4. publication ------------------------------------------------------------------------


def bench_publication(log: Log, rounds: int) -> Row:
    w = log.w
    first = log.size
    seconds = []
    for _ in range(rounds):
        append(log, EXTRA)
        began = time.perf_counter()
        made = w.checkpoint(CASE)
        seconds.append(time.perf_counter() - began)
        checked(made, log.size)
    began = time.perf_counter()
    setup.log_policy(w.catalog, CASE)
    policy_read = time.perf_counter() - began
    median = statistics.median(seconds)
    say(f"publication: median {median * 1000:,.1f} ms")
    during = statistics.median(s for _, s in log.published)
    sizes = [size for size, _ in log.published]
    return Row(
        "publication (3 HTTP witnesses)",
        "ms",
        median * 1000,
        note=(
            f"median of {rounds} Wiring.checkpoint, each after {EXTRA} events appended "
            f"(log of {first + EXTRA:,} to {log.size:,} events): "
            f"{min(seconds) * 1000:,.1f} to {max(seconds) * 1000:,.1f} ms; of which reading "
            f"the log policy from the ledger (setup.log_policy, timed once apart) "
            f"{policy_read * 1000:,.1f} ms; publish alone (policy read before) during the "
            f"build, at {len(sizes)} sizes from {sizes[0]:,} to {sizes[-1]:,}: median "
            f"{during * 1000:,.1f} ms, at the last size {log.published[-1][1] * 1000:,.1f} ms"
        ),
        samples={
            "jitev": seconds,
            "log_policy": [policy_read],
            "build": [s for _, s in log.published],
        },
    )


# -- the bench -----------------------------------------------------------------------------


def print_report(run: Run, details: str, rows: list[Row], as_json: dict[str, Any] | None) -> None:
    elapsed = time.perf_counter() - run.started
    load = (run.load, os.getloadavg()[0])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"\njitev ledger bench: {platform.python_version()}, {os.cpu_count()} CPUs, {details}, "
        f"load average {load[0]:.2f} at start, {load[1]:.2f} at end, "
        f"peak RSS {rss / MiB:,.0f} MiB"
    )
    print(render(rows))
    print(
        f"\ngoals (issue 11): verify >= {VERIFY_MEMORY_GOAL:,} events/s in memory and "
        f">= {VERIFY_SQL_GOAL:,} from SQLite; append >= {APPEND_GOAL:,} events/s; "
        f"{PROOFS:,} inclusion proofs <= {PROOF_GOAL:g}x one root over every leaf; "
        "publication: no goal. The verify ratios are to BLAKE3 of the same event bytes alone."
    )
    print(f"\ntotal bench time {elapsed:,.0f} s")
    if as_json is not None:
        summary = {"python": platform.python_version(), "cpus": os.cpu_count(), **as_json}
        summary.update(load_average=list(load), peak_rss=rss, seconds=elapsed)
        print(json.dumps({**summary, "results": [r.as_dict() for r in rows]}))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = options(__doc__ or "", "100,000 events, 5 publications, one repeat")
    p.add_argument("--events", type=int, default=None, help="events in the log (default 1000000)")
    p.add_argument("--publications", type=int, default=None, help="timed publications (default 20)")
    args = sized(p, p.parse_args(argv))
    args.events = args.events or (100_000 if args.quick else 1_000_000)
    args.publications = args.publications or (5 if args.quick else 20)
    if args.events < 10 or args.publications < 1:
        p.error("--events must be >= 10 and --publications >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    dropped = clean_settings_env()
    if dropped:
        say(f"ignoring inherited jitev settings: {', '.join(sorted(dropped))}")
    run = Run(None, "", "")
    with workdir(args.keep) as work:
        home = work / "home"
        log_key = KeyRing(home / "keys").log.load_or_create()  # before the witnesses: they trust it
        say("starting three witnesses (jitev witness serve) on loopback")
        with witnesses(work, log_key.public_key) as found:
            write_config(home, found)
            say(f"building a log of {args.events:,} events under {home}")
            log = open_log(home)
            opened = log.size
            young, young_count = build(log, args.events, APPEND_TX)
            read = read_back(log, home)
            rows = bench_verify(log, home, read, args.repeat)
            proof_row = bench_proofs(log, home, read, args.repeat)
            del read
            full_size = log.size
            say(f"appending {APPEND_TX} transactions of {BATCH:,} to the full log")
            full = append(log, APPEND_TX * BATCH)
            rows += [
                append_row("append, young log", young, young_count, opened),
                append_row("append, full log", full, APPEND_TX * BATCH, full_size),
                proof_row,
                bench_publication(log, args.publications),
            ]
            log.w.catalog.close()
            for w in found:
                errors = w.stop().strip()
                if errors:
                    say(f"witness {w.team} said: {errors[-500:]}")
    print_report(
        run,
        f"{args.events:,} events, best of {args.repeat}, {args.publications} publications",
        rows,
        {"events": args.events, "repeat": args.repeat, "publications": args.publications}
        if args.json
        else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
