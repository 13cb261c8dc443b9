#!/usr/bin/env python3
"""Ingest benchmarks: jitev against baselines measured in the same run.

    .venv/bin/python bench/ingest.py [--size-gib 2] [--files 10000] [--events 100000]
        [--concurrency 4] [--repeat 2] [--repeat-files 1] [--skip-s3] [--quick] [--json]

or ``make bench`` (starts the test servers, exports the S3 variables, runs this).

Every figure is a throughput; every ratio is jitev / baseline from the same
process, on the same files, with the page cache in the same state (the source
is read through once before each timed measurement). Each large-file pair is
measured ``--repeat`` times, alternating baseline and jitev, and the best of
each is kept; the many-files workloads ``--repeat-files`` times. Nothing here
asserts on time: the goals are printed as met or missed.

Workloads
- ``local-large``: one file into the local store through ``ingesting.store_file``
  + ``ingesting.commit`` (plan, run, store, verify, commit, finish) against the
  one-pass BLAKE3+SHA-256 rate of ``MultiHash`` over 8 MiB reads on one thread.
  Also shown, as references, a plain copy of the file with fsync, and the same
  copy read through ``HashingReader`` (hash and durable write in one pass,
  without jitev: what the local store can reach on this machine).
- ``s3-large``: the same file through the same path with the S3 store against a
  plain minio ``put_object`` (same client object, same part size and parallel
  parts) into a plain bucket.
- ``s3-files``: ``--files`` files of 8 KiB through ``flows.ingest.run_ingest``
  (Prefect warmed up by an untimed tiny flow run; bucket created by it) against
  ``rclone copy`` of the folder with ``--transfers N --checkers N
  --s3-no-check-bucket`` into a fresh, pre-created bucket. ``local-files``: the
  same folder into the local store (no baseline).
- ``ledger``: ``evidence.ledger.verify`` over ``--events`` events built with
  ``ledger.link``, and the same number of events appended through a SQLite
  catalog and read back with ``SqlCatalog.events`` before verifying.

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
not two in a row; ``make bench`` starts a fresh server each time. Test data lives in a temporary directory under /tmp, removed at
the end. Prefect runs in ephemeral mode with its home in that directory unless
``PREFECT_API_URL`` names a server.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evidence import ingest as ingesting
from evidence import setup

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MiB = 1024 * 1024
GiB = 1024 * MiB
READ = 8 * MiB  # the baseline's read size (evidence.hashing.CHUNK)
SMALL = 8 * 1024
TEAM = "BG"
ACTOR = "Bench Runner"  # an investigator of TEAM: ingests (and requests hand-offs)
ADMIN = "Bench Admin"  # the first person of each bench catalog: registers people, opens cases
S3_ENV = ("JITEV_TEST_S3_ENDPOINT", "JITEV_TEST_S3_ACCESS_KEY", "JITEV_TEST_S3_SECRET_KEY")
SETTINGS_PREFIXES = ("JITEV_STORE_", "JITEV_DB_", "JITEV_INGEST_")


# -- results -------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    unit: str
    jitev: float
    baseline: float | None = None
    baseline_name: str = ""
    goal: float | None = None  # minimum jitev / baseline
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)  # seconds per measurement

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.jitev / self.baseline

    @property
    def verdict(self) -> str:
        if self.goal is None or self.ratio is None:
            return "info"
        return "met" if self.ratio >= self.goal else "MISSED"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(ratio=self.ratio, verdict=self.verdict)
        return d


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MiB/s":
        return f"{value:,.1f} MiB/s"
    return f"{value:,.0f} {unit}"


def table(rows: list[Row]) -> str:
    """The rows as a text table; the goal and result columns only if a row has a goal."""
    goals = any(r.goal is not None for r in rows)
    head = ("workload", "jitev", "baseline", "ratio", "goal", "result")[: 6 if goals else 4]
    body = [
        (
            r.workload,
            fmt(r.jitev, r.unit),
            f"{fmt(r.baseline, r.unit)} ({r.baseline_name})"
            if r.baseline
            else r.baseline_name or "-",
            f"{r.ratio:.2f}x" if r.ratio is not None else "-",
            f">= {r.goal:g}x" if r.goal is not None else "-",
            r.verdict,
        )[: len(head)]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*head), line.format(*("-" * w for w in widths))]
    out += [line.format(*b) for b in body]
    notes = [f"  {r.workload.strip()}: {r.note}" for r in rows if r.note]
    return "\n".join(out + (["", "notes:", *notes] if notes else []))


def timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


# -- environment and configuration ------------------------------------------------


def clean_settings_env() -> list[str]:
    dropped = []
    for name in list(os.environ):
        if name.startswith(SETTINGS_PREFIXES) or name in ("JITEV_HOME", "JITEV_CONFIG"):
            dropped.append(name)
            del os.environ[name]
    return dropped


def configure(home: Path, **env: str) -> Any:
    """Set ``JITEV_HOME`` and ``JITEV_<KEY>`` variables and build the wiring the
    flows will use (``wiring.current`` is cached: cleared first)."""
    from config import wiring

    try:
        previous = wiring.current() if wiring.current.cache_info().currsize else None
    except Exception:  # noqa: BLE001 - a broken earlier configuration
        previous = None
    if previous is not None:
        previous.catalog.close()
    clean_settings_env()
    os.environ["JITEV_HOME"] = str(home)
    for key, value in env.items():
        os.environ[f"JITEV_{key}"] = value
    wiring.current.cache_clear()
    return wiring.current()


def bench_case(case_id: str, others: tuple[str, ...] = ()) -> Any:
    """A case led by TEAM, with FR, or the team codes ``others``, as the other members."""
    from evidence.models import Case, Team

    teams = tuple(Team(code, "Benchmark", f"receiving team {code}") for code in others)
    return Case(
        id=case_id,
        title="Benchmark case",
        agreement_ref="JIT-BENCH",
        teams=(
            Team("BG", "Bulgaria", "GDBOP Sofia"),
            *(teams or (Team("FR", "France", "OFAST Marseille"),)),
        ),
        lead_team=TEAM,
    )


def register_people(catalog: Any, people: tuple[Any, ...] = ()) -> None:
    """Register ADMIN (the first person of an empty catalog must be an admin),
    then, added by ADMIN, ACTOR as an investigator of TEAM and ``people``.
    Who is registered already is left as it is."""
    from evidence.models import Person, Role
    from evidence.setup import add_person

    known = {p.name for p in catalog.people()}
    for person in (
        Person(ADMIN, TEAM, frozenset({Role.ADMIN})),
        Person(ACTOR, TEAM, frozenset({Role.INVESTIGATOR})),
        *people,
    ):
        if person.name not in known:
            add_person(catalog, ADMIN, person)


def open_case(
    w: Any, case_id: str = "BENCH", others: tuple[str, ...] = (), people: tuple[Any, ...] = ()
) -> str:
    """Register the bench's people (``register_people``), and open the case as ADMIN."""

    register_people(w.catalog, people)
    setup.open_case(w.catalog, bench_case(case_id, others), ADMIN)
    return case_id


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str

    @property
    def host(self) -> str:
        return self.endpoint.split("://", 1)[-1].rstrip("/")

    @property
    def secure(self) -> bool:
        return self.endpoint.startswith("https://")

    @property
    def url(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.host}"

    def env(self, prefix: str, concurrency: int) -> dict[str, str]:
        return {
            "STORE_BACKEND": "s3",
            "STORE_ENDPOINT": self.endpoint,
            "STORE_ACCESS_KEY": self.access_key,
            "STORE_SECRET_KEY": self.secret_key,
            "STORE_RETENTION_DAYS": "1",
            "STORE_BUCKET_PREFIX": prefix,
            "INGEST_CONCURRENCY": str(concurrency),
        }


