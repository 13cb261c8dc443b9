#!/usr/bin/env python3
"""Client-mode ingest benchmark: ``jitev ingest`` through a jitev server's
API against the same command on the server's own machine (direct mode).

    .venv/bin/python bench/client.py [--files 10000] [--repeat 2] [--quick] [--json] [--keep]

or ``make bench`` (``BENCH=client`` for this one alone). It needs no server of
its own: ``jitev serve`` on a free loopback port over the local store and
SQLite, in a temporary ``JITEV_HOME``.

The workload is a folder of ``--files`` files of 8 KiB (default 10,000), new
random bytes for each measurement (never a duplicate), in the page cache.
Timed, each as a whole command (process start, imports, the ingest, its
answer):

- **direct**: ``jitev ingest FOLDER --case DANUBE --as "Insp. Petrova"
  --json`` on the server's home (the catalog and the store of this machine;
  the ingest flow on the local Prefect engine);
- **client**: ``jitev ingest FOLDER --case DANUBE --json`` signed in to the
  server as Insp. Petrova (``jitev login``): hashed here, asked about
  (``POST .../exhibits/known``), and sent in batches
  (``POST .../uploads``), stored and committed by the server.

The ratio is client files/s / direct files/s; the goal is at least 0.5. The
client's own split (hash, lookup, send) is printed, which says where the
difference goes. ``--repeat`` alternating measurements, the best of each.

Setup, untimed: ``jitev setup config/jit.example.toml``, a password for Insp.
Petrova, the local engine (``jitev engine start``, stopped at the end),
``jitev serve``, ``jitev login`` with a sign-in file under the work folder,
one tiny ingest each way. Everything is removed at the end (unless ``--keep``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.cli import engine  # noqa: E402 - after the path is set
from bench.common import (  # noqa: E402
    Row,
    Run,
    best,
    clean_settings_env,
    options,
    report,
    say,
    small_files,
    warm_tree,
    workdir,
)
from bench.web import CASE, JIT_FILE, PASSWORD, PERSON, Server, environment, jitev  # noqa: E402

SIZE = 8 * 1024
GOAL = 0.5  # client files/s / direct files/s, at least


def ingest(env: dict[str, str], folder: Path, *extra: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    out = jitev(env, "ingest", str(folder), "--case", CASE, *extra, "--json")
    seconds = time.perf_counter() - started
    result: dict[str, Any] = json.loads(out)
    stored = sum(o["status"] == "stored" for o in result["outcomes"])
    if stored != len(list(folder.iterdir())):
        raise SystemExit(f"bench: jitev ingest {folder}: {stored} stored, not every file")
    return seconds, result


def measure(work: Path, count: int, repeat: int) -> list[Row]:
    home = work / "home"
    env = environment(home)
    jitev(env, "setup", JIT_FILE)
    jitev(env, "people", "passwd", PERSON, "--password-stdin", stdin=PASSWORD + "\n")
    client_env = {
        **{k: v for k, v in env.items() if k != "JITEV_HOME"},
        "JITEV_HOME": str(work / "no-home"),
        "JITEV_CLIENT_CONFIG": str(work / "client.toml"),
    }
    with engine(env, work / "logs", "client"):
        server = Server(env, work / "serve.log")
        try:
            jitev(client_env, "login", "--server", server.url, "--name", PERSON,
                  "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
            for side, e, extra in (("direct", env, ("--as", PERSON)), ("client", client_env, ())):
                ingest(e, small_files(work / f"warm-{side}", 2, salt=side.encode()), *extra)
            directs: list[float] = []
            clients: list[float] = []
            split: dict[str, float] = {}
            for i in range(repeat):
                folder = small_files(work / f"direct-{i}", count, salt=b"d%d" % i, size=SIZE)
                warm_tree(folder)
                seconds, _ = ingest(env, folder, "--as", PERSON)
                directs.append(seconds)
                say(f"direct {i + 1}/{repeat}: {count / seconds:,.0f} files/s ({seconds:.1f} s)")
                folder = small_files(work / f"client-{i}", count, salt=b"c%d" % i, size=SIZE)
                warm_tree(folder)
                seconds, result = ingest(client_env, folder)
                clients.append(seconds)
                if seconds <= best(clients):
                    split = result["seconds"]
                say(f"client {i + 1}/{repeat}: {count / seconds:,.0f} files/s ({seconds:.1f} s)")
        finally:
            server.stop()
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in split.items())
    return [
        Row(
            f"client mode: ingest {count:,}x8 KiB",
            "files/s",
            count / best(clients),
            count / best(directs),
            "jitev ingest on the server's machine",
            GOAL,
            note=(
                f"best {best(clients):.1f} s through jitev serve against {best(directs):.1f} s "
                f"direct; the client's stages: {stages} (the rest: process start and imports)"
            ),
            samples={"jitev": clients, "baseline": directs},
        )
    ]


def main(argv: list[str] | None = None) -> int:
    p = options(__doc__, "1,000 files, one repeat")
    p.add_argument("--files", type=int, default=10_000)
    args = p.parse_args(argv)
    if args.quick:
        args.files, args.repeat = 1000, 1
    args.repeat = args.repeat or 2
    started, load = time.perf_counter(), os.getloadavg()[0]
    dropped = clean_settings_env()
    if dropped:
        say(f"ignoring inherited jitev settings: {', '.join(sorted(dropped))}")
    run = Run(None, "", "", started, load)
    with workdir(args.keep) as work:
        rows = measure(work, args.files, args.repeat)
    report(
        run,
        "client",
        f"{args.files:,} files of 8 KiB, local store, SQLite, best of {args.repeat}",
        rows,
        {"files": args.files, "repeat": args.repeat} if args.json else None,
        (f"the ratio is client-mode files/s / direct-mode files/s (goal >= {GOAL:g}x)",),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
