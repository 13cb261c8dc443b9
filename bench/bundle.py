#!/usr/bin/env python3
"""Bundle benchmark: a disclosure bundle against qpdf merging the same PDFs, in the same run.

    .venv/bin/python bench/bundle.py [--pdfs 1000] [--pages 10000] [--repeat 2] [--quick] [--json]

or ``make bench`` (runs bench/ingest.py, bench/dispatch.py, then this; this
bench needs no server).

The data: ``--pdfs`` PDF exhibits (1,000) with ``--pages`` text pages in all
(10,000), written by fpdf2 from a fixed seed (same options, same bytes): page
counts vary from file to file (a random composition of the total, at least one
page each), every page carries a heading and 45 lines of text in Helvetica.

What a prosecutor runs, measured: the PDFs are ingested untimed into a fresh
``JITEV_HOME`` on the embedded defaults (local store, SQLite catalog) through
``ingesting.plan_ingest`` + ``ingesting.ingest_batch`` by "Bench Runner" (an
investigator of BG), with "Bench Admin" and "Bench Prosecutor" (a prosecutor of
BG) registered. Then, per measurement, on a copy of that home:

- ``create_bundle``: in a child process, ``disclosure.plan_bundle`` of every
  exhibit BG holds (untimed: its seconds are in the notes), then, timed,
  ``disclosure.create_bundle``: the bundle built into a temporary file under
  the home (``evidence.bundle.build``: the PDF with every exhibit merged and
  stamped, the natives, the bag), stored write-once in the ``bundles`` area of
  the local store, and one DISCLOSED event per exhibit in one transaction.
- ``build alone``: in another child process on the same, unchanged copy,
  ``evidence.bundle.build.build`` alone into a file (the identity, events and
  keys prepared as ``create_bundle`` does, untimed).
- the baseline: ``qpdf --empty --pages <all PDFs, in schedule order> -- out.pdf``
  on the generated files.

Time: jitev's is measured inside its child around the call (the interpreter's
start, the imports and the plan are not in it; the child's whole wall time is
in the notes); qpdf's is the wall time of its process. Peak memory: the peak
RSS of each child process, from ``os.wait4`` in a small launcher process that
forks it (the whole process: interpreter, libraries and fonts included; an idle
child that only imports and configures jitev is measured once for reference;
the launcher's own pages, about 6 MiB, are the floor of every figure: a peak
RSS outlives exec, so the bench never starts a measured process itself). Before every measurement the files it
reads are read through once (the PDFs for qpdf, the copied home for jitev).
Baseline and jitev alternate ``--repeat`` times (2, quick 1); the best time of
each is kept, and the highest peak RSS.

Goals (issue 4): time at most 3x qpdf's, peak memory at most 1 GiB; printed as
met or missed, nothing asserts. The bundle of the last ``build alone`` is then
checked once with ``evidence.bundle.verify.verify_bundle`` in a child process
(its seconds and peak RSS are printed; a failure is printed, not raised).

``--size-gib`` and ``--skip-s3`` are accepted (``make bench`` passes
``BENCH_ARGS`` to every bench) and ignored. Everything lives in a temporary
directory under /tmp, removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app import actions
from evidence import ingest as ingesting
from evidence import setup

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import (  # noqa: E402 - after the path is set
    ACTOR,
    ADMIN,
    TEAM,
    GiB,
    MiB,
    Run,
    clean_settings_env,
    configure,
    open_case,
    options,
    say,
    sized,
    warm_tree,
    workdir,
)

PROSECUTOR = "Bench Prosecutor"  # a prosecutor of TEAM: makes the bundle
TIME_GOAL = 3.0  # jitev's time at most this many times qpdf's
MEMORY_GOAL = GiB  # jitev's peak RSS at most this
SEED = 20240301
CREATED = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)  # the generated PDFs' creation date
WORDS = (
    "custody seizure container port vessel cigarettes invoice statement witness "
    "interview record transfer pallet excise customs warehouse"
).split()
PDF_LINES = 45  # lines of text a page


# -- test data ---------------------------------------------------------------------


def page_counts(pdfs: int, pages: int, seed: int = SEED) -> list[int]:
    """``pdfs`` page counts of at least 1 summing to ``pages``: a random
    composition of the total from ``seed``."""
    cuts = sorted(random.Random(seed).sample(range(1, pages), pdfs - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, pages], strict=True)]


def write_pdf(path: Path, number: int, pages: int) -> None:
    """A text PDF of ``pages`` A4 pages; the same arguments give the same bytes."""
    from fpdf import FPDF

    doc = FPDF(format="A4")
    doc.set_creation_date(CREATED)
    doc.set_auto_page_break(False)
    for page in range(1, pages + 1):
        doc.add_page()
        doc.set_font("Helvetica", "B", 14)
        doc.text(20, 20, f"Bench exhibit {number:04d}, page {page} of {pages}")
        doc.set_font("Helvetica", size=10)
        for line in range(PDF_LINES):
            at = number * 7 + page * 3 + line
            words = " ".join(WORDS[(at + k * k) % len(WORDS)] for k in range(14))
            doc.text(20, 32 + line * 5.5, f"{line + 1:02d} {words}")
    doc.output(str(path))


def write_pdfs(folder: Path, pdfs: int, pages: int) -> list[Path]:
    folder.mkdir(parents=True)
    say(f"writing {pdfs:,} PDFs with {pages:,} pages under {folder}")
    paths = []
    for number, count in enumerate(page_counts(pdfs, pages), start=1):
        path = folder / f"exhibit-{number:04d}.pdf"
        write_pdf(path, number, count)
        paths.append(path)
    os.sync()
    return paths


def ingest(home: Path, folder: Path) -> tuple[str, list[str]]:
    """Ingest the folder into a fresh home as a user would (untimed); the case
    and the file names in schedule order (the order of the catalog's exhibits)."""
    from config import wiring
    from evidence.models import ExhibitMetadata, Person, Role

    w = configure(home)
    case_id = open_case(w, people=(Person(PROSECUTOR, TEAM, frozenset({Role.PROSECUTOR})),))
    trust = actions.log_policy(w, w.catalog.case(case_id))  # embedded witnesses in the home
    setup.register_log_policy(w.catalog, w.catalog.person(ADMIN), case_id, w.origin(case_id), trust)
    plan = ingesting.plan_ingest(
        w.catalog,
        case_id=case_id,
        team=TEAM,
        actor=ACTOR,
        paths=[str(folder)],
        defaults=ExhibitMetadata(),
    )
    run = w.catalog.start_run(case_id, TEAM, ACTOR, plan.fingerprint)
    outcomes = ingesting.ingest_batch(
        w.store,
        w.catalog,
        plan,
        run,
        plan.files,
        commit_every=w.settings.ingest.commit_every,
    )
    w.catalog.finish_run(run.id)
    exhibits = w.catalog.exhibits(case_id)
    pdfs = [ex.original_name for ex in exhibits if ex.media_type == "application/pdf"]
    w.catalog.close()  # closed before the home is copied
    wiring.current.cache_clear()
    failed = [o for o in outcomes if o.status != "stored"]
    if failed or len(pdfs) != len(plan.files) or len(exhibits) != len(plan.files):
        raise SystemExit(f"bench: the ingest did not store every file as a PDF: {failed!r}")
    return case_id, pdfs


def warm_home(home: Path) -> None:
    """Read every file of a jitev home through (the store and the catalog)."""
    for path in sorted(home.rglob("*")):
        if path.is_file():
            path.read_bytes()


# -- child processes ---------------------------------------------------------------


# A small process that forks the measured command, waits for it, and prints its
# wall time and peak RSS (``os.wait4``) as the last line of stdout. Peak RSS
# survives exec: a command forked or spawned from the bench itself would count
# the bench's own pages; forked from this launcher, its floor is the
# launcher's (about 6 MiB).
LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "rss": usage.ru_maxrss * 1024}), flush=True)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass(frozen=True)
class Sample:
    wall: float  # the child process's wall time
    rss: int  # its peak RSS, in bytes
    result: dict[str, Any]  # what a jitev child printed last (a JSON object); {} for qpdf


