#!/usr/bin/env python3
"""Web upload benchmark: one large file through the JSON API against ``jitev ingest``.

    .venv/bin/python bench/web.py [--size-gib 2] [--repeat 2] [--quick] [--json] [--keep]
                                  [--exhibits 100000] [--pages-only]

or ``make bench`` (``BENCH=web`` for this one alone). It needs no server of
its own: the local store and SQLite, in a temporary ``JITEV_HOME``.

Then the lists at scale (bench/web_pages.py, its docstring says how): the
first /exhibits page, the first GET /api/v1/exhibits page and a hash-prefix
search in a case of ``--exhibits`` exhibits against an empty case (goals:
at most 2x the empty case's time, the page at most 100 KiB). ``--pages-only``
skips the upload.

What is timed on the web side is one ``POST /api/v1/cases/DANUBE/exhibits?name=...``
of a file of ``--size-gib`` GiB (default 2), from the request's first byte to
the 201 answer: the file streamed from disk by an httpx client (1 MiB reads
from a generator, an explicit ``Content-Length``, no chunked encoding: the
client never holds the file), received by ``jitev serve`` (uvicorn, in its own
process), hashed once through BLAKE3 + SHA-256 into the write-once local store,
verified, and recorded with its INGESTED custody event in SQLite. The caller is
Insp. Petrova (a BG investigator) with an API token.

The baseline, in the same run, on the same machine and file system, is the
command a person runs on the evidence machine: ``jitev ingest FILE --case
DANUBE --as "Insp. Petrova" --json``, timed as a whole (process start, imports,
Prefect's ephemeral server and the ingest flow run, the ledger check it
prints); the ratio is web / CLI (above 1: the upload is faster). That
command's fixed cost is printed too: the best of two ``jitev ingest`` of a
tiny file. A second reference is the same ingest path without the command:
``ingesting.plan_ingest`` + ``store_file`` + ``commit`` of the file in this
process (as in bench/ingest.py ``local-large``, here as Insp. Petrova into the
same catalog and store): no process start, no Prefect, no HTTP; web / that is
what the upload's HTTP path costs, and its goal: at least 0.9x (printed met
or missed). bench/ingest.py runs this workload too, on its own large file
(unless ``--skip-web``).

All sides ingest the same file on disk, which is given a new random first 16
bytes before every measurement (so each is a new exhibit, never a duplicate:
a different file of the same size) and then read through once to hash it (the
expected digests, checked against the outcome) and to leave it in the page
cache: every measurement starts with the same cache state. ``--repeat``
measurements of each, alternating CLI, in-process and web, the best of each
kept.

Memory: the server's peak resident set (``VmHWM`` of /proc/PID/status) after
the uploads; for comparison, its resident set and its peak once logged in,
before the large uploads (a login hashes the password with argon2id, which
takes 64 MiB for a moment), and the largest ``VmRSS`` sampled every 20 ms
during the uploads: streaming keeps it flat whatever the file's size.

Setup, untimed: ``jitev setup config/jit.example.toml`` (case DANUBE, teams
BG, ME, FR, the people of the example) in a fresh ``JITEV_HOME`` under a
temporary directory, ``jitev people passwd`` for Insp. Petrova, ``jitev
engine start`` when jitev has a local engine (its Prefect home is then the
home's own; ``jitev engine stop`` at the end, whatever happens; without one,
Prefect's home is beside the home), ``jitev serve --port`` a free loopback
port, a login and an API token, a tiny upload and a tiny ``jitev ingest``
(which migrates a new local Prefect database). Everything is removed at the
end (unless ``--keep``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evidence import ingest as ingesting

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.cli import command_env, engine  # noqa: E402 - after the path is set
from bench.common import (  # noqa: E402
    GiB,
    MiB,
    Row,
    Run,
    best,
    clean_settings_env,
    configure,
    large_file,
    multihash_pass,
    options,
    report,
    say,
    sized,
    workdir,
)

JITEV = str(Path(sys.executable).parent / "jitev")
JIT_FILE = str(REPO / "config" / "jit.example.toml")
CASE = "DANUBE"
PERSON = "Insp. Petrova"  # a BG investigator: ingests into BG
PASSWORD = "bench: correct horse battery staple"
SEND = 1 * MiB  # the client's read size
STAMP = 16  # bytes made new before each measurement
IN_PROCESS_GOAL = 0.9  # the upload's speed / the in-process ingest path's, at least


# -- the jitev server and command ------------------------------------------------------------


def environment(home: Path) -> dict[str, str]:
    """The commands' environment (bench/cli.py ``command_env``: no inherited
    jitev settings, Prefect's home the engine's): the local store and SQLite
    under ``home``."""
    return command_env(home)


def jitev(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [JITEV, *args], env=env, input=stdin, capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        raise SystemExit(
            f"bench: jitev {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status_kib(pid: int, field_name: str) -> int:
    """A ``kB`` field of /proc/PID/status (VmRSS, VmHWM), in KiB; 0 once gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


