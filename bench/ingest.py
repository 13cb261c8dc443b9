#!/usr/bin/env python3
"""Ingest benchmarks: jitev against baselines measured in the same run.

    .venv/bin/python bench/ingest.py [--size-gib 2] [--files 10000] [--many-files 100000]
        [--events 100000] [--concurrency 4] [--repeat 2] [--repeat-files 1] [--rounds 5]
        [--skip-s3] [--skip-web] [--quick] [--json] [--keep]

or ``make bench`` (starts the test servers, exports the S3 variables, installs
hashdeep and rclone, runs this).

Every ratio is jitev / baseline from the same process, on the same files,
with the page cache in the same state (the source is read through once
before each timed measurement): for a throughput (MiB/s, files/s) the
speeds' ratio, whose goal is a minimum; for a time (s) the times' ratio,
whose goal is a maximum. Each large-file pair is measured ``--repeat`` times,
alternating baseline and jitev, and the best of each is kept; the many-files
workloads ``--repeat-files`` times; the one-file commands ``--rounds`` times,
medians compared. Nothing here asserts on time: the goals are printed as met
or missed.

Workloads in this process (jitev's code called directly)
- ``local-large``: one file into the local store through ``ingesting.store_file``
  + ``ingesting.commit`` (plan, run, store, verify, commit, finish) against the
  one-pass BLAKE3+SHA-256 rate of ``MultiHash`` over 8 MiB reads on one thread.
  Also shown, as references, a plain copy of the file with fsync, and the same
  copy read through ``HashingReader`` (hash and durable write in one pass,
  without jitev: what the local store can reach on this machine).
- ``s3-large``: the same file through the same path with the S3 store against a
  plain minio ``put_object`` (same client object, same part size and parallel
  parts) into a plain bucket.
- ``local-files``: ``--files`` files of 8 KiB through ``flows.ingest.run_ingest``
  (Prefect warmed up by an untimed tiny flow run) into the local store (no
  baseline); ``s3-files`` has the same as a reference row.
- ``ledger``: ``evidence.ledger.verify`` over ``--events`` events built with
  ``ledger.link``, and the same number of events appended through a SQLite
  catalog and read back with ``SqlCatalog.events`` before verifying.

Whole ``jitev`` commands (bench/cli.py, bench/commands.py), as a person runs
them: ``jitev setup config/jit.example.toml`` in a fresh ``JITEV_HOME``, an
untimed tiny ``jitev ingest`` and ``jitev exhibits list`` first (and ``jitev
engine start`` when jitev has it), then ``jitev ingest ... --case DANUBE
--team BG --as "Insp. Petrova"``:
- ``s3-files``: the ``--files`` folder into S3 against ``rclone copy`` with
  ``--transfers N --checkers N --s3-no-check-bucket`` into a fresh,
  pre-created bucket (goal 1.5x).
- ``cli-files``: the same folder into the local store against ``bagit.py
  --processes 2 --sha256 --sha512`` on a fresh copy (goal 1.0x); references
  ``hashdeep -r -c sha256`` and ``cp -r`` + ``sync``. ``rerun``: the same
  command again, against its first run (goal: at most 0.1x the time).
- ``one file``: the ingest of one 8 KiB file (at most 1.5x) and ``jitev
  transfer approve`` of a one-exhibit hand-off with its dispatch (at most 2x),
  against ``jitev exhibits list`` in the same home.
- ``many-files``: ``--many-files`` files of 4 KiB in one command: the peak RSS
  of its process tree (at most 300 MiB) and its files/s; ``resumable``: the
  same command killed with SIGKILL half way (in a fresh home), run again,
  every file committed exactly once.
- ``web`` (bench/web.py, unless ``--skip-web``): the large file uploaded
  through the JSON API to ``jitev serve``, against ``jitev ingest`` of it and
  against the in-process path (goal 0.9x).

jitev is configured through environment variables, as a user would
(``JITEV_HOME``, ``JITEV_STORE_*``, ``JITEV_INGEST_CONCURRENCY``); inherited
``JITEV_STORE_*``/``JITEV_DB_*``/``JITEV_INGEST_*``/``JITEV_CONFIG`` variables
are ignored. The S3 server comes from ``JITEV_TEST_S3_ENDPOINT``,
``JITEV_TEST_S3_ACCESS_KEY`` and ``JITEV_TEST_S3_SECRET_KEY``; without them the
S3 workloads are skipped. Objects written by jitev stay under a one-day
COMPLIANCE retention in buckets with a unique prefix per run; baseline objects
are removed (RGW frees their space only at its next garbage collection,
about two hours later). A full run leaves about 2 x ``--size-gib`` x
``--repeat`` GiB (8 GiB) on the S3 server for that long (RGW copies the staged
object by reference): the 20 GiB OSD of ``scripts/rgw.sh`` takes one full run,
not two in a row; ``make bench`` starts a fresh server each time. Test data
lives in a temporary directory under /tmp, removed at the end. Prefect runs
in ephemeral mode with its home in that directory unless ``PREFECT_API_URL``
names a server (the commands' Prefect home is another one there, shared by
the commands, which run one at a time).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evidence import ingest as ingesting

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.commands import bench_folder, bench_many_files, bench_one_file  # noqa: E402
from bench.common import (  # noqa: E402 - after the path is set
    ACTOR,
    SMALL,
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
    small_files,
    timed,
    warm,
    workdir,
)
from bench.files import bench_local_files, bench_s3_files  # noqa: E402
from bench.web import bench_web  # noqa: E402

# -- workloads: large file ---------------------------------------------------------


def copy_fsync(path: Path, target: Path, hashed: bool = False) -> None:
    """A durable write of the same bytes without jitev: copy in 1 MiB chunks
    (the local store's write size) and fsync; with ``hashed``, read through
    ``HashingReader`` (digests on its worker thread, as jitev does)."""
    from evidence.hashing import HashingReader

    with path.open("rb", buffering=0) as raw, target.open("wb") as out:
        src = HashingReader(raw) if hashed else raw
        while chunk := src.read(MiB):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
        if isinstance(src, HashingReader):
            src.digests()


def jitev_store_and_commit(w: Any, case_id: str, path: Path) -> Any:
    """The jitev ingest path of one file, without Prefect: plan, start a run,
    stream once into the store (which verifies), commit exhibit and event."""
    from evidence.models import ExhibitMetadata

    plan = ingesting.plan_ingest(
        w.catalog,
        case_id=case_id,
        team=TEAM,
        actor=ACTOR,
        paths=[str(path)],
        defaults=ExhibitMetadata(),
    )
    run = w.catalog.start_run(case_id, TEAM, ACTOR, plan.fingerprint)
    item = ingesting.store_file(w.store, TEAM, plan.files[0])
    outcomes = ingesting.commit(w.catalog, plan, run, [item])
    w.catalog.finish_run(run.id)
    return outcomes


def warm_up_store(w: Any, case_id: str, work: Path, name: str) -> str:
    """One tiny, untimed ingest through the same path: creates the team's
    bucket (S3; the baseline's bucket is made untimed too) and warms the
    catalog's statement cache, so that the timed ingest measures the bytes.
    Returns the tiny exhibit's reference."""
    tiny = work / f"tiny-{name}.bin"
    tiny.write_bytes(name.encode() + os.urandom(SMALL))
    outcomes = jitev_store_and_commit(w, case_id, tiny)
    tiny.unlink()
    if [o.status for o in outcomes] != ["stored"]:
        raise SystemExit(f"bench: the warm-up ingest failed: {outcomes!r}")
    return str(outcomes[0].reference)


def check_outcome(outcomes: list[Any], expected: Any) -> None:
    o = outcomes[0]
    if (
        len(outcomes) != 1
        or o.status != "stored"
        or (o.size, o.blake3, o.sha256)
        != (
            expected.size,
            expected.blake3,
            expected.sha256,
        )
    ):
        raise SystemExit(f"bench: unexpected ingest outcome {outcomes!r}, expected {expected!r}")


def bench_local_large(work: Path, data: Path, repeat: int) -> list[Row]:
    size = data.stat().st_size
    hashes: list[float] = []
    copies: list[float] = []
    hashed_copies: list[float] = []
    ingests: list[float] = []
    expected = None
    target = work / "copy.bin"
    # The first large write into a fresh area of a thin-provisioned VM disk is
    # much slower than the next ones: prime the disk once, untimed, so that the
    # first measurement is not the only one to pay for it.
    copy_fsync(data, target)
    target.unlink()
    for i in range(repeat):
        warm(data)
        seconds, expected = timed(multihash_pass, data)
        hashes.append(seconds)
        say(f"local-large: MultiHash pass {i + 1}/{repeat}: {size / MiB / seconds:,.1f} MiB/s")

        home = work / f"home-local-large-{i}"
        w = configure(home, STORE_BACKEND="local", STORE_RETENTION_DAYS="1")
        case_id = open_case(w)
        warm_up_store(w, case_id, work, f"local-large-{i}")
        warm(data)
        seconds, outcomes = timed(jitev_store_and_commit, w, case_id, data)
        check_outcome(outcomes, expected)
        ingests.append(seconds)
        say(f"local-large: jitev store+commit {i + 1}/{repeat}: {size / MiB / seconds:,.1f} MiB/s")
        w.catalog.close()
        shutil.rmtree(home)

        for hashed, samples, name in (
            (False, copies, "copy+fsync"),
            (True, hashed_copies, "hash+copy+fsync"),
        ):
            warm(data)
            seconds, _ = timed(copy_fsync, data, target, hashed)
            target.unlink()
            samples.append(seconds)
            say(f"local-large: {name} {i + 1}/{repeat}: {size / MiB / seconds:,.1f} MiB/s")
    gib = f"{size / GiB:g} GiB"
    rate = size / MiB
    return [
        Row(
            f"local-large: 1x{gib} into local store",
            "MiB/s",
            rate / best(ingests),
            rate / best(hashes),
            "MultiHash 1 thread",
            0.9,
            samples={"jitev": ingests, "baseline": hashes},
        ),
        Row(
            "  reference: same vs copy+fsync",
            "MiB/s",
            rate / best(ingests),
            rate / best(copies),
            "copy+fsync, no hash",
            None,
            "the disk's durable write rate without hashing",
            samples={"jitev": ingests, "baseline": copies},
        ),
        Row(
            "  reference: same vs hash+copy+fsync",
            "MiB/s",
            rate / best(ingests),
            rate / best(hashed_copies),
            "HashingReader->file+fsync",
            None,
            "one pass that hashes and writes durably, without jitev: the local store's ceiling here",
            samples={"jitev": ingests, "baseline": hashed_copies},
        ),
    ]


def plain_put(client: Any, bucket: str, data: Path, part: int, parallel: int) -> None:
    with data.open("rb") as f:
        client.put_object(
            bucket_name=bucket,
            object_name="large.bin",
            data=f,
            length=data.stat().st_size,
            part_size=part,
            num_parallel_uploads=parallel,
        )


def bench_s3_large(
    work: Path, data: Path, repeat: int, s3: S3Server, tag: str, concurrency: int
) -> Row:
    size = data.stat().st_size
    puts: list[float] = []
    ingests: list[float] = []
    expected = multihash_pass(data)
    part = parallel = 0
    for i in range(repeat):
        home = work / f"home-s3-large-{i}"
        w = configure(home, **s3.env(f"{tag}-l{i}", concurrency))
        case_id = open_case(w)
        warm_up_store(w, case_id, work, f"s3-large-{i}")
        store = w.store
        part, parallel = store.part_size, store.parallel_parts
        # The baseline uses the store's own minio client: same endpoint, pool,
        # timeouts, retries; same part size and parallel parts. Into a plain bucket.
        client = store._client  # noqa: SLF001 - the point is the very same client
        plain = f"{tag}-plain-{i}"
        client.make_bucket(bucket_name=plain)

        warm(data)
        seconds, _ = timed(plain_put, client, plain, data, part, parallel)
        puts.append(seconds)
        say(f"s3-large: minio put_object {i + 1}/{repeat}: {size / MiB / seconds:,.1f} MiB/s")
        client.remove_object(bucket_name=plain, object_name="large.bin")
        client.remove_bucket(bucket_name=plain)

        warm(data)
        seconds, outcomes = timed(jitev_store_and_commit, w, case_id, data)
        check_outcome(outcomes, expected)
        ingests.append(seconds)
        say(f"s3-large: jitev store+commit {i + 1}/{repeat}: {size / MiB / seconds:,.1f} MiB/s")
        w.catalog.close()
        shutil.rmtree(home)
    return Row(
        f"s3-large: 1x{size / GiB:g} GiB into S3",
        "MiB/s",
        size / MiB / best(ingests),
        size / MiB / best(puts),
        f"minio put_object, {part // MiB} MiB parts x{parallel}",
        0.9,
        samples={"jitev": ingests, "baseline": puts},
    )


# -- workload: ledger --------------------------------------------------------------------


def drafts(count: int, run_id: str) -> Iterator[Any]:
    """INGESTED drafts with the details a real ingest records."""
    from blake3 import blake3

    from evidence.models import Action
    from evidence.ports import EventDraft

    for i in range(count):
        digest = blake3(i.to_bytes(8, "big")).hexdigest()
        yield EventDraft(
            Action.INGESTED,
            ACTOR,
            TEAM,
            f"{TEAM}-EX-{i + 1:04d}",
            {
                "source": f"seized/phone-01/photos/IMG_{i:06d}.jpg",
                "size": 8192 + i,
                "blake3": digest,
                "sha256": hashlib.sha256(digest.encode()).hexdigest(),
                "media_type": "image/jpeg",
                "store": f"{TEAM}/{digest}",
                "run": run_id,
                "retention_until": "2035-01-01T00:00:00+00:00",
            },
        )


def read_only(catalog: Any, case_id: str) -> int:
    return sum(1 for _ in catalog.events(case_id))


def read_and_verify(catalog: Any, case_id: str) -> Any:
    from evidence import ledger

    return ledger.verify(case_id, catalog.events(case_id))


def bench_ledger(work: Path, count: int) -> list[Row]:
    from evidence import ledger
    from evidence.models import Action
    from evidence.ports import EventDraft

    case_id = "LEDGER"
    start = datetime.now(UTC)

    def build() -> list[Any]:
        events: list[Any] = []
        head = None
        opening = EventDraft(Action.CASE_OPENED, ACTOR, TEAM, None, {"title": "Benchmark case"})
        head = ledger.link(case_id, head, opening, start)
        events.append(head)
        for i, draft in enumerate(drafts(count - 1, uuid.uuid4().hex)):
            head = ledger.link(case_id, head, draft, start + timedelta(microseconds=i + 1))
            events.append(head)
        return events

    seconds_link, events = timed(build)
    say(f"ledger: link {count / seconds_link:,.0f} events/s")
    seconds_mem, check = timed(ledger.verify, case_id, events)
    if not check.ok or check.facts.events != count:
        raise SystemExit(f"bench: in-memory chain does not verify: {check.as_dict()}")
    say(f"ledger: verify in memory {count / seconds_mem:,.0f} events/s")
    del events

    home = work / "home-ledger"
    w = configure(home, STORE_BACKEND="local")
    open_case(w, case_id)
    run_id = uuid.uuid4().hex

    def append_all() -> None:
        pending = list(drafts(count - 1, run_id))
        for at in range(0, len(pending), 1000):
            with w.catalog.transaction(case_id) as tx:
                for draft in pending[at : at + 1000]:
                    tx.append(draft)

    seconds_append, _ = timed(append_all)
    say(f"ledger: append through SqlCatalog {count / seconds_append:,.0f} events/s (setup)")
    seconds_read, n = timed(read_only, w.catalog, case_id)
    if n != count:
        raise SystemExit(f"bench: read {n} events back, not {count}")
    seconds_sql, check = timed(read_and_verify, w.catalog, case_id)
    if not check.ok or check.facts.events != count:
        raise SystemExit(f"bench: SQLite chain does not verify: {check.as_dict()}")
    say(f"ledger: read+verify from SQLite {count / seconds_sql:,.0f} events/s")
    w.catalog.close()
    shutil.rmtree(home)
    return [
        Row(
            f"ledger: verify {count} events in memory",
            "events/s",
            count / seconds_mem,
            None,
            "(no baseline)",
            note=f"building them with ledger.link: {count / seconds_link:,.0f} events/s",
            samples={"jitev": [seconds_mem]},
        ),
        Row(
            f"ledger: read {count} from SQLite + verify",
            "events/s",
            count / seconds_sql,
            None,
            "(no baseline)",
            note=(
                f"SqlCatalog.events alone: {count / seconds_read:,.0f} events/s; appending them "
                f"(tx.append, 1000 a transaction): {count / seconds_append:,.0f} events/s"
            ),
            samples={
                "jitev": [seconds_sql],
                "read_only": [seconds_read],
                "append": [seconds_append],
            },
        ),
    ]


# -- main -------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = options(
        __doc__,
        "256 MiB, 1000 files, 2000 many-files, 10000 events, 3 rounds, one repeat",
    )
    p.add_argument("--files", type=int, default=None, help="number of 8 KiB files (default 10000)")
    p.add_argument(
        "--many-files",
        type=int,
        default=None,
        help="4 KiB files of the many-files ingest and its kill -9 (default 100000; 0: skip)",
    )
    p.add_argument(
        "--events", type=int, default=None, help="custody events to verify (default 100000)"
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="JITEV_INGEST_CONCURRENCY and rclone --transfers/--checkers",
    )
    p.add_argument(
        "--repeat-files",
        type=int,
        default=1,
        help="measurements of each many-files workload (default 1)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="one-file commands timed, medians compared (default 5, quick 3)",
    )
    p.add_argument("--skip-web", action="store_true", help="no web upload (bench/web.py)")
    args = sized(p, p.parse_args(argv))
    args.files = args.files or (1000 if args.quick else 10000)
    if args.many_files is None:
        args.many_files = 2000 if args.quick else 100000
    args.events = args.events or (10000 if args.quick else 100000)
    args.rounds = args.rounds or (3 if args.quick else 5)
    if args.files < 1 or args.events < 2 or args.repeat_files < 1 or args.rounds < 1:
        p.error("--files must be >= 1, --events >= 2, --repeat-files and --rounds >= 1")
    if args.many_files and args.many_files < 4:
        p.error("--many-files must be 0 (skip) or >= 4")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    run = begin(args.skip_s3)
    s3, tag = run.s3, run.tag
    rows: list[Row] = []
    remarks: list[str] = []
    with workdir(args.keep) as work:
        data = large_file(work, args.size_gib)
        size = data.stat().st_size
        say(f"writing {args.files} files of 8 KiB under {work}")
        folder = small_files(work / "small", args.files)
        os.sync()

        rows += bench_local_large(work, data, args.repeat)
        if s3 is not None:
            rows.append(bench_s3_large(work, data, args.repeat, s3, tag, args.concurrency))
        if args.skip_web:
            remarks.append("web upload skipped (--skip-web)")
        else:
            rows += bench_web(work, data, args.repeat)
        data.unlink()
        if s3 is not None:
            rows += bench_s3_files(
                work, folder, args.files, args.repeat_files, s3, tag, args.concurrency
            )
        rows.append(
            bench_local_files(work, folder, args.files, args.repeat_files, args.concurrency)
        )
        rows += bench_folder(work, folder, args.files, args.repeat_files, args.concurrency)
        rows += bench_one_file(work, args.rounds)
        if args.many_files:
            rows += bench_many_files(work, args.many_files, args.concurrency)
        else:
            remarks.append("many-files and resumable skipped (--many-files 0)")
        rows += bench_ledger(work, args.events)

    report(
        run,
        "ingest",
        f"large file {size / GiB:g} GiB, {args.files} small files, {args.many_files} many-files, "
        f"{args.events} events, concurrency {args.concurrency}, best of {args.repeat} (large) / "
        f"{args.repeat_files} (files), median of {args.rounds} (one file)",
        rows,
        {
            "size_bytes": size,
            "files": args.files,
            "many_files": args.many_files,
            "events": args.events,
            "concurrency": args.concurrency,
            "repeat": args.repeat,
            "repeat_files": args.repeat_files,
            "rounds": args.rounds,
        }
        if args.json
        else None,
        tuple(remarks),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
