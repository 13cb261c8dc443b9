#!/usr/bin/env python3
"""Dispatch benchmark: a hand-off's bytes against a plain copy, in the same run.

    .venv/bin/python bench/dispatch.py [--size-gib 2] [--repeat 2] [--skip-s3] [--quick] [--json]

or ``make bench`` (starts the test servers, runs bench/ingest.py, then this).

What is timed on the jitev side is ``evidence.transfers.dispatch`` of one
approved transfer of one exhibit of ``--size-gib`` GiB (default 2), from team
BG to a team that does not hold it yet: the policy check, the server-side
``store.copy`` into the receiving team's namespace, the read-back of the whole
copy through BLAKE3 and SHA-256 (``hashing.read_back``), and the DISPATCHED
custody event with the transfer's new state in one SQLite catalog transaction.
The baseline moves the same bytes the same way, on the same store, without
jitev: a plain server-side copy, then one plain read of the copy.

Workloads (``--repeat`` times each, 2 by default, alternating baseline and
jitev, the best of each kept; the ratio is jitev / baseline):

- ``local``: the local store (``LocalStore.copy``: ``copy_file_range`` into the
  receiving team's ``.incoming``, fsync, link into place, digest sidecar)
  against ``os.copy_file_range`` of the very same stored file to a new file on
  the same file system, fsync (the store makes its copy durable too), then the
  copy read through in 8 MiB reads, hashing nothing.
- ``s3``: the S3 store (``S3Store.copy``: ``copy_object`` with the digest
  metadata and a COMPLIANCE retention into the receiving team's object-lock
  bucket, then the retention set again, which RGW ignores on copies, and the
  copy checked with ``stat_object``) against minio ``copy_object`` of the very
  same stored object (``compose_object`` in 5 GiB ranges above 5 GiB, as the
  store does) with the store's own client, into a plain bucket made beforehand
  (no object lock, metadata copied as is), then ``get_object`` of the copy
  read in 8 MiB chunks and dropped.
- ``flow`` (a reference, not in the ratio above): once per store,
  ``flows.dispatch.dispatch`` (the Prefect flow) end to end on the same kind
  of transfer, against the best direct ``transfers.dispatch`` of that store; the
  seconds the flow adds are printed. Prefect is warmed up first by a flow run
  on a tiny transfer (its time is printed, not counted).

The issue sets no numeric goal for dispatch: the ratios are printed as they are.

Setup, untimed: per store, a fresh ``JITEV_HOME`` (configured through
``JITEV_*`` variables as in bench/ingest.py) with three people: "Bench Admin"
(registers people, opens the case), "Bench Runner" (an investigator of BG:
ingests, requests and dispatches) and "Bench Lead" (a lead of BG, the case's
lead team: the JIT lead, who approves). The case has BG and one receiving team
per measurement (RA, RB, ...; a team that holds an exhibit cannot be sent it
again), plus one for the flow. The file is ingested once per store. For each
receiving team, a tiny exhibit is dispatched first (which creates the team's
bucket on S3 and warms the catalog's statements, as the baseline's bucket is
made beforehand), then the large transfer is requested and approved. Before
every timed measurement the source object is read through once (the local file,
or a ``get_object`` on S3), so both sides start with the same cache state.

S3 comes from ``JITEV_TEST_S3_ENDPOINT``, ``JITEV_TEST_S3_ACCESS_KEY`` and
``JITEV_TEST_S3_SECRET_KEY`` (without them the S3 workload is skipped); jitev's
buckets have a unique prefix per run and its objects stay under a one-day
COMPLIANCE retention; the baseline's copies and buckets are removed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence import transfers

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402 - after the path is set
    ACTOR,
    READ,
    TEAM,
    GiB,
    MiB,
    Row,
    S3Server,
    begin,
    best,
    configure,
    large_file,
    multihash_pass,
    open_case,
    options,
    report,
    say,
    sized,
    timed,
    warm,
    workdir,
)
from bench.files import empty_bucket  # noqa: E402
from bench.ingest import check_outcome, jitev_store_and_commit, warm_up_store  # noqa: E402

LEAD = "Bench Lead"  # a lead of TEAM, the case's lead team: the JIT lead, who approves
COPY = "copy.bin"  # the baseline's object or file name


# -- the jitev side ----------------------------------------------------------------------


@dataclass(frozen=True)
class Staged:
    """A case with the large exhibit ingested into TEAM, and a tiny one."""

    w: Any
    case_id: str
    reference: str  # the large exhibit
    key: str  # its BLAKE3: the store key
    size: int
    tiny: str  # the tiny exhibit, dispatched first to each team (untimed)
    store: CopyTimer  # w.store, timing its copies, for jitev's own dispatch


class CopyTimer:
    """The store as ``transfers.dispatch`` gets it, with the seconds of its last
    ``copy`` (only for the notes: the time of the rest is the read-back and the catalog)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.last = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def copy(self, namespace: str, key: str, target: str) -> Any:
        start = time.perf_counter()
        try:
            return self.store.copy(namespace, key, target)
        finally:
            self.last = time.perf_counter() - start