@dataclass
class Sampler:
    """The largest VmRSS of a process, sampled every 20 ms while running."""

    pid: int
    peak_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_kib = max(self.peak_kib, status_kib(self.pid, "VmRSS"))

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()


class Server:
    """``jitev serve`` in a subprocess on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log.open("wb")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [JITEV, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(log)
        say(f"jitev serve (pid {self.process.pid}) ready in {time.perf_counter() - started:.1f} s")

    def _wait_ready(self, log: Path) -> None:
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: jitev serve exited:\n{log.read_text()}")
            try:
                if httpx.get(self.url + "/api/v1/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"bench: jitev serve did not answer within 120 s:\n{log.read_text()}")

    def kib(self, field_name: str) -> int:
        return status_kib(self.process.pid, field_name)

    def stop(self) -> None:
        """Ctrl-C, as a person stops it; killed if it has not ended in 30 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


# -- the two sides -----------------------------------------------------------------------------


def stamp(path: Path) -> Any:
    """New first bytes (a new exhibit), then one read through: the expected
    digests, and the file in the page cache."""
    with path.open("r+b") as f:
        f.write(os.urandom(STAMP))
    return multihash_pass(path)


def check(what: str, got: dict[str, Any], expected: Any) -> None:
    found = (got.get("status"), got.get("size"), got.get("blake3"), got.get("sha256"))
    if found != ("stored", expected.size, expected.blake3, expected.sha256):
        raise SystemExit(f"bench: {what}: unexpected outcome {got!r}, expected {expected!r}")


def api_token(url: str) -> str:
    """Log in as PERSON with the password, and make an API token."""
    import httpx

    with httpx.Client(base_url=url, timeout=60) as client:
        answer = client.post("/api/v1/session", json={"name": PERSON, "password": PASSWORD})
        answer.raise_for_status()
        csrf = answer.json()["csrf"]
        answer = client.post(
            "/api/v1/tokens", json={"label": "bench"}, headers={"X-CSRF-Token": csrf}
        )
        answer.raise_for_status()
        return str(answer.json()["secret"])


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb", buffering=0) as f:
        while chunk := f.read(SEND):
            yield chunk


def upload(url: str, token: str, path: Path, name: str) -> dict[str, Any]:
    """Stream ``path`` as the raw body of one upload; the answer's JSON."""
    import httpx

    size = path.stat().st_size
    with httpx.Client(base_url=url, timeout=httpx.Timeout(3600, connect=30)) as client:
        answer = client.post(
            f"/api/v1/cases/{CASE}/exhibits",
            params={"name": name},
            content=chunks(path),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/octet-stream",
                "Content-Length": str(size),
            },
        )
    if answer.status_code != 201:
        raise SystemExit(f"bench: upload {name}: {answer.status_code} {answer.text}")
    result: dict[str, Any] = answer.json()
    return result


def cli_ingest(env: dict[str, str], path: Path) -> dict[str, Any]:
    """``jitev ingest FILE --case DANUBE --as PERSON --json``: its one outcome."""
    out = jitev(env, "ingest", str(path), "--case", CASE, "--as", PERSON, "--json")
    outcomes: list[dict[str, Any]] = json.loads(out)["outcomes"]
    if len(outcomes) != 1:
        raise SystemExit(f"bench: jitev ingest {path}: {outcomes!r}")
    return outcomes[0]