def s3_server() -> S3Server | None:
    values = [os.environ.get(name, "") for name in S3_ENV]
    return S3Server(*values) if all(values) else None


# -- test data -------------------------------------------------------------------


def write_random(path: Path, size: int) -> None:
    with path.open("wb") as out:
        left = size
        while left:
            n = min(READ, left)
            out.write(os.urandom(n))
            left -= n


def small_files(folder: Path, count: int, salt: bytes = b"") -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        # random bytes; the index makes every file distinct whatever urandom gives
        (folder / f"f{i:06d}.bin").write_bytes(
            salt + i.to_bytes(8, "big") + os.urandom(SMALL - 8 - len(salt))
        )
    return folder


def warm(path: Path) -> None:
    """Read the file through, so that it is in the page cache for the next measurement."""
    with path.open("rb", buffering=0) as f:
        while f.read(READ):
            pass


def warm_tree(folder: Path) -> None:
    for p in sorted(folder.iterdir()):
        p.read_bytes()


def best(samples: list[float]) -> float:
    return min(samples)


# -- workloads: large file ---------------------------------------------------------


def multihash_pass(path: Path) -> Any:
    from evidence.hashing import MultiHash

    h = MultiHash()
    with path.open("rb", buffering=0) as f:
        while chunk := f.read(READ):
            h.update(chunk)
    return h.digests()


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