def receivers(repeat: int) -> tuple[str, ...]:
    """One receiving team per jitev measurement, and one for the flow."""
    return tuple(f"R{chr(ord('A') + i)}" for i in range(repeat + 1))


def stage(
    w: Any, work: Path, data: Path, expected: Any, name: str, teams: tuple[str, ...]
) -> Staged:
    from evidence.models import Person, Role

    lead = Person(LEAD, TEAM, frozenset({Role.LEAD}))
    case_id = open_case(w, others=teams, people=(lead,))
    tiny = warm_up_store(w, case_id, work, name)
    seconds, outcomes = timed(jitev_store_and_commit, w, case_id, data)
    check_outcome(outcomes, expected)
    say(f"{name}: ingested {expected.size / MiB:,.0f} MiB in {seconds:.1f} s (setup, not timed)")
    o = outcomes[0]
    return Staged(w, case_id, o.reference, o.blake3, o.size, tiny, CopyTimer(w.store))


def approved(s: Staged, reference: str, team: str) -> str:
    """A transfer of ``reference`` to ``team``, requested by ACTOR, approved by LEAD."""
    from evidence.models import Purpose, TransferState

    catalog = s.w.catalog
    transfer = transfers.request_transfer(
        catalog,
        catalog.person(ACTOR),
        case_id=s.case_id,
        references=[reference],
        to_team=team,
        purpose=Purpose.JIT,
        note="benchmark",
    )
    transfer = transfers.decide(catalog, catalog.person(LEAD), transfer.id, approve=True)
    if transfer.state is not TransferState.APPROVED:
        raise SystemExit(f"bench: transfer {transfer.id} is {transfer.state}, not approved")
    return str(transfer.id)


def jitev_dispatch(s: Staged, transfer_id: str) -> str:
    """``transfers.dispatch`` as the sending team's investigator; the new state."""

    catalog = s.w.catalog
    transfer = transfers.dispatch(s.store, catalog, catalog.person(ACTOR), transfer_id)
    return f"{transfer.state}{': ' + transfer.failure if transfer.failure else ''}"


def flow_dispatch(s: Staged, transfer_id: str) -> str:
    """The Prefect flow; its task takes ``wiring.current()``: the one ``configure`` made."""
    from flows.dispatch import dispatch

    result = dispatch(transfer_id, ACTOR)
    return f"{result['state']}{': ' + result['failure'] if result['failure'] else ''}"


def dispatched(how: Any, s: Staged, transfer_id: str) -> float:
    """Dispatch with ``how`` and check that the transfer is dispatched; the seconds."""
    seconds, state = timed(how, s, transfer_id)
    if state != "dispatched":
        raise SystemExit(f"bench: transfer {transfer_id} is {state}, not dispatched")
    return seconds


# -- the baselines -------------------------------------------------------------------------