def spawn(args: list[str], ok: tuple[int, ...] = (0,)) -> Sample:
    """Run ``args`` in a child process of LAUNCHER; its wall time, peak RSS,
    and the JSON object a jitev child prints as its last line."""
    launch = [sys.executable, "-I", "-S", "-c", LAUNCHER, *args]
    done = subprocess.run(launch, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode not in ok:
        raise SystemExit(f"bench: {' '.join(args[:4])} ... exited with {done.returncode}")
    *lines, last = done.stdout.splitlines()
    measured = json.loads(last)
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return Sample(measured["wall"], measured["rss"], result)


def jitev_child(mode: str, *args: Path | str) -> Sample:
    return spawn([sys.executable, __file__, "--child", mode, *map(str, args)])


def prosecutor_plan(home: str, case_id: str) -> tuple[Any, Any, float]:
    """In a child: the wiring of ``home`` and the prosecutor's plan of every
    exhibit their team holds, and the plan's seconds."""
    from evidence import disclosure

    w = configure(Path(home))
    start = time.perf_counter()
    plan = disclosure.plan_bundle(w.catalog, w.catalog.person(PROSECUTOR), case_id, None)
    return w, plan, time.perf_counter() - start


def child_create(home: str, case_id: str) -> dict[str, Any]:
    from evidence import disclosure

    w, plan, planned = prosecutor_plan(home, case_id)
    start = time.perf_counter()
    bundle = disclosure.create_bundle(w.store, w.catalog, plan, w.settings.home, w.checkpoint)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "plan": planned, "bundle": bundle.id, "size": bundle.size}


