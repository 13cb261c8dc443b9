"""The whole-command workloads of bench/ingest.py: each jitev side is the
``jitev`` command as a person runs it (bench/cli.py: a fresh home set up
from the example JIT file, warmed up untimed, its engine started when jitev
has one), timed from process start to exit. See bench/ingest.py's docstring
and bench/README.md for what each row is.

- ``cli-files``: ``--files`` files of 8 KiB, one ``jitev ingest FOLDER``,
  against ``bagit.py --processes 2 --sha256 --sha512`` (make_bag, on a fresh
  untimed copy of the folder: bagit moves the files into ``data/``); for
  reference ``hashdeep -r -c sha256`` and ``cp -r`` + ``sync``. Then the
  same command again (``rerun``), against the first run's time.
- ``one file``: ``jitev ingest`` of one new 8 KiB file, and ``jitev transfer
  approve`` of a one-exhibit hand-off (BG to FR, by the JIT lead: approved
  and dispatched), each against ``jitev exhibits list`` in the same home;
  ``--rounds`` times each, alternating, medians compared.
- ``many-files``: ``--many-files`` files of 4 KiB in one ``jitev ingest``:
  the peak RSS of its process tree and its files/s; then, in a fresh home,
  the same command killed (SIGKILL to its process group) once half the files
  are committed, run again, and the catalog checked: one exhibit and one
  INGESTED event for each file (``resumable``).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.cli import (  # noqa: E402 - after the path is set
    CASE,
    INVESTIGATOR,
    RECEIVER,
    Done,
    Home,
    has_engine,
)
from bench.common import SMALL, Row, best, say, small_files, timed, warm_tree  # noqa: E402

KiB = 1024
MANY_SIZE = 4 * KiB
BAG_GOAL = 1.0  # jitev ingest / bagit make_bag, files/s, at least
RERUN_GOAL = 0.1  # the same ingest again / its first run, time, at most
ONE_FILE_GOAL = 1.5  # one small file's ingest / exhibits list, time, at most
APPROVE_GOAL = 2.0  # transfer approve (with dispatch) / exhibits list, time, at most
RSS_LIMIT_MIB = 300  # the many-files ingest's process tree, at most


def engine_note() -> str:
    return "engine running (jitev engine start, untimed)" if has_engine() else "no jitev engine"


def tool(command: list[str], out: Path | None = None) -> None:
    """Run a baseline tool; its output to ``out`` (or dropped)."""
    with open(out or os.devnull, "wb") as stdout:
        done = subprocess.run(command, stdout=stdout, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise SystemExit(
            f"bench: {' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-2000:]}"
        )


def lines(path: Path, skip: tuple[str, ...] = ()) -> int:
    with path.open() as f:
        return sum(1 for line in f if line.strip() and not line.startswith(skip))


def copy_and_sync(folder: Path, target: Path) -> None:
    tool(["cp", "-r", str(folder), str(target)])
    os.sync()


# -- cli-files: a folder, bagit and the rest ------------------------------------------------


def bench_folder(work: Path, folder: Path, count: int, repeat: int, concurrency: int) -> list[Row]:
    bagit = Path(sys.executable).parent / "bagit.py"
    hashdeep = shutil.which("hashdeep")
    if not bagit.exists() or hashdeep is None:
        raise SystemExit(
            "bench: bagit.py (make venv) or hashdeep (scripts/tools.sh --bench) missing"
        )
    names = {p.name for p in folder.iterdir()}
    bags: list[float] = []
    digests: list[float] = []
    copies: list[float] = []
    firsts: list[Done] = []
    reruns: list[Done] = []
    statuses = ""
    for i in range(repeat):
        bag = work / f"bag-{i}"
        shutil.copytree(folder, bag)  # not timed: bagit moves the files it bags
        os.sync()
        warm_tree(bag)
        seconds, _ = timed(tool, [str(bagit), "--quiet", "--processes", "2",
                                  "--sha256", "--sha512", str(bag)])  # fmt: skip
        if lines(bag / "manifest-sha256.txt") != count:
            raise SystemExit(f"bench: bagit's manifest does not list the {count} files")
        bags.append(seconds)
        say(f"cli-files: bagit.py make_bag {i + 1}/{repeat}: {count / seconds:,.0f} files/s")
        shutil.rmtree(bag)

        listing = work / "hashdeep.txt"
        warm_tree(folder)
        seconds, _ = timed(tool, [hashdeep, "-r", "-c", "sha256", str(folder)], listing)
        if lines(listing, ("%", "#")) != count:
            raise SystemExit(f"bench: hashdeep did not list the {count} files")
        digests.append(seconds)
        say(f"cli-files: hashdeep -r -c sha256 {i + 1}/{repeat}: {count / seconds:,.0f} files/s")

        target = work / f"cp-{i}"
        warm_tree(folder)
        os.sync()
        seconds, _ = timed(copy_and_sync, folder, target)
        copies.append(seconds)
        say(f"cli-files: cp -r + sync {i + 1}/{repeat}: {count / seconds:,.0f} files/s")
        shutil.rmtree(target)

        with Home(work, f"cli-files-{i}", INGEST_CONCURRENCY=str(concurrency)) as home:
            home.warm_up()
            before = home.committed()
            warm_tree(folder)
            first = home.ingest(str(folder))
            home.check_stored(first, names, before)
            say(f"cli-files: jitev ingest {i + 1}/{repeat}: {count / first.seconds:,.0f} files/s")
            made = home.committed()
            warm_tree(folder)
            again = home.ingest(str(folder))
            if home.committed() != made:
                raise SystemExit(
                    f"bench: the same ingest again made {home.committed() - made} exhibits"
                )
            say(f"cli-files: the same jitev ingest again {i + 1}/{repeat}: {again.seconds:.1f} s")
        firsts.append(first)
        reruns.append(again)
        statuses = next(
            (x for x in again.stdout.splitlines() if x.startswith(f"{count} files")), ""
        )
        shutil.rmtree(home.path)
    first = min(firsts, key=lambda d: d.seconds)
    again = min(reruns, key=lambda d: d.seconds)
    rate = count / first.seconds
    command = f"jitev ingest FOLDER --case {CASE} --team BG --as {INVESTIGATOR!r}"
    return [
        Row(
            f"cli-files: {count}x8 KiB into local store, jitev ingest",
            "files/s",
            rate,
            count / best(bags),
            "bagit.py --processes 2 --sha256 --sha512",
            BAG_GOAL,
            f"`{command}`, whole command, JITEV_INGEST_CONCURRENCY={concurrency}, {engine_note()}: "
            f"{first.seconds:.1f} s; stages {first.stage_times() or '-'}; "
            f"bagit make_bag on a fresh copy (not timed): {best(bags):.2f} s",
            samples={"jitev": [d.seconds for d in firsts], "baseline": bags},
        ),
        Row(
            "  reference: same vs hashdeep -r -c sha256",
            "files/s",
            rate,
            count / best(digests),
            "hashdeep -r -c sha256",
            note=f"SHA-256 of every file, no copy: {best(digests):.2f} s",
            samples={"jitev": [d.seconds for d in firsts], "baseline": digests},
        ),
        Row(
            "  reference: same vs cp -r + sync",
            "files/s",
            rate,
            count / best(copies),
            "cp -r + sync",
            note=f"a plain copy made durable, no hash: {best(copies):.2f} s",
            samples={"jitev": [d.seconds for d in firsts], "baseline": copies},
        ),
        Row(
            f"rerun: the same {count}-file jitev ingest again",
            "s",
            again.seconds,
            first.seconds,
            "its first run",
            most=RERUN_GOAL,
            note=f"no exhibit made; it said: {statuses or '-'}; "
            f"stages {again.stage_times() or '-'}",
            samples={"jitev": [d.seconds for d in reruns], "baseline": [d.seconds for d in firsts]},
        ),
    ]


# -- one file: ingest and approve against exhibits list ---------------------------------------


def bench_one_file(work: Path, rounds: int) -> list[Row]:
    lists: list[float] = []
    ingests: list[float] = []
    approves: list[float] = []
    with Home(work, "one-file") as home:
        home.warm_up()
        # and the hand-off path once: FR's first dispatch (its area), the dispatch flow
        home.transfer_of(home.reference(f"warm-{home.name}.bin"), timed=False)
        for i in range(rounds):
            lists.append(home.exhibits_list().seconds)
            one = work / f"one-{i}.bin"
            one.write_bytes(f"one-{i}".encode() + os.urandom(SMALL))
            before = home.committed()
            done = home.ingest(str(one))
            home.check_stored(done, {one.name}, before)
            ingests.append(done.seconds)
            approves.append(home.transfer_of(home.reference(one.name), timed=True))
            say(
                f"one file {i + 1}/{rounds}: exhibits list {lists[-1]:.2f} s, ingest "
                f"{ingests[-1]:.2f} s, transfer approve {approves[-1]:.2f} s"
            )
    shutil.rmtree(home.path)
    listed = statistics.median(lists)
    of = f"median of {rounds}, {engine_note()}"
    return [
        Row(
            "one file: jitev ingest of 8 KiB",
            "s",
            statistics.median(ingests),
            listed,
            "jitev exhibits list",
            most=ONE_FILE_GOAL,
            note=f"{of}; best {min(ingests):.2f} s against {min(lists):.2f} s",
            samples={"jitev": ingests, "baseline": lists},
        ),
        Row(
            "approve: jitev transfer approve, 1 exhibit",
            "s",
            statistics.median(approves),
            listed,
            "jitev exhibits list",
            most=APPROVE_GOAL,
            note=f"by the JIT lead, BG to {RECEIVER}: approved and dispatched (a verified copy) "
            f"in the one command; the request before it not timed; {of}; best "
            f"{min(approves):.2f} s",
            samples={"jitev": approves, "baseline": lists},
        ),
    ]


# -- many files: memory, and a kill -9 half way ---------------------------------------------


def bench_many_files(work: Path, count: int, concurrency: int) -> list[Row]:
    say(f"writing {count} files of 4 KiB under {work}")
    folder = small_files(work / "many", count, size=MANY_SIZE)
    os.sync()
    names = {p.name for p in folder.iterdir()}
    settings = {"INGEST_CONCURRENCY": str(concurrency)}
    with Home(work, "many-files", **settings) as home:
        home.warm_up()
        before = home.committed()
        warm_tree(folder)
        done = home.ingest(str(folder), sample=True)
        home.check_stored(done, names, before)
    shutil.rmtree(home.path)
    rate = count / done.seconds
    peak = max(done.tree_peak_kib, done.maxrss_kib) / 1024  # sampling can miss a short peak
    say(f"many-files: jitev ingest: {rate:,.0f} files/s, process tree peak RSS {peak:,.0f} MiB")

    with Home(work, "resume", **settings) as home:
        home.warm_up()
        before = home.committed()
        half = before + count // 2
        warm_tree(folder)
        killed = home.ingest(str(folder), kill_when=lambda: home.committed() >= half, check=False)
        at = home.committed() - before
        say(f"resume: killed after {killed.seconds:.1f} s, {at} of {count} files committed")
        warm_tree(folder)
        again = home.ingest(str(folder), check=False)
        counts = home.names()
        ingested = home.events("INGESTED") - home.warmed
    shutil.rmtree(home.path)
    shutil.rmtree(folder)
    once = sum(1 for n in names if counts.get(n) == 1)
    twice = sum(1 for n in names if counts.get(n, 0) > 1)
    resumed = "Resumed an unfinished ingest" in again.stdout
    ok = killed.killed and 0 < at < count and again.returncode == 0 and once == count
    ok = ok and not twice and ingested == count
    return [
        Row(
            f"many-files: {count}x4 KiB, one jitev ingest: peak RSS",
            "MiB",
            peak,
            None,
            "the process tree's",
            limit=RSS_LIMIT_MIB,
            note=f"the larger of the sum of VmRSS over the command's session sampled every "
            f"50 ms (shared pages counted in each process: {done.tree_peak_kib / 1024:,.0f} MiB) "
            f"and its largest process's peak (ru_maxrss: {done.maxrss_kib / 1024:,.0f} MiB); "
            f"{engine_note()} (the engine's server is not the command's)",
            samples={"jitev": [done.seconds], "maxrss_mib": [done.maxrss_kib / 1024]},
        ),
        Row(
            "  many-files: the same ingest's rate",
            "files/s",
            rate,
            None,
            "(no baseline)",
            note=f"{done.seconds:.1f} s, whole command; stages {done.stage_times() or '-'}",
        ),
        Row(
            "resumable: kill -9 half way, the same command again",
            "yes/no",
            1.0 if ok else 0.0,
            None,
            "(no baseline)",
            least=1,
            note=f"SIGKILL to the command's process group after {killed.seconds:.1f} s, "
            f"{at} of {count} committed (killed: {killed.killed}); the same command again: exit "
            f"{again.returncode}, {again.seconds:.1f} s, resumed: {resumed}; in the catalog: "
            f"{once} files with one exhibit, {twice} with more, {count - once - twice} with none; "
            f"INGESTED events {ingested}",
            samples={"killed_after": [killed.seconds], "rerun": [again.seconds]},
        ),
    ]