class LocalBaseline:
    """``copy_file_range`` of the stored file + fsync, then one read of the copy."""

    name = "copy_file_range+fsync, read"

    def __init__(self, s: Staged, work: Path) -> None:
        self.source = s.w.store._object_path(TEAM, s.key)  # noqa: SLF001 - the very same file
        self.target = work / COPY

    def warm(self) -> None:
        warm(self.source)

    def before(self, i: int) -> None:
        pass

    def run(self, i: int) -> float:
        """The timed part; returns the seconds of the copy alone."""
        start = time.perf_counter()
        with self.source.open("rb") as src, self.target.open("xb") as out:
            size, copied = os.fstat(src.fileno()).st_size, 0
            while copied < size and (
                n := os.copy_file_range(src.fileno(), out.fileno(), size - copied)
            ):
                copied += n
            os.fsync(out.fileno())
        copy = time.perf_counter() - start
        if copied != size:
            raise SystemExit(f"bench: copy_file_range copied {copied} of {size} bytes")
        warm(self.target)  # the read: 8 MiB reads, nothing else
        return copy

    def after(self, i: int) -> None:
        self.target.unlink()


def read_object(client: Any, bucket: str, name: str) -> int:
    """Stream an object through nothing, in 8 MiB chunks; the bytes read."""
    response = client.get_object(bucket_name=bucket, object_name=name)
    try:
        return sum(len(chunk) for chunk in response.stream(READ))
    finally:
        response.close()
        response.release_conn()


class S3Baseline:
    """minio ``copy_object`` (``compose_object`` above 5 GiB) of the stored
    object into a plain bucket, then ``get_object`` of the copy."""

    def __init__(self, s: Staged, tag: str) -> None:
        store = s.w.store
        self.client = store._client  # noqa: SLF001 - the very same client
        self.source, self.key, self.size = store.bucket_name(TEAM), s.key, s.size
        self.part = store.copy_part_size
        self.tag = tag
        copy = "copy_object" if self.size <= self.part else "compose_object"
        self.name = f"minio {copy}, get_object"

    def warm(self) -> None:
        read_object(self.client, self.source, self.key)

    def bucket(self, i: int) -> str:
        return f"{self.tag}-plain-{i}"

    def before(self, i: int) -> None:
        self.client.make_bucket(bucket_name=self.bucket(i))

    def run(self, i: int) -> float:
        """The timed part; returns the seconds of the copy alone."""
        from minio.commonconfig import ComposeSource, CopySource

        start = time.perf_counter()
        if self.size <= self.part:
            source = CopySource(bucket_name=self.source, object_name=self.key)
            self.client.copy_object(bucket_name=self.bucket(i), object_name=COPY, source=source)
        else:
            sources = [
                ComposeSource(
                    bucket_name=self.source,
                    object_name=self.key,
                    offset=at,
                    length=min(self.part, self.size - at),
                )
                for at in range(0, self.size, self.part)
            ]
            self.client.compose_object(
                bucket_name=self.bucket(i), object_name=COPY, sources=sources
            )
        copy = time.perf_counter() - start
        read = read_object(self.client, self.bucket(i), COPY)
        if read != self.size:
            raise SystemExit(f"bench: read {read} bytes of the copy, not {self.size}")
        return copy

    def after(self, i: int) -> None:
        empty_bucket(self.client, self.bucket(i))


# -- a workload ------------------------------------------------------------------------------