def child_build(home: str, case_id: str, out: str) -> dict[str, Any]:
    """``build`` alone, with what ``create_bundle`` gives it (prepared untimed):
    the payload (``prepare``) and the bag (``write``) are timed; the seal's
    event and its cosigned checkpoint between them are not."""
    from evidence.bundle import build as builder
    from evidence.bundle.layout import Identity
    from evidence.models import Action
    from evidence.ports import EventDraft
    from evidence.tlog import proofs

    w, plan, planned = prosecutor_plan(home, case_id)
    person, case = plan.prosecutor, plan.case
    chain = builder.disclosed_events(plan.events, {ex.reference for ex in plan.exhibits})
    keys = {
        t.code: key
        for t in case.teams
        if (key := setup.ledger_team_key(w.catalog, case.id, t.code)) is not None
    }
    with w.catalog.transaction(case.id) as tx:
        bundle_id = tx.next_bundle_id(person.team)
    identity = Identity(bundle_id, case.id, person.team, person.name, chain[-1].at)
    recorded = setup.log_policy(w.catalog, case.id)
    assert recorded is not None
    start = time.perf_counter()
    with builder.prepare(
        identity=identity,
        case=case,
        exhibits=plan.exhibits,
        events=plan.events,
        keys=keys,
        open_native=lambda ex: w.store.open(person.team, ex.blake3),
    ) as payload:
        prepared = time.perf_counter() - start
        with w.catalog.transaction(case.id) as tx:
            draft = EventDraft(
                Action.BUNDLE_SEALED, person.name, person.team, None, payload.seal_details()
            )
            seal = tx.append(draft)
        cosigned = w.checkpoint(case.id)
        assert cosigned is not None and cosigned.published, cosigned
        seqs = [e.seq for e in payload.events] + [seal.seq]
        material = builder.LogMaterial(
            cosigned.checkpoint,
            recorded[1],
            proofs.inclusions(w.catalog, case.id, seqs, cosigned.size),
        )
        start = time.perf_counter()
        with open(out, "wb") as f:
            built = payload.write(f, seal, material)
        seconds = prepared + time.perf_counter() - start
    layout = built.pdf
    return {
        "seconds": seconds,
        "plan": planned,
        "pages": layout.page_count,
        "merged": sum(e.merged for e in layout.exhibits),
        "exhibits": len(layout.exhibits),
        "size": os.path.getsize(out),
    }


def child_verify(path: str) -> dict[str, Any]:
    from evidence.bundle.verify import verify_bundle

    start = time.perf_counter()
    report = verify_bundle(Path(path))
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "ok": report.ok,
        "failed": [c.name for c in report.checks if not c.ok],
        "problems": [f"{f.check}: {f.text()}" for f in report.findings[:5]],
    }


def child_idle(home: str) -> dict[str, Any]:
    """The floor of a jitev child: the imports and the wiring, no bundle."""
    import evidence.bundle.verify  # noqa: F401
    import evidence.disclosure  # noqa: F401

    configure(Path(home)).catalog.close()
    return {}


CHILDREN: dict[str, Callable[..., dict[str, Any]]] = {
    "create": child_create,
    "build": child_build,
    "verify": child_verify,
    "idle": child_idle,
}


def child(argv: list[str]) -> int:
    """``--child MODE ARGS...``: one measurement, its result as JSON on stdout."""
    clean_settings_env()
    print(json.dumps(CHILDREN[argv[0]](*argv[1:])), flush=True)
    return 0


