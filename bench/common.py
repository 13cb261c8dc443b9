"""What every bench shares: the results table (``Row``, ``table``, ``report``),
jitev configured through its environment (``configure``) with the bench's
people and case, the S3 server of ``make bench``, test data, the options
every bench has, and the run's temporary directory. See bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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


TIMES = ("s", "ms")  # units of the rows whose ratio is a time ratio (their goals: at most)


@dataclass
class Row:
    """One line of a bench's table. ``ratio`` is jitev / baseline in the row's
    unit: a speed ratio for throughputs (MiB/s, files/s; above 1: jitev is
    faster), a time ratio for times (s; below 1: jitev is faster). A row has
    at most one goal: ``goal`` (the ratio at least), ``most`` (the ratio at
    most), ``limit`` (jitev's own figure at most, e.g. MiB of RSS) or
    ``least`` (at least; a ``yes/no`` row, 1 for yes, has ``least=1``)."""

    workload: str
    unit: str
    jitev: float
    baseline: float | None = None
    baseline_name: str = ""
    goal: float | None = None  # minimum jitev / baseline
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)  # seconds per measurement
    most: float | None = None  # maximum jitev / baseline
    limit: float | None = None  # maximum of jitev, in unit
    least: float | None = None  # minimum of jitev, in unit

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.jitev / self.baseline

    @property
    def goal_text(self) -> str:
        if self.goal is not None:
            return f">= {self.goal:g}x"
        if self.most is not None:
            return f"<= {self.most:g}x"
        if self.limit is not None:
            return f"<= {fmt(self.limit, self.unit)}"
        if self.least is not None:
            return (
                fmt(self.least, self.unit)
                if self.unit == "yes/no"
                else f">= {fmt(self.least, self.unit)}"
            )
        return "-"

    @property
    def verdict(self) -> str:
        ratio = self.ratio
        if self.goal is not None and ratio is not None:
            ok = ratio >= self.goal
        elif self.most is not None and ratio is not None:
            ok = ratio <= self.most
        elif self.limit is not None:
            ok = self.jitev <= self.limit
        elif self.least is not None:
            ok = self.jitev >= self.least
        else:
            return "info"
        return "met" if ok else "MISSED"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(ratio=self.ratio, goal_text=self.goal_text, verdict=self.verdict)
        return d


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MiB/s":
        return f"{value:,.1f} MiB/s"
    if unit == "yes/no":
        return "yes" if value >= 1 else "no"
    if unit == "s":
        return f"{value:,.2f} s"
    return f"{value:,.0f} {unit}"


def table(rows: list[Row]) -> str:
    """The rows as a text table; the goal and result columns only if a row has
    a goal; under it, what the ratios are, then the notes."""
    goals = any(r.goal_text != "-" for r in rows)
    head = ("workload", "jitev", "baseline", "ratio", "goal", "result")[: 6 if goals else 4]
    body = [
        (
            r.workload,
            fmt(r.jitev, r.unit),
            f"{fmt(r.baseline, r.unit)} ({r.baseline_name})"
            if r.baseline
            else r.baseline_name or "-",
            f"{r.ratio:.2f}x" if r.ratio is not None else "-",
            r.goal_text,
            r.verdict,
        )[: len(head)]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*head), line.format(*("-" * w for w in widths))]
    out += [line.format(*b).rstrip() for b in body]
    kinds = {r.unit in TIMES for r in rows if r.ratio is not None}
    legend = []
    if False in kinds:
        legend.append("ratio = jitev speed / baseline speed for throughputs (MiB/s, files/s)")
    if True in kinds:
        legend.append("ratio = jitev time / baseline time for times (s): lower is faster")
    notes = [f"  {r.workload.strip()}: {r.note}" for r in rows if r.note]
    return "\n".join(
        out + ([""] + legend if legend else []) + (["", "notes:", *notes] if notes else [])
    )


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


def small_files(folder: Path, count: int, salt: bytes = b"", size: int = SMALL) -> Path:
    """``count`` files of ``size`` random bytes, ``f000000.bin`` on, in a new ``folder``."""
    folder.mkdir(parents=True)
    for i in range(count):
        # random bytes; the index makes every file distinct whatever urandom gives
        (folder / f"f{i:06d}.bin").write_bytes(
            salt + i.to_bytes(8, "big") + os.urandom(size - 8 - len(salt))
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


def multihash_pass(path: Path) -> Any:
    from evidence.hashing import MultiHash

    h = MultiHash()
    with path.open("rb", buffering=0) as f:
        while chunk := f.read(READ):
            h.update(chunk)
    return h.digests()


# -- running a bench --------------------------------------


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