# -- workloads: many small files -------------------------------------------------------

_WARMED = False


def flow_ingest(w: Any, case_id: str, folder: Path, concurrency: int) -> dict[str, Any]:
    from flows.ingest import run_ingest

    return run_ingest(concurrency, case_id=case_id, team=TEAM, actor=ACTOR, paths=[str(folder)])


def prepare_flow(w: Any, work: Path, concurrency: int, name: str) -> str:
    """Open the case and run one tiny, untimed flow: the first one in the
    process starts Prefect; every one creates the team's bucket (S3)."""
    global _WARMED
    case_id = open_case(w)
    tiny = small_files(work / f"tiny-{name}", 1, salt=name.encode())
    started = time.perf_counter()
    result = flow_ingest(w, case_id, tiny, concurrency)
    if [o["status"] for o in result["outcomes"]] != ["stored"]:
        raise SystemExit(f"bench: the warm-up flow run failed: {result!r}")
    if not _WARMED:
        say(f"Prefect warm-up flow run: {time.perf_counter() - started:.1f} s (not timed)")
        _WARMED = True
    shutil.rmtree(tiny)
    return case_id


def check_flow(result: dict[str, Any], count: int) -> None:
    statuses = [o["status"] for o in result["outcomes"]]
    if len(statuses) != count or set(statuses) != {"stored"}:
        bad = [o for o in result["outcomes"] if o["status"] != "stored"][:3]
        raise SystemExit(
            f"bench: {len(statuses)} outcomes for {count} files; first problems: {bad!r}"
        )


def rclone_config(work: Path, s3: S3Server) -> Path:
    conf = work / "rclone.conf"
    conf.write_text(
        "[bench]\n"
        "type = s3\n"
        "provider = Ceph\n"
        f"access_key_id = {s3.access_key}\n"
        f"secret_access_key = {s3.secret_key}\n"
        f"endpoint = {s3.url}\n"
    )
    conf.chmod(0o600)
    return conf


def rclone_copy(conf: Path, folder: Path, bucket: str, concurrency: int, s3: S3Server) -> None:
    command = [
        "rclone", "--config", str(conf), "copy", str(folder), f"bench:{bucket}",
        "--transfers", str(concurrency), "--checkers", str(concurrency),
        "--s3-no-check-bucket", "--quiet",
    ]  # fmt: skip
    # rclone's AWS SDK fails with "LoadCustomCABundleError ... unsupported
    # transport" when AWS_CA_BUNDLE is set: hand the bundle over as --ca-cert
    # instead (https only), and keep RCLONE_* settings of the shell out.
    env = {
        k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE" and not k.startswith("RCLONE_")
    }
    if s3.secure and os.environ.get("AWS_CA_BUNDLE"):
        command += ["--ca-cert", os.environ["AWS_CA_BUNDLE"]]
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(
            f"bench: {' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}"
        )


def count_objects(client: Any, bucket: str) -> int:
    return sum(1 for _ in client.list_objects(bucket_name=bucket, recursive=True))


def empty_bucket(client: Any, bucket: str) -> None:
    from minio.deleteobjects import DeleteObject

    try:
        names = [
            DeleteObject(o.object_name)
            for o in client.list_objects(bucket_name=bucket, recursive=True)
        ]
        for error in client.remove_objects(bucket_name=bucket, delete_object_list=names):
            say(f"could not remove {error}")
        client.remove_bucket(bucket_name=bucket)
    except Exception as exc:  # noqa: BLE001 - best effort cleanup of baseline data
        say(f"could not remove the baseline bucket {bucket}: {exc}")


