#!/usr/bin/env python3
"""Scale benchmark: the fixity audit against a plain hashing pass, and a team's
workers (one, then two) on a batch of small dispatches, in the same run.

    .venv/bin/python bench/scale.py [--size-gib 0.25] [--dispatches 8] [--limits 4,1]
                                    [--repeat 2] [--quick] [--json] [--keep]

One JIT home (``jitev setup``, local store) on a Prefect server this bench
starts and stops by PID; every command runs with ``PREFECT_API_URL`` and
``JITEV_ENGINE_WORK_POOL=bench``.

1. **Audit throughput.** Random 8-32 MiB files ingested, then
   ``evidence.fixity.audit_fixity(all_copies=True)`` timed in this process
   against the same object files read once each through
   ``evidence.hashing.MultiHash`` (BLAKE3 + SHA-256: an auditor's own
   script). The page cache is warmed before each; best of 3 x ``--repeat``
   alternating passes. Ratio = baseline seconds / audit seconds (goal >= 0.8).
2. **Two workers against one.** ``jitev deploy``; for each worker ``--limit``
   of ``--limits``: ``--dispatches`` approved one-exhibit hand-offs submitted
   at once through ``app.jobs.Jobs.submit``, with one ``jitev worker``, then
   with two; from the first submit to the last COMPLETED state (Prefect's
   timestamps). Ratio = one worker's seconds / two workers' (goal >= 1.5).
   Reference rows, untimed goals: ``jitev transfer approve --wait`` and
   ``jitev audit run --all --wait`` as whole commands.
3. **Submit latency**: the ``submit`` call itself, and from its return to the
   run's PENDING (a worker took it) and RUNNING (its process started the
   flow) states, median and max; runs queued behind a worker's limit wait too.

No timed assertion: each goal is printed as met or missed.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.cli import (  # noqa: E402 - after the path is set
    CASE,
    INVESTIGATOR,
    JIT_FILE,
    JIT_LEAD,
    JITEV,
    RECEIVER,
    _kill_session,
    command_env,
    run,
)
from bench.common import (  # noqa: E402
    GiB,
    MiB,
    Row,
    begin,
    multihash_pass,
    options,
    report,
    say,
    small_files,
    warm,
    workdir,
)
from config.orchestration import answers  # noqa: E402

POOL = "bench"
AUDITOR = "Aud. Keller"  # an auditor of FR: audits every team's copies of DANUBE
STARTUP_S = 180.0  # the server's first start migrates its database
BATCH_TIMEOUT_S = 900.0  # a bound on one batch, never a measured time
POLL_S = 0.2


# -- processes started by PID ------------------------------------------------------


def spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A process in a session of its own, its output to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], name: str, timeout: float = 30) -> None:
    """SIGTERM to the PID, SIGKILL after ``timeout``; then SIGKILL to what its
    session left (the flow-run processes of a worker, if any)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            say(f"{name} (pid {process.pid}) did not stop in {timeout:.0f} s: SIGKILL")
            process.kill()
            process.wait()
    _kill_session(process.pid)