def direct_ingest(w: Any, path: Path) -> dict[str, Any]:
    """The ingest path of ``jitev ingest`` without the command and Prefect:
    plan, run, store (hash, write, verify), commit, in this process."""
    from evidence.models import ExhibitMetadata

    person = w.catalog.person(PERSON)
    plan = ingesting.plan_ingest(
        w.catalog,
        case_id=CASE,
        team=person.team,
        actor=PERSON,
        paths=[str(path)],
        defaults=ExhibitMetadata(),
    )
    run = w.catalog.start_run(CASE, person.team, PERSON, plan.fingerprint)
    item = ingesting.store_file(w.store, person.team, plan.files[0])
    [outcome] = ingesting.commit(w.catalog, plan, run, [item])
    w.catalog.finish_run(run.id)
    return outcome.as_dict()


def timed_call(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


# -- the workload ------------------------------------------------------------------------------


def bench_web(work: Path, data: Path, repeat: int) -> list[Row]:
    """Set up the home, then measure with its local engine running (if jitev
    has one: started untimed, stopped at the end whatever happens)."""
    home = work / "home-web"
    env = environment(home)
    jitev(env, "setup", JIT_FILE)
    jitev(env, "people", "passwd", PERSON, "--password-stdin", stdin=PASSWORD + "\n")
    with engine(env, work / "logs-web", "web"):
        return measure(work, data, repeat, home, env)


def measure(work: Path, data: Path, repeat: int, home: Path, env: dict[str, str]) -> list[Row]:
    size = data.stat().st_size
    rate = size / MiB
    tiny = work / "tiny.bin"
    tiny.write_bytes(b"tiny" + os.urandom(8 * 1024))
    started = time.perf_counter()
    stamp(tiny)
    cli_ingest(env, tiny)  # migrates the new local Prefect database
    say(f"first jitev ingest of a tiny file (Prefect setup): {time.perf_counter() - started:.1f} s")
    fixed: list[float] = []
    for _ in range(2):
        stamp(tiny)
        seconds, outcome = timed_call(cli_ingest, env, tiny)
        fixed.append(seconds)
    say(f"jitev ingest of a tiny file: best {best(fixed):.2f} s (the command's fixed cost)")

    w = configure(home)  # the same home, for the in-process ingest
    stamp(tiny)
    direct_ingest(w, tiny)  # warms this process's catalog and store

    server = Server(env, work / "serve.log")
    try:
        token = api_token(server.url)
        stamp(tiny)
        upload(server.url, token, tiny, "tiny.bin")  # warms the catalog and the store
        idle, hwm_before = server.kib("VmRSS"), server.kib("VmHWM")
        say(
            f"server after login and a tiny upload: RSS {idle / 1024:,.0f} MiB, "
            f"peak so far {hwm_before / 1024:,.0f} MiB"
        )

        webs: list[float] = []
        clis: list[float] = []
        directs: list[float] = []
        with Sampler(server.process.pid) as sampler:
            for i in range(repeat):
                expected = stamp(data)
                seconds, outcome = timed_call(cli_ingest, env, data)
                check("jitev ingest", outcome, expected)
                clis.append(seconds)
                say(f"jitev ingest {i + 1}/{repeat}: {rate / seconds:,.1f} MiB/s ({seconds:.1f} s)")

                expected = stamp(data)
                seconds, outcome = timed_call(direct_ingest, w, data)
                check("in-process ingest", outcome, expected)
                directs.append(seconds)
                say(f"in-process ingest {i + 1}/{repeat}: {rate / seconds:,.1f} MiB/s")

                expected = stamp(data)
                seconds, outcome = timed_call(upload, server.url, token, data, f"web-{i}.bin")
                check("upload", outcome, expected)
                webs.append(seconds)
                say(f"web upload {i + 1}/{repeat}: {rate / seconds:,.1f} MiB/s ({seconds:.1f} s)")
        hwm = server.kib("VmHWM")
        sampled = sampler.peak_kib
    finally:
        server.stop()

    gib = f"{size / GiB:g} GiB"
    return [
        Row(
            f"web: upload 1x{gib}",
            "MiB/s",
            rate / best(webs),
            rate / best(clis),
            "jitev ingest, whole command",
            note=(
                f"POST /api/v1/cases/{CASE}/exhibits, streamed with Content-Length, to jitev "
                f"serve: best {best(webs):.2f} s; jitev ingest: best {best(clis):.2f} s (a tiny "
                f"file's jitev ingest: best {best(fixed):.2f} s: process, imports, Prefect)"
            ),
            samples={"jitev": webs, "baseline": clis, "cli_tiny": fixed},
        ),
        Row(
            "  web: against the in-process ingest path",
            "MiB/s",
            rate / best(webs),
            rate / best(directs),
            "ingesting.store_file + commit, no Prefect",
            IN_PROCESS_GOAL,
            note=(
                f"plan_ingest + store_file + commit in the bench process: best "
                f"{best(directs):.2f} s; the upload's HTTP path adds "
                f"{best(webs) - best(directs):+.2f} s"
            ),
            samples={"jitev": webs, "baseline": directs},
        ),
        Row(
            "web: server peak RSS",
            "MiB",
            hwm / 1024,
            None,
            "VmHWM of jitev serve",
            note=(
                f"before the large uploads (logged in, one tiny upload): resident "
                f"{idle / 1024:,.0f} MiB, peak so far {hwm_before / 1024:,.0f} MiB (the login's "
                f"argon2id hash); largest VmRSS sampled during the uploads of "
                f"{size / MiB:,.0f} MiB: {sampled / 1024:,.0f} MiB"
            ),
            samples={
                "idle_mib": [idle / 1024],
                "peak_before_mib": [hwm_before / 1024],
                "sampled_peak_mib": [sampled / 1024],
            },
        ),
    ]


def bench_pages(work: Path, count: int) -> list[Row]:
    """The lists at scale (bench/web_pages.py): a home of its own, seeded,
    then ``jitev serve``."""
    from bench import web_pages

    home = work / "home-pages"
    env = environment(home)
    jitev(env, "setup", JIT_FILE)
    jitev(env, "people", "passwd", PERSON, "--password-stdin", stdin=PASSWORD + "\n")
    prefix = web_pages.seed(configure(home), count)
    with engine(env, work / "logs-pages", "pages"):  # stopped at the end, not left running
        server = Server(env, work / "serve-pages.log")
        try:
            return web_pages.measure(server.url, api_token(server.url), count, prefix)
        finally:
            server.stop()


# -- main -------------------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = options(__doc__, "256 MiB, one repeat")
    p.add_argument("--exhibits", type=int, default=100_000, help="of the lists' large case")
    p.add_argument("--pages-only", action="store_true", help="only the lists at scale")
    return sized(p, p.parse_args(argv))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started, load = time.perf_counter(), os.getloadavg()[0]
    dropped = clean_settings_env()
    if dropped:
        say(f"ignoring inherited jitev settings: {', '.join(sorted(dropped))}")
    # No S3 here (--skip-s3 is accepted, as by every bench, and changes nothing).
    run = Run(None, "", "", started, load)
    with workdir(args.keep) as work:
        rows, size = [], 0
        if not args.pages_only:
            data = large_file(work, args.size_gib)
            size = data.stat().st_size
            rows = bench_web(work, data, args.repeat)
            data.unlink()
        rows += bench_pages(work, args.exhibits)
    report(
        run,
        "web",
        f"one file of {size / GiB:g} GiB, local store, SQLite, best of {args.repeat}",
        rows,
        {"size_bytes": size, "repeat": args.repeat} if args.json else None,
        (
            "the ratios are web upload speed / jitev ingest's, and / the in-process "
            f"ingest path's (goal >= {IN_PROCESS_GOAL:g}x), above 1 when the upload is faster",
            f"the lists: a case of {args.exhibits:,} exhibits / an empty case (goal <= 2x)",
        ),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