def measure(name: str, s: Staged, base: Any, teams: tuple[str, ...], repeat: int) -> list[Row]:
    """``repeat`` pairs (baseline, then jitev), then the flow once."""
    rate = s.size / MiB
    bases: list[float] = []
    copies: list[float] = []
    ours: list[float] = []
    our_copies: list[float] = []
    for i in range(repeat):
        base.before(i)
        base.warm()
        seconds, copy = timed(base.run, i)
        base.after(i)
        bases.append(seconds)
        copies.append(copy)
        say(f"{name}: {base.name} {i + 1}/{repeat}: {rate / seconds:,.1f} MiB/s")

        dispatched(jitev_dispatch, s, approved(s, s.tiny, teams[i]))  # the team's bucket
        transfer_id = approved(s, s.reference, teams[i])
        base.warm()
        seconds = dispatched(jitev_dispatch, s, transfer_id)
        ours.append(seconds)
        our_copies.append(s.store.last)
        say(f"{name}: jitev transfers.dispatch {i + 1}/{repeat}: {rate / seconds:,.1f} MiB/s")

    started = time.perf_counter()
    dispatched(flow_dispatch, s, approved(s, s.tiny, teams[-1]))
    say(f"{name}: Prefect dispatch flow on a tiny transfer: {time.perf_counter() - started:.1f} s")
    transfer_id = approved(s, s.reference, teams[-1])
    base.warm()
    flow = dispatched(flow_dispatch, s, transfer_id)
    say(f"{name}: Prefect dispatch flow: {rate / flow:,.1f} MiB/s")

    k, j = bases.index(best(bases)), ours.index(best(ours))
    gib = f"{s.size / GiB:g} GiB"
    return [
        Row(
            f"{name}: dispatch 1x{gib}",
            "MiB/s",
            rate / best(ours),
            rate / best(bases),
            base.name,
            note=(
                f"baseline's best: copy {copies[k]:.2f} s + read {bases[k] - copies[k]:.2f} s; "
                f"jitev's best: store.copy {our_copies[j]:.2f} s + read-back (BLAKE3+SHA-256) "
                f"and catalog {ours[j] - our_copies[j]:.2f} s"
            ),
            samples={
                "jitev": ours,
                "baseline": bases,
                "jitev_copy": our_copies,
                "baseline_copy": copies,
            },
        ),
        Row(
            f"  flow: {name} dispatch flow",
            "MiB/s",
            rate / flow,
            rate / best(ours),
            "transfers.dispatch, best above",
            note=(
                f"flows.dispatch.dispatch end to end, one run: {flow:.2f} s, "
                f"{flow - best(ours):+.2f} s over the best direct dispatch (Prefect warmed up)"
            ),
            samples={"jitev": [flow], "baseline": ours},
        ),
    ]


def bench_local(work: Path, data: Path, expected: Any, repeat: int) -> list[Row]:
    home = work / "home-local"
    teams = receivers(repeat)
    w = configure(home, STORE_BACKEND="local", STORE_RETENTION_DAYS="1")
    s = stage(w, work, data, expected, "local", teams)
    rows = measure("local", s, LocalBaseline(s, work), teams, repeat)
    w.catalog.close()
    shutil.rmtree(home)
    return rows


def bench_s3(
    work: Path, data: Path, expected: Any, repeat: int, s3: S3Server, tag: str
) -> list[Row]:
    home = work / "home-s3"
    teams = receivers(repeat)
    w = configure(home, **s3.env(f"{tag}-d", 4))
    s = stage(w, work, data, expected, "s3", teams)
    rows = measure("s3", s, S3Baseline(s, tag), teams, repeat)
    w.catalog.close()
    shutil.rmtree(home)
    return rows


# -- main -------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = options(__doc__, "256 MiB, one repeat")
    args = sized(p, p.parse_args(argv))
    if args.repeat > 25:
        p.error("--repeat must be at most 25 (one receiving team per measurement)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    run = begin(args.skip_s3)
    rows: list[Row] = []
    with workdir(args.keep) as work:
        data = large_file(work, args.size_gib)
        size = data.stat().st_size
        expected = multihash_pass(data)
        rows += bench_local(work, data, expected, args.repeat)
        if run.s3 is not None:
            rows += bench_s3(work, data, expected, args.repeat, run.s3, run.tag)
        data.unlink()
    report(
        run,
        "dispatch",
        f"one exhibit of {size / GiB:g} GiB, best of {args.repeat}",
        rows,
        {"size_bytes": size, "repeat": args.repeat} if args.json else None,
        (
            "goal: none; the issue sets no numeric goal for dispatch, the ratios are "
            "for reference (jitev / baseline, same store, same run)",
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
