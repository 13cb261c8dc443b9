"""The jitev command as a person runs it, for the workloads that time whole
commands (bench/commands.py, and ``s3-files``): a fresh ``JITEV_HOME`` set up
by ``jitev setup config/jit.example.toml`` (case DANUBE: BG, ME, FR, FR
leading; the example's people), its local engine started untimed when jitev
has one (``jitev engine start``, stopped on the way out whatever happens),
and each command in a subprocess of its own session: timed from its start to
its exit, with the peak resident set of its whole process tree (sampled) and
of its largest process (``ru_maxrss``), and optionally killed with SIGKILL,
the whole tree at once, when a condition holds.

What a command did is read back from the home's SQLite catalog (read only),
so that every command runs as a person runs it: no ``--json``, its output to
a file (not a terminal: no progress bar)."""

from __future__ import annotations

import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.common import SETTINGS_PREFIXES, SMALL, say  # noqa: E402 - after the path is set

JITEV = str(Path(sys.executable).parent / "jitev")
JIT_FILE = str(REPO / "config" / "jit.example.toml")
CASE = "DANUBE"
TEAM = "BG"
INVESTIGATOR = "Insp. Petrova"  # a BG investigator: ingests into BG, requests hand-offs
JIT_LEAD = "Cdt. Laurent"  # a lead of FR, DANUBE's lead team: approves, and so dispatches
RECEIVER = "FR"
SAMPLE_S = 0.05  # how often the process tree's RSS is sampled
CHECK_S = 0.25  # how often a kill condition is asked
TIMEOUT_S = 6 * 3600  # a bound on any one command, never a measured time
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class Done:
    """One finished command."""

    args: tuple[str, ...]
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    tree_peak_kib: int = 0  # the largest sum of the session's RSS sampled (with sample=True)
    maxrss_kib: int = 0  # ru_maxrss of the command (its largest process, waited-for children)
    killed: bool = False

    def stage_times(self) -> str:
        """The ``Time per stage`` line ``jitev ingest`` prints (without those
        words), if it printed one."""
        for line in self.stdout.splitlines():
            if line.startswith("Time per stage"):
                return line.removeprefix("Time per stage").strip()
        return ""