def bench_s3_files(
    work: Path, folder: Path, count: int, repeat: int, s3: S3Server, tag: str, concurrency: int
) -> Row:
    rclone = shutil.which("rclone")
    if rclone is None:
        raise SystemExit("bench: rclone is not installed: apt-get install -y rclone")
    version = subprocess.run(
        [rclone, "version"], capture_output=True, text=True, check=False
    ).stdout.split("\n")[0]
    conf = rclone_config(work, s3)
    copies: list[float] = []
    ingests: list[float] = []
    for i in range(repeat):
        home = work / f"home-s3-files-{i}"
        w = configure(home, **s3.env(f"{tag}-f{i}", concurrency))
        case_id = prepare_flow(w, work, concurrency, f"s3-{i}")
        client = w.store._client  # noqa: SLF001 - a raw client on the same server, for setup only
        bucket = f"{tag}-rclone-{i}"
        client.make_bucket(bucket_name=bucket)  # --s3-no-check-bucket: rclone will not create it

        warm_tree(folder)
        seconds, _ = timed(rclone_copy, conf, folder, bucket, concurrency, s3)
        copied = count_objects(client, bucket)
        if copied != count:
            raise SystemExit(f"bench: rclone copied {copied} objects, not {count}")
        copies.append(seconds)
        say(f"s3-files: rclone copy {i + 1}/{repeat}: {count / seconds:,.0f} files/s")
        empty_bucket(client, bucket)

        warm_tree(folder)
        seconds, result = timed(flow_ingest, w, case_id, folder, concurrency)
        check_flow(result, count)
        ingests.append(seconds)
        say(f"s3-files: jitev run_ingest {i + 1}/{repeat}: {count / seconds:,.0f} files/s")
        w.catalog.close()
        shutil.rmtree(home)
    return Row(
        f"s3-files: {count}x8 KiB into S3",
        "files/s",
        count / best(ingests),
        count / best(copies),
        f"rclone copy --transfers {concurrency}",
        1.5,
        f"{version}; run_ingest(concurrency={concurrency}), Prefect warmed up",
        samples={"jitev": ingests, "baseline": copies},
    )