# -- results -------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    unit: str  # "s" or "MiB"
    jitev: float
    baseline: float | None = None  # qpdf's, same unit
    most_ratio: float | None = None  # goal: jitev / baseline at most
    most: float | None = None  # goal: jitev at most, in ``unit``
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.jitev / self.baseline

    @property
    def goal(self) -> str:
        if self.most_ratio is not None:
            return f"<= {self.most_ratio:g}x qpdf"
        return "-" if self.most is None else f"<= {self.most:,.0f} {self.unit}"

    @property
    def verdict(self) -> str:
        if self.most_ratio is not None and self.ratio is not None:
            return "met" if self.ratio <= self.most_ratio else "MISSED"
        if self.most is not None:
            return "met" if self.jitev <= self.most else "MISSED"
        return "info"

    def cells(self) -> tuple[str, ...]:
        def value(v: float | None) -> str:
            if v is None:
                return "-"
            return f"{v:,.2f} s" if self.unit == "s" else f"{v:,.0f} {self.unit}"

        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}x"
        return (self.workload, value(self.jitev), value(self.baseline), ratio, self.goal)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "goal": self.goal, "verdict": self.verdict}


def render(rows: list[Row]) -> str:
    """The rows as a text table (as bench/ingest.py prints its own), then the notes."""
    grid: list[tuple[str, ...]] = [("workload", "jitev", "qpdf", "ratio", "goal", "result")]
    grid += [(*r.cells(), r.verdict) for r in rows]
    sizes = [max(map(len, column)) for column in zip(*grid, strict=True)]
    grid.insert(1, tuple("-" * n for n in sizes))
    text = ["  ".join(map(str.ljust, cells, sizes)).rstrip() for cells in grid]
    notes = [f"  {r.workload}: {r.note}" for r in rows if r.note]
    return "\n".join(text + (["", "notes:", *notes] if notes else []))


def pair(name: str, ours: list[Sample], qpdf: list[Sample], note: str) -> list[Row]:
    """The time row (best of each) and the memory row (highest of each) of a workload."""
    seconds = [s.result["seconds"] for s in ours]
    walls = [s.wall for s in qpdf]
    return [
        Row(
            f"{name}: time",
            "s",
            min(seconds),
            min(walls),
            most_ratio=TIME_GOAL,
            note=note,
            samples={"jitev": seconds, "baseline": walls, "jitev_wall": [s.wall for s in ours]},
        ),
        Row(
            f"{name}: peak RSS",
            "MiB",
            max(s.rss for s in ours) / MiB,
            max(s.rss for s in qpdf) / MiB,
            most=MEMORY_GOAL / MiB,
            samples={"jitev": [s.rss / MiB for s in ours], "baseline": [s.rss / MiB for s in qpdf]},
        ),
    ]


# -- the bench -----------------------------------------------------------------------


@dataclass
class Measured:
    qpdf: list[Sample] = field(default_factory=list)
    build: list[Sample] = field(default_factory=list)
    create: list[Sample] = field(default_factory=list)


def measure(work: Path, master: Path, case_id: str, pdfs: list[Path], repeat: int) -> Measured:
    """``repeat`` rounds of qpdf, build alone and create_bundle, each jitev
    round on a fresh copy of the ingested home; the last build's ZIP is kept."""
    m = Measured()
    for i in range(repeat):
        out = work / "qpdf.pdf"
        warm_tree(pdfs[0].parent)
        qpdf = ["qpdf", "--empty", "--pages", *map(str, pdfs), "--", str(out)]
        m.qpdf.append(spawn(qpdf, ok=(0, 3)))  # 3: qpdf warned
        say(f"qpdf {i + 1}/{repeat}: {m.qpdf[-1].wall:.2f} s, {m.qpdf[-1].rss / MiB:,.0f} MiB")
        out.unlink()

        home = work / f"home-{i}"
        shutil.copytree(master, home, symlinks=True)
        zip_path = work / "build.zip"
        zip_path.unlink(missing_ok=True)
        warm_home(home)
        m.build.append(jitev_child("build", home, case_id, zip_path))
        s = m.build[-1]
        say(f"build {i + 1}/{repeat}: {s.result['seconds']:.2f} s, {s.rss / MiB:,.0f} MiB")
        warm_home(home)
        m.create.append(jitev_child("create", home, case_id))
        s = m.create[-1]
        say(f"create_bundle {i + 1}/{repeat}: {s.result['seconds']:.2f} s, {s.rss / MiB:,.0f} MiB")
        shutil.rmtree(home, ignore_errors=True)
    return m