def _session_stats(sid: int) -> list[tuple[int, int]]:
    """(pid, RSS bytes) of every process of the session ``sid``."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is field 3 of proc(5) (state): the session is field 6, the RSS (pages) 24
        if len(fields) > 21 and int(fields[3]) == sid:
            found.append((int(entry.name), int(fields[21]) * PAGE))
    return found


def _kill_session(sid: int) -> None:
    """SIGKILL to the command's process group, then to anything of its session left."""
    for pids in ([sid], [pid for pid, _ in _session_stats(sid)]):
        for pid in pids:
            try:
                if pid == sid:
                    os.killpg(sid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class _Watch(threading.Thread):
    """While a command runs: its tree's RSS, its kill condition, its timeout."""

    def __init__(self, pid: int, sample: bool, kill_when: Callable[[], bool] | None) -> None:
        super().__init__(daemon=True)
        self.pid, self.sample, self.kill_when = pid, sample, kill_when
        self.peak = 0
        self.killed = False
        self.stop = threading.Event()

    def run(self) -> None:
        started = asked = time.monotonic()
        while not self.stop.wait(SAMPLE_S):
            if self.sample:
                self.peak = max(self.peak, sum(rss for _, rss in _session_stats(self.pid)))
            now = time.monotonic()
            condition = self.kill_when is not None and now - asked >= CHECK_S
            if condition:
                asked = now
            if (condition and self.kill_when is not None and self.kill_when()) or (
                now - started > TIMEOUT_S
            ):
                self.killed = True
                _kill_session(self.pid)
                return


def run(
    env: dict[str, str],
    args: tuple[str, ...],
    logs: Path,
    *,
    sample: bool = False,
    kill_when: Callable[[], bool] | None = None,
    check: bool = True,
) -> Done:
    """``jitev ARGS`` in a new session, stdout and stderr to files under ``logs``."""
    logs.mkdir(parents=True, exist_ok=True)
    n = len(list(logs.iterdir())) // 2
    out, err = logs / f"{n:03d}-{args[0]}.out", logs / f"{n:03d}-{args[0]}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            [JITEV, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        watch = _Watch(process.pid, sample, kill_when)
        watch.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        watch.stop.set()
        watch.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if watch.killed:
        _kill_session(process.pid)  # what the tree left behind (none is expected)
    done = Done(
        args,
        seconds,
        process.returncode,
        out.read_text(errors="replace"),
        err.read_text(errors="replace"),
        watch.peak // 1024,
        usage.ru_maxrss,
        watch.killed,
    )
    if check and (done.returncode != 0 or done.killed):
        raise SystemExit(
            f"bench: jitev {' '.join(args)} exited {done.returncode}"
            f"{' (killed)' if done.killed else ''}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def plain_env() -> dict[str, str]:
    """This process's environment without any jitev setting (the in-process
    workloads set some in ``os.environ``)."""
    return {
        k: v
        for k, v in os.environ.items()
        if not (k.startswith(SETTINGS_PREFIXES) or k in ("JITEV_HOME", "JITEV_CONFIG"))
        and k != "JITEV_USER_NAME"
    }


@functools.cache
def has_engine() -> bool:
    """Whether this jitev has ``jitev engine`` (a long-lived local Prefect server)."""
    done = subprocess.run(
        [JITEV, "engine", "--help"], env=plain_env(), capture_output=True, check=False
    )
    return done.returncode == 0


def command_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment of the commands of ``home``: this process's without
    jitev settings, with ``JITEV_HOME`` and ``settings`` as ``JITEV_<KEY>``.
    With a local engine, Prefect's home is the engine's default, the home's
    own (``$JITEV_HOME/prefect``), as a person has it: the bench process's
    ``PREFECT_HOME`` is dropped. Without one (Prefect's ephemeral server in
    each command), it is one for every home of the run, ``prefect-cli`` beside
    them: migrated once, and not the in-process workloads' one (the commands
    run one at a time)."""
    env = {**plain_env(), "JITEV_HOME": str(home), "COLUMNS": "200"}
    if has_engine() or "PREFECT_API_URL" in env:
        env.pop("PREFECT_HOME", None)
    else:
        env["PREFECT_HOME"] = str(home.parent / "prefect-cli")
    env.update({f"JITEV_{key}": value for key, value in settings.items()})
    return env


@contextmanager
def engine(env: dict[str, str], logs: Path, name: str) -> Iterator[bool]:
    """The home's local engine, started untimed if jitev has one (``jitev
    engine start``), and stopped on the way out whatever happens (``jitev
    engine stop``, also after a failed start). Yields whether there is one."""
    if not has_engine():
        yield False
        return
    try:
        done = run(env, ("engine", "start"), logs)
        say(f"{name}: jitev engine start: {done.seconds:.1f} s (not timed)")
        yield True
    finally:
        done = run(env, ("engine", "stop"), logs, check=False)
        if done.returncode != 0:
            say(f"{name}: jitev engine stop exited {done.returncode}: {done.stderr[-500:]}")


class Home:
    """A fresh ``JITEV_HOME`` under ``work``, set up from the example JIT file,
    its commands' environment ``command_env``; its engine (if any) runs while
    the ``with`` block does."""

    def __init__(self, work: Path, name: str, **settings: str) -> None:
        self.name = name
        self.path = work / f"home-{name}"
        self.logs = work / f"logs-{name}"
        self.env = command_env(self.path, **settings)
        self.warmed = 0  # exhibits the warm-up made
        self._stack = ExitStack()

    def __enter__(self) -> Home:
        self.jitev("setup", JIT_FILE)
        self._stack.enter_context(engine(self.env, self.logs, self.name))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def jitev(self, *args: str, **kw: Any) -> Done:
        return run(self.env, args, self.logs, **kw)

    def ingest(self, *paths: str, **kw: Any) -> Done:
        """``jitev ingest PATHS --case DANUBE --team BG --as "Insp. Petrova"``."""
        return self.jitev(
            "ingest", *paths, "--case", CASE, "--team", TEAM, "--as", INVESTIGATOR, **kw
        )

    def exhibits_list(self) -> Done:
        return self.jitev("exhibits", "list", "--as", INVESTIGATOR)

    def warm_up(self) -> None:
        """Untimed, as a person who has used jitev before: one tiny ingest (the
        first migrates Prefect's database; every one warms the OS's caches of
        jitev's code) and one ``exhibits list``."""
        tiny = self.path.parent / f"warm-{self.name}.bin"
        tiny.write_bytes(self.name.encode() + os.urandom(SMALL))
        done = self.ingest(str(tiny))
        tiny.unlink()
        self.warmed += 1
        self.exhibits_list()
        say(f"{self.name}: warm-up jitev ingest of a tiny file: {done.seconds:.1f} s (not timed)")

    def transfer_of(self, reference: str, timed: bool) -> float:
        """Ask (untimed) to hand ``reference`` from BG to FR, as the BG
        investigator; then ``jitev transfer approve`` it as the JIT lead, which
        approves and dispatches: that command's time. It must end dispatched."""
        done = self.jitev(
            "transfer", "request", reference, "--case", CASE, "--to", RECEIVER,
            "--as", INVESTIGATOR, "--json",
        )  # fmt: skip
        transfer_id = str(json.loads(done.stdout)["id"])
        done = self.jitev("transfer", "approve", transfer_id, "--as", JIT_LEAD)
        state = self.transfer_state(transfer_id)
        if state != "dispatched":
            raise SystemExit(
                f"bench: transfer {transfer_id} is {state} after approve:\n{done.stdout}"
            )
        if not timed:
            say(f"{self.name}: warm-up transfer approve: {done.seconds:.1f} s (not timed)")
        return done.seconds

    # -- the catalog, read only -----------------------------------------------------------

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        db = sqlite3.connect(self.path / "jitev.db", timeout=60)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def committed(self) -> int:
        """Exhibits of the case in the catalog."""
        return int(self.query("SELECT count(*) FROM exhibits WHERE case_id = ?", CASE)[0][0])

    def names(self) -> dict[str, int]:
        """How many exhibits of the case each original file name has."""
        rows = self.query(
            "SELECT original_name, count(*) FROM exhibits WHERE case_id = ? GROUP BY 1", CASE
        )
        return {name: n for name, n in rows}

    def events(self, action: str) -> int:
        rows = self.query(
            "SELECT count(*) FROM custody_events WHERE case_id = ? AND action = ?", CASE, action
        )
        return int(rows[0][0])

    def reference(self, name: str) -> str:
        rows = self.query(
            "SELECT reference FROM exhibits WHERE case_id = ? AND original_name = ?", CASE, name
        )
        if len(rows) != 1:
            raise SystemExit(f"bench: {len(rows)} exhibits named {name}, not one")
        return str(rows[0][0])

    def transfer_state(self, transfer_id: str) -> str:
        rows = self.query("SELECT state FROM transfers WHERE id = ?", transfer_id)
        return str(rows[0][0]) if rows else "missing"

    def check_stored(self, done: Done, names: set[str], before: int) -> None:
        """The command made one exhibit of each of ``names``, and no other."""
        counts = self.names()
        bad = sorted(n for n in names if counts.get(n) != 1)
        made = self.committed() - before
        if bad or made != len(names):
            raise SystemExit(
                f"bench: jitev {' '.join(done.args)}: {made} exhibits made for {len(names)} "
                f"files; not exactly once: {bad[:5]}\n{done.stdout[-2000:]}"
            )
