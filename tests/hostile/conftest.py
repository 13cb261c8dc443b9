"""The hostile-input corpus: every input is built at test time (names that
are not UTF-8, unreadable folders, failing reads, manifests at and over their
limits, bundles with huge fields, non-regular paths, formula cells, stalled
uploads, forwarded headers). For each input a test asserts three things:

1. a clear error (the documented exit code, one line naming the file, no
   traceback) or a faithful result;
2. nothing half-written: no exhibit, no event, no run left that cannot finish
   (``Catalog.counts`` before and after);
3. bounded memory: the peak RSS of the ``jitev`` subprocess (its ``VmHWM``).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.cli_helpers import (
    INVESTIGATOR,
    JITEV,
    environment,
    ingest,
    jitev,
    jitev_json,
    open_case,
)

# What a jitev command may use at most, whatever the input: the CLI with Prefect
# loaded stays well under it, a command that reads a hostile input whole does not.
RSS_LIMIT_MIB = 400


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mib: float

    def clear_error(self, code: int, *names: str) -> None:
        """Exit ``code``, no traceback, and a message naming each of ``names``."""
        said = self.stdout + self.stderr
        assert "Traceback" not in said, said
        assert self.returncode == code, f"exit {self.returncode}, wanted {code}:\n{said}"
        for name in names:
            assert name in said, f"{name!r} is not named:\n{said}"

    def bounded(self, limit_mib: float = RSS_LIMIT_MIB) -> None:
        assert self.peak_rss_mib <= limit_mib, f"peak RSS {self.peak_rss_mib:.0f} MiB"


# Root reads everything: a command run ``unprivileged`` has the capabilities
# that bypass file permissions dropped, so that access rights apply to it.
UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


def run_measured(
    env: dict[str, str],
    *args: str,
    timeout: float = 300,
    stdin: bytes | None = None,
    unprivileged: bool = False,
) -> Measured:
    """``jitev ARGS`` in a subprocess: its exit code, output and peak RSS
    (its ``VmHWM``, read as it runs: the child's own ``ru_maxrss`` would count
    the test process it was forked from). A command still running after
    ``timeout`` seconds is killed, and the test fails."""
    process = subprocess.Popen(
        [*(UNPRIVILEGED if unprivileged else []), JITEV, *args],
        env=env,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    with ThreadPoolExecutor(2) as readers:
        out = readers.submit(process.stdout.read)
        errors = readers.submit(process.stderr.read)
        if process.stdin is not None:
            process.stdin.write(stdin or b"")
            process.stdin.close()
        deadline = time.monotonic() + timeout
        peak = 0.0
        while True:
            peak = max(peak, _high_water_mib(process.pid))
            pid, status, _ = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                os.wait4(process.pid, 0)
                raise AssertionError(f"jitev {' '.join(args)} did not end in {timeout} s")
            time.sleep(0.02)
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    process.stderr.close()
    return Measured(
        process.returncode,
        out.result().decode(errors="replace"),
        errors.result().decode(errors="replace"),
        peak,
    )


def _high_water_mib(pid: int) -> float:
    """The peak RSS of the running process ``pid`` (``VmHWM``: since its
    ``exec``, so not the forking test process's), 0 once it has ended."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return 0.0


def counts(home: Path) -> dict[str, int]:
    """What a command could have half-written in the embedded catalog: exhibits,
    custody events, stored bundles, and ingest runs left unfinished."""
    with sqlite3.connect(home / "jitev.db") as db:
        one = lambda sql: db.execute(sql).fetchone()[0]  # noqa: E731
        return {
            "exhibits": one("SELECT count(*) FROM exhibits"),
            "events": one("SELECT count(*) FROM custody_events"),
            "bundles": one("SELECT count(*) FROM bundles"),
            "open_runs": one("SELECT count(*) FROM ingest_runs WHERE finished_at IS NULL"),
        }


@pytest.fixture(scope="module")
def case_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A JITEV_HOME with case DANUBE opened (``jitev setup``), shared by a
    module's tests; each test compares ``counts`` before and after."""
    base = tmp_path_factory.mktemp("hostile")
    env = environment(base / "jitev", base / "prefect")
    open_case(env)
    return base / "jitev", env


TRANSFER = "DANUBE-T-0001"  # the first hand-off of the case


def handed_over(env: dict[str, str], seized: Path, count: int, handed: int) -> dict[str, str]:
    """``count`` files ingested by BG (the ``i``-th ``100 × i`` lines), the
    first ``handed`` of them handed to FR: requested, approved by the JIT
    lead (which dispatches) and received. Each exhibit's BLAKE3, its key in
    every team's namespace."""
    for i in range(1, count + 1):
        (seized / f"item-{i}.txt").write_text(f"seized item {i}\n" * (100 * i))
    ingest(env, str(seized))
    listed = jitev_json(env, "exhibits", "list", "--case", "DANUBE", "--as", INVESTIGATOR)
    keys = {e["reference"]: e["blake3"] for e in listed}
    request = ["transfer", "request", *sorted(keys)[:handed], "--case", "DANUBE", "--to", "FR"]
    assert jitev_json(env, *request, "--as", INVESTIGATOR)["id"] == TRANSFER
    jitev(env, "transfer", "approve", TRANSFER, "--as", "Cdt. Laurent")
    received = jitev_json(env, "transfer", "receive", TRANSFER, "--as", "Lt. Moreau")
    assert received["state"] == "received"
    return keys


def object_path(root: Path, team: str, key: str) -> Path:
    """Where the local store under ``root`` keeps ``team``'s object ``key``."""
    return root / team / "objects" / key[:2] / key