def bench_local_files(work: Path, folder: Path, count: int, repeat: int, concurrency: int) -> Row:
    ingests: list[float] = []
    for i in range(repeat):
        home = work / f"home-local-files-{i}"
        w = configure(
            home,
            STORE_BACKEND="local",
            STORE_RETENTION_DAYS="1",
            INGEST_CONCURRENCY=str(concurrency),
        )
        case_id = prepare_flow(w, work, concurrency, f"local-{i}")
        warm_tree(folder)
        seconds, result = timed(flow_ingest, w, case_id, folder, concurrency)
        check_flow(result, count)
        ingests.append(seconds)
        say(f"local-files: jitev run_ingest {i + 1}/{repeat}: {count / seconds:,.0f} files/s")
        w.catalog.close()
        shutil.rmtree(home)
    return Row(
        f"local-files: {count}x8 KiB into local store",
        "files/s",
        count / best(ingests),
        None,
        "(no baseline)",
        note=f"run_ingest(concurrency={concurrency}); SQLite catalog, synchronous=FULL",
        samples={"jitev": ingests},
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
    if not check.ok or check.events != count:
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
    if not check.ok or check.events != count:
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


# -- running a bench (shared with bench/dispatch.py) --------------------------------------


@dataclass
class Run:
    """What every bench run has: its start, the S3 server (or why there is
    none), and a unique bucket prefix for what it writes there."""

    s3: S3Server | None
    skipped: str
    tag: str
    started: float = field(default_factory=time.perf_counter)
    load: float = field(default_factory=lambda: os.getloadavg()[0])


def begin(skip_s3: bool) -> Run:
    """Drop inherited jitev settings and find the S3 server (or say why not)."""
    started, load = time.perf_counter(), os.getloadavg()[0]
    dropped = clean_settings_env()
    if dropped:
        say(f"ignoring inherited jitev settings: {', '.join(sorted(dropped))}")
    s3 = None if skip_s3 else s3_server()
    skipped = ""
    if skip_s3:
        skipped = "S3 workloads skipped (--skip-s3)"
    elif s3 is None:
        skipped = f"S3 workloads skipped: {', '.join(S3_ENV)} not set (run `make bench`)"
    if skipped:
        say(skipped)
    return Run(s3, skipped, f"jb{uuid.uuid4().hex[:10]}", started, load)


@contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    """A temporary directory under /tmp that is also Prefect's home (unless
    ``PREFECT_API_URL`` names a server); the wiring is closed on the way out."""
    path = Path(tempfile.mkdtemp(prefix="jitev-bench-", dir="/tmp"))
    if "PREFECT_API_URL" not in os.environ:
        os.environ.setdefault("PREFECT_HOME", str(path / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        yield path
        from config import wiring

        if wiring.current.cache_info().currsize:
            wiring.current().catalog.close()
        wiring.current.cache_clear()
    finally:
        if keep:
            say(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def report(
    run: Run,
    name: str,
    details: str,
    rows: list[Row],
    as_json: dict[str, Any] | None,
    remarks: tuple[str, ...] = (),
) -> None:
    """Print the header, the table, what was skipped, ``remarks`` and the total
    time; with ``as_json`` (the run's own fields), the results as JSON last."""
    elapsed = time.perf_counter() - run.started
    load = (run.load, os.getloadavg()[0])
    print()
    print(
        f"jitev {name} bench: {platform.python_version()}, {os.cpu_count()} CPUs, {details}, "
        f"load average {load[0]:.2f} at start, {load[1]:.2f} at end"
        + (f", S3 {run.s3.url} (buckets {run.tag}-*)" if run.s3 else "")
    )
    print(table(rows))
    for line in (run.skipped, *remarks):
        if line:
            print(f"\n{line}")
    print(f"\ntotal bench time {elapsed:,.0f} s")
    if as_json is not None:
        print(
            json.dumps(
                {
                    "python": platform.python_version(),
                    "cpus": os.cpu_count(),
                    **as_json,
                    "load_average": list(load),
                    "s3": run.s3.url if run.s3 else None,
                    "bucket_prefix": run.tag if run.s3 else None,
                    "skipped": run.skipped or None,
                    "seconds": elapsed,
                    "results": [r.as_dict() for r in rows],
                }
            )
        )


def options(doc: str, quick: str) -> argparse.ArgumentParser:
    """A parser with the options every bench has; ``quick`` says what --quick runs."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument(
        "--size-gib", type=float, default=None, help="size of the large file (default 2)"
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="measurements of each large-file pair; the best counts (default 2, quick 1)",
    )
    p.add_argument("--skip-s3", action="store_true", help="no S3 workloads, no server needed")
    p.add_argument("--quick", action="store_true", help=f"smoke check: {quick}")
    p.add_argument(
        "--json", action="store_true", help="also print the results as JSON (last line of stdout)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    return p


def sized(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Fill in --size-gib (2, quick 0.25) and --repeat (2, quick 1), and check them."""
    args.size_gib = args.size_gib or (0.25 if args.quick else 2.0)
    args.repeat = args.repeat or (1 if args.quick else 2)
    if args.size_gib * GiB < 16 * MiB or args.repeat < 1:
        p.error("--size-gib must give at least 16 MiB, and --repeat >= 1")
    return args


def large_file(work: Path, size_gib: float) -> Path:
    """``size_gib`` GiB (whole MiB) of random bytes, synced to disk."""
    size = int(size_gib * GiB) // MiB * MiB
    data = work / "large.bin"
    say(f"writing {size / MiB:,.0f} MiB of random bytes under {work}")
    write_random(data, size)
    os.sync()
    return data


# -- main -------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = options(__doc__, "256 MiB, 1000 files, 10000 events, one repeat")
    p.add_argument("--files", type=int, default=None, help="number of 8 KiB files (default 10000)")
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
    args = sized(p, p.parse_args(argv))
    args.files = args.files or (1000 if args.quick else 10000)
    args.events = args.events or (10000 if args.quick else 100000)
    if args.files < 1 or args.events < 2 or args.repeat_files < 1:
        p.error("--files must be >= 1, --events >= 2, --repeat-files >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    run = begin(args.skip_s3)
    s3, tag = run.s3, run.tag
    rows: list[Row] = []
    with workdir(args.keep) as work:
        data = large_file(work, args.size_gib)
        size = data.stat().st_size
        say(f"writing {args.files} files of 8 KiB under {work}")
        folder = small_files(work / "small", args.files)
        os.sync()

        rows += bench_local_large(work, data, args.repeat)
        if s3 is not None:
            rows.append(bench_s3_large(work, data, args.repeat, s3, tag, args.concurrency))
        data.unlink()
        if s3 is not None:
            rows.append(
                bench_s3_files(
                    work, folder, args.files, args.repeat_files, s3, tag, args.concurrency
                )
            )
        rows.append(
            bench_local_files(work, folder, args.files, args.repeat_files, args.concurrency)
        )
        rows += bench_ledger(work, args.events)

    report(
        run,
        "ingest",
        f"large file {size / GiB:g} GiB, {args.files} small files, {args.events} events, "
        f"concurrency {args.concurrency}, best of {args.repeat} (large) / {args.repeat_files} (files)",
        rows,
        {
            "size_bytes": size,
            "files": args.files,
            "events": args.events,
            "concurrency": args.concurrency,
            "repeat": args.repeat,
            "repeat_files": args.repeat_files,
        }
        if args.json
        else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