@contextmanager
def prefect_server(work: Path) -> Iterator[str]:
    """``prefect server start`` on a free loopback port, its home under
    ``work``; yields its API URL; stopped by its PID on the way out."""
    home = work / "prefect-server"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JITEV_", "PREFECT_"))}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        DO_NOT_TRACK="1",
    )
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [
        sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
        "--port", str(port), "--analytics-off", "--no-scheduler", "--no-late-runs", "--no-ui",
    ]  # fmt: skip
    server = spawn(command, env, home / "server.log")
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + STARTUP_S
        while not answers(url):
            if server.poll() is not None or time.monotonic() > deadline:
                said = (home / "server.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"bench: the Prefect server did not start:\n{said}")
            time.sleep(0.2)
        say(f"Prefect server {url} (pid {server.pid})")
        yield url
    finally:
        stop(server, "the Prefect server")
        say(f"Prefect server stopped (pid {server.pid})")


class Workers:
    """``jitev worker`` processes of the pool, by PID."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env, self.logs = env, logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.started = 0

    def start(self, limit: int) -> str:
        self.started += 1
        name = f"bench-w{self.started}"
        command = [JITEV, "worker", "--name", name, "--limit", str(limit)]
        self.running[name] = spawn(command, self.env, self.logs / f"{name}.log")
        deadline = time.monotonic() + 120
        while not self.online(name):
            if self.running[name].poll() is not None or time.monotonic() > deadline:
                said = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise SystemExit(f"bench: jitev worker {name} did not come online:\n{said}")
            time.sleep(POLL_S)
        say(f"worker {name} online (pid {self.running[name].pid}, --limit {limit})")
        return name

    @staticmethod
    def online(name: str) -> bool:
        from prefect import get_client

        with get_client(sync_client=True) as client:
            found = client.read_workers_for_work_pool(POOL)
        return any(w.name == name and w.last_heartbeat_time is not None for w in found)

    def stop(self, name: str) -> None:
        process = self.running.pop(name)
        stop(process, f"worker {name}")
        say(f"worker {name} stopped (pid {process.pid})")

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


# -- the JIT home ----------------------------------------------------------------------


@dataclass
class Home:
    path: Path
    env: dict[str, str]
    logs: Path

    def jitev(self, *args: str) -> Any:
        return run(self.env, args, self.logs)

    def ingest(self, folder: Path) -> list[dict[str, Any]]:
        done = self.jitev("ingest", str(folder), "--case", CASE, "--as", INVESTIGATOR, "--json")
        outcomes: list[dict[str, Any]] = json.loads(done.stdout)["outcomes"]
        if any(o["status"] != "stored" for o in outcomes):
            raise SystemExit(f"bench: ingest of {folder}: {outcomes}")
        return sorted(outcomes, key=lambda o: o["source"])


def wiring_of(home: Path) -> Any:
    """The wiring a command of ``home`` has, built in this process."""
    from config import settings, wiring

    os.environ["JITEV_HOME"] = str(home)
    os.environ["JITEV_ENGINE_WORK_POOL"] = POOL
    return wiring.build(settings.load())


def audit_files(total: int, low: int, high: int, folder: Path) -> list[Path]:
    """Random files of ``low``-``high`` MiB (whole MiB, seeded) adding up to ``total``."""
    folder.mkdir()
    rng, left = random.Random(20261201), total
    made: list[Path] = []
    while left > 0:
        size = min(left, rng.randint(low, high) * MiB)
        path = folder / f"audit{len(made):03d}.bin"
        with path.open("wb") as out:
            for at in range(0, size, 8 * MiB):
                out.write(os.urandom(min(8 * MiB, size - at)))
        made.append(path)
        left -= size
    os.sync()
    return made


# -- 1. the audit --------------------------------------------------------------------------


def object_files(root: Path) -> list[Path]:
    """The stored bytes of every namespace (``root/TEAM/objects/ab/<blake3>``),
    not their sidecars."""
    return sorted(p for p in root.glob("*/objects/*/*") if len(p.name) == 64 and "." not in p.name)


def bench_audit(w: Any, repeat: int) -> tuple[Row, dict[str, Any]]:
    from evidence.fixity import audit_fixity

    files = object_files(w.store.root)
    size = sum(p.stat().st_size for p in files)
    auditor = w.catalog.person(AUDITOR)

    def audit(all_copies: bool = True) -> Any:
        return audit_fixity(
            w.catalog,
            w.store,
            auditor,
            CASE,
            now=w.clock.now(),
            cycle_days=w.settings.audit.full_cycle_days,
            all_copies=all_copies,
        )

    def warm_all() -> None:
        for p in files:
            warm(p)

    audit(all_copies=False)  # untimed: one slice, the catalog's statements compiled
    bases: list[float] = []
    ours: list[float] = []
    for i in range(repeat):
        warm_all()
        start = time.perf_counter()
        for p in files:
            multihash_pass(p)
        bases.append(time.perf_counter() - start)
        warm_all()
        start = time.perf_counter()
        done = audit()
        ours.append(time.perf_counter() - start)
        d = done.event.details
        if not done.ok or d["copies"] != len(files) or d["bytes"] != size:
            raise SystemExit(f"bench: the audit checked {d}, not {len(files)} files of {size}")
        say(
            f"audit {i + 1}/{repeat}: baseline {size / MiB / bases[-1]:,.1f} MiB/s, "
            f"audit_fixity {size / MiB / ours[-1]:,.1f} MiB/s"
        )
    mib = size / MiB
    row = Row(
        f"audit --all, {mib:,.0f} MiB in {len(files)} copies",
        "MiB/s",
        mib / min(ours),
        mib / min(bases),
        "one pass MultiHash, 8 MiB reads",
        goal=0.8,
        note=(
            f"evidence.fixity.audit_fixity(all_copies=True) {min(ours):.2f} s against the same "
            f"files hashed once each {min(bases):.2f} s (best of {repeat}); page cache warm "
            "for both: every object file read through just before each measurement"
        ),
        samples={"jitev": ours, "baseline": bases},
    )
    return row, {"audit_bytes": size, "audit_copies": len(files)}


# -- 2. the workers ------------------------------------------------------------------------


@dataclass
class RunTimes:
    """One flow run of a batch: epoch seconds of its submission and states."""

    id: str
    submit_s: float  # the submit call's own duration
    submitted: float  # when the call returned
    pending: float | None = None
    running: float | None = None
    completed: float | None = None


@dataclass
class Batch:
    limit: int
    workers: int
    started: float  # the first submit call
    runs: list[RunTimes] = field(default_factory=list)
    seen_done: float = 0.0  # when this process saw every run COMPLETED (polled)

    @property
    def seconds(self) -> float:
        return max(r.completed or 0.0 for r in self.runs) - self.started

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": self.seconds}


def approved(w: Any, references: list[str]) -> list[str]:
    """Hand-offs BG -> FR of one exhibit each, requested and approved (not dispatched)."""
    from app import actions

    petrova, laurent = w.catalog.person(INVESTIGATOR), w.catalog.person(JIT_LEAD)
    ids = []
    for ref in references:
        t = actions.request_transfer(
            w, petrova, case_id=CASE, references=[ref], to_team=RECEIVER, note="bench"
        )
        t, _ = actions.approve(w, laurent, t.id, "bench", then_dispatch=None)
        if t.state.value != "approved":
            raise SystemExit(f"bench: transfer {t.id} is {t.state}, not approved")
        ids.append(t.id)
    return ids


def run_batch(w: Any, jobs: Any, transfer_ids: list[str], limit: int, workers: int) -> Batch:
    """Submit every dispatch at once, wait until all are COMPLETED, read their states."""
    from uuid import UUID

    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    batch = Batch(limit, workers, time.time())
    for tid in transfer_ids:
        start = time.perf_counter()
        job = jobs.submit("dispatch", JIT_LEAD, CASE, transfer_id=tid, actor=JIT_LEAD)
        batch.runs.append(RunTimes(job.id, time.perf_counter() - start, time.time()))
    ids = [UUID(r.id) for r in batch.runs]
    deadline = time.monotonic() + BATCH_TIMEOUT_S
    with get_client(sync_client=True) as client:
        while True:
            found = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)), limit=len(ids)
            )
            if len(found) == len(ids) and all(r.state and r.state.is_completed() for r in found):
                break
            bad = [
                f"{r.id}: {r.state.name}: {r.state.message}"
                for r in found
                if r.state and r.state.is_final() and not r.state.is_completed()
            ]
            if bad or time.monotonic() > deadline:
                raise SystemExit(f"bench: dispatch runs ended otherwise: {bad or 'timeout'}")
            time.sleep(POLL_S)
        batch.seen_done = time.time()
        for r in batch.runs:
            history = client.read_flow_run_states(UUID(r.id))
            at = {s.type.value: s.timestamp.timestamp() for s in history if s.timestamp}
            r.pending, r.running, r.completed = (
                at.get("PENDING"),
                at.get("RUNNING"),
                at.get("COMPLETED"),
            )
    for tid in transfer_ids:
        if (state := w.catalog.transfer(tid).state.value) != "dispatched":
            raise SystemExit(f"bench: transfer {tid} is {state} after its run COMPLETED")
    say(f"--limit {limit}, {workers} worker(s): {len(ids)} dispatches in {batch.seconds:.2f} s")
    return batch


def commands_once(home: Home, reference: str) -> dict[str, Any]:
    """Untimed warm-up through whole commands, with one worker: a hand-off
    approved with ``--wait`` and an audit of everything with ``--wait``."""
    said = home.jitev(
        "transfer", "request", reference, "--case", CASE, "--to", RECEIVER,
        "--as", INVESTIGATOR, "--json",
    )  # fmt: skip
    tid = json.loads(said.stdout)["id"]
    approve = home.jitev(
        "transfer", "approve", tid, "--as", JIT_LEAD, "--reason", "bench", "--wait", "--json"
    )
    if json.loads(approve.stdout)["state"] != "dispatched":
        raise SystemExit(f"bench: jitev transfer approve --wait: {approve.stdout[-2000:]}")
    audit = home.jitev("audit", "run", "--all", "--as", AUDITOR, "--wait", "--json")
    event = json.loads(audit.stdout)[0]["event"]["details"]
    say(
        f"jitev transfer approve --wait {approve.seconds:.1f} s; audit --wait {audit.seconds:.1f} s"
    )
    return {"approve_s": approve.seconds, "audit_s": audit.seconds, "audit_bytes": event["bytes"]}


def bench_workers(
    home: Home, w: Any, references: list[str], n: int, limits: list[int], repeat: int
) -> tuple[list[Batch], dict[str, Any]]:
    from app.jobs import Jobs

    jobs = Jobs(w.settings)
    workers = Workers(home.env, home.logs)
    batches: list[Batch] = []
    once: dict[str, Any] = {}
    refs = iter(references)
    try:
        for limit in limits:
            first = workers.start(limit)
            if not once:
                once = commands_once(home, next(refs))
            for _ in range(repeat):
                tids = approved(w, [next(refs) for _ in range(n)])
                batches.append(run_batch(w, jobs, tids, limit, 1))
                second = workers.start(limit)
                tids = approved(w, [next(refs) for _ in range(n)])
                batches.append(run_batch(w, jobs, tids, limit, 2))
                workers.stop(second)
            workers.stop(first)
    finally:
        workers.stop_all()
        jobs.close()
    return batches, once


def worker_rows(batches: list[Batch], n: int, once: dict[str, Any], audit: Row) -> list[Row]:
    rows = []
    cpus = os.cpu_count() or 1
    for limit in sorted({b.limit for b in batches}, reverse=True):
        one = [b.seconds for b in batches if b.limit == limit and b.workers == 1]
        two = [b.seconds for b in batches if b.limit == limit and b.workers == 2]
        runs = [r for b in batches if b.limit == limit for r in b.runs]
        start = statistics.median((r.running or 0) - (r.pending or 0) for r in runs)
        body = statistics.median((r.completed or 0) - (r.running or 0) for r in runs)
        rows.append(
            Row(
                f"{n} dispatches, 2 workers vs 1 (--limit {limit})",
                "runs/min",
                60 * n / min(two),
                60 * n / min(one),
                "one worker",
                goal=1.5,
                note=(
                    f"first submit to last COMPLETED: one worker {min(one):.2f} s, two "
                    f"{min(two):.2f} s (best of {len(one)}); per run (medians): PENDING to "
                    f"RUNNING {start:.2f} s (a new Python process: interpreter, imports, "
                    f"Prefect's engine), RUNNING to COMPLETED {body:.2f} s; each worker "
                    f"runs up to {limit} at once, all on the same {cpus} CPUs"
                ),
                samples={"jitev": two, "baseline": one},
            )
        )
    runs = [r for b in batches for r in b.runs]
    for name, values in (
        ("submit call", [r.submit_s for r in runs]),
        ("submit -> PENDING", [(r.pending or 0) - r.submitted for r in runs]),
        ("submit -> RUNNING", [(r.running or 0) - r.submitted for r in runs]),
    ):
        med, top = statistics.median(values), max(values)
        rows.append(
            Row(
                f"{name} (median)",
                "s",
                med,
                baseline_name=f"max {top:.2f} s over {len(values)} runs",
                samples={"jitev": values},
            )
        )
    rows[-1].note = (
        "PENDING: a worker took the run (it polls every [engine] poll_seconds, 2 s); "
        "RUNNING: its process started the flow; runs beyond a worker's --limit queue"
    )
    mib = once["audit_bytes"] / MiB
    rows += [
        Row(
            "  approve --wait (1 worker)",
            "s",
            once["approve_s"],
            baseline_name="jitev transfer approve ID --wait, whole command, one exhibit",
        ),
        Row(
            "  audit run --all --wait",
            "MiB/s",
            mib / once["audit_s"],
            audit.jitev,
            "audit_fixity in-process, best above",
            note=(
                f"jitev audit run --all --wait, whole command: {once['audit_s']:.2f} s for "
                f"{mib:,.1f} MiB (submission, a worker's poll, its flow run process)"
            ),
        ),
    ]
    return rows


# -- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    p = options(__doc__ or "", "64 MiB of 4-16 MiB files, 4 dispatches a batch, one repeat")
    p.add_argument("--dispatches", type=int, default=None, help="a batch (default 8, quick 4)")
    p.add_argument(
        "--limits", default="4,1", help="worker --limit of each pair of batches (default 4,1)"
    )
    args = p.parse_args(argv)
    size = int((args.size_gib or (1 / 16 if args.quick else 0.25)) * GiB) // MiB * MiB
    repeat = args.repeat or (1 if args.quick else 2)
    n = args.dispatches or (4 if args.quick else 8)
    limits = [int(x) for x in args.limits.split(",") if x.strip()]
    low, high = (4, 16) if args.quick else (8, 32)
    if size < 16 * MiB or repeat < 1 or n < 1 or not limits or min(limits) < 1:
        p.error("--size-gib must give at least 16 MiB; --repeat, --dispatches, --limits >= 1")
    run_ = begin(skip_s3=True)
    run_.skipped = ""  # local store only: no S3 workload to skip
    rows: list[Row] = []
    facts: dict[str, Any] = {}
    with workdir(args.keep) as work, prefect_server(work) as api:
        os.environ["PREFECT_API_URL"] = api
        env = command_env(work / "home", ENGINE_WORK_POOL=POOL)
        env["PREFECT_HOME"] = str(work / "prefect-client")  # not ~/.prefect
        home = Home(work / "home", env, work / "logs")
        home.jitev("setup", JIT_FILE)
        home.jitev("deploy", "--json")
        say(f"writing {size / MiB:,.0f} MiB of {low}-{high} MiB random files")
        audit_files(size, low, high, work / "audit-src")
        home.ingest(work / "audit-src")
        w = wiring_of(home.path)
        try:
            audit_row, facts = bench_audit(w, 3 * repeat)
            rows.append(audit_row)
            count = 1 + len(limits) * repeat * 2 * n
            refs = [o["reference"] for o in home.ingest(small_files(work / "small", count))]
            batches, once = bench_workers(home, w, refs, n, limits, repeat)
        finally:
            w.catalog.close()
        rows += worker_rows(batches, n, once, audit_row)
        facts["batches"] = [b.as_dict() for b in batches]
    cpus = os.cpu_count()
    report(
        run_,
        "scale",
        f"local store, {size / MiB:,.0f} MiB audited, {n} dispatches a batch, "
        f"worker --limit {args.limits}, best of {repeat}",
        rows,
        {"size_bytes": size, "dispatches": n, "limits": limits, "repeat": repeat, **facts}
        if args.json
        else None,
        (
            "audit: page cache warm for both sides (every object file read through before "
            "each measurement); ratio = baseline seconds / audit_fixity seconds",
            f"workers: ratio = one worker's seconds / two workers'. Every flow run is a new "
            "Python process (PENDING to RUNNING in the notes: its start, CPU-bound); with "
            f"--limit 4 one worker already starts 4 at once on the {cpus} CPUs, and a second "
            "worker on the same machine finds no idle CPU; with --limit 1 the second overlaps "
            "the first's poll wait and process start, up to the CPU count",
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