def rows_of(m: Measured, verified: Sample, idle: Sample) -> list[Row]:
    built, created = m.build[-1].result, m.create[-1].result
    merged = f"{built['merged']:,} of {built['exhibits']:,} exhibits merged"
    rows = pair(
        "create_bundle",
        m.create,
        m.qpdf,
        f"plan_bundle (untimed) {created['plan']:.2f} s; child process "
        f"{min(s.wall for s in m.create):.2f} s in all; bundle {created['size'] / MiB:,.1f} MiB "
        "stored, DISCLOSED events included",
    )
    rows += pair(
        "build alone",
        m.build,
        m.qpdf,
        f"bundle.pdf {built['pages']:,} pages, {merged}; ZIP {built['size'] / MiB:,.1f} MiB; "
        f"child process {min(s.wall for s in m.build):.2f} s in all",
    )
    v = verified.result
    verdict = "passed" if v["ok"] else f"FAILED {', '.join(v['failed'])}: {v['problems']}"
    rows += [
        Row("verify_bundle: time", "s", v["seconds"], note=f"the last build's ZIP: {verdict}"),
        Row("verify_bundle: peak RSS", "MiB", verified.rss / MiB),
        Row(
            "idle jitev child: peak RSS",
            "MiB",
            idle.rss / MiB,
            note="the imports and the wiring alone: the floor of create_bundle and build alone",
        ),
    ]
    return rows


def print_report(run: Run, details: str, rows: list[Row], as_json: dict[str, Any] | None) -> None:
    elapsed = time.perf_counter() - run.started
    load = (run.load, os.getloadavg()[0])
    print(
        f"\njitev bundle bench: {platform.python_version()}, {os.cpu_count()} CPUs, {details}, "
        f"load average {load[0]:.2f} at start, {load[1]:.2f} at end"
    )
    print(render(rows))
    print(
        f"\ngoals (issue 4): time <= {TIME_GOAL:g}x qpdf --empty --pages on the same PDFs, "
        f"peak memory <= {MEMORY_GOAL / GiB:g} GiB; jitev time measured around the call, "
        "qpdf's is its process's wall time; peak RSS is the whole child process's"
    )
    print(f"\ntotal bench time {elapsed:,.0f} s")
    if as_json is not None:
        summary = {"python": platform.python_version(), "cpus": os.cpu_count(), **as_json}
        summary.update(load_average=list(load), seconds=elapsed)
        print(json.dumps({**summary, "results": [r.as_dict() for r in rows]}))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = options(__doc__ or "", "50 PDFs, 500 pages, one repeat")
    p.add_argument("--pdfs", type=int, default=None, help="PDF exhibits (default 1000)")
    p.add_argument("--pages", type=int, default=None, help="pages in all (default 10000)")
    args = sized(p, p.parse_args(argv))
    args.pdfs = args.pdfs or (50 if args.quick else 1000)
    args.pages = args.pages or (500 if args.quick else 10 * args.pdfs)
    if args.pdfs < 1 or args.pages < args.pdfs:
        p.error("--pdfs must be >= 1 and --pages >= --pdfs (every PDF has a page)")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    args = parse(argv)
    dropped = clean_settings_env()
    if dropped:
        say(f"ignoring inherited jitev settings: {', '.join(sorted(dropped))}")
    if shutil.which("qpdf") is None:
        raise SystemExit("bench: qpdf is not installed (scripts/tools.sh installs it)")
    run = Run(None, "", "")
    with workdir(args.keep) as work:
        paths = write_pdfs(work / "pdfs", args.pdfs, args.pages)
        size = sum(p.stat().st_size for p in paths)
        master = work / "home"
        say(f"ingesting them into {master} (untimed)")
        case_id, order = ingest(master, work / "pdfs")
        pdfs = [work / "pdfs" / name for name in order]
        idle = jitev_child("idle", master)
        measured = measure(work, master, case_id, pdfs, args.repeat)
        verified = jitev_child("verify", work / "build.zip")
        say(f"verify_bundle: {verified.result['seconds']:.2f} s, ok={verified.result['ok']}")
        rows = rows_of(measured, verified, idle)
    print_report(
        run,
        f"{args.pdfs:,} PDFs, {args.pages:,} pages, {size / MiB:,.1f} MiB, best of {args.repeat}",
        rows,
        {"pdfs": args.pdfs, "pages": args.pages, "pdf_bytes": size, "repeat": args.repeat}
        if args.json
        else None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
