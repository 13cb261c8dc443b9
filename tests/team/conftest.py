"""A team's topology on loopback, as ``docs/deployment.md`` lays it out: the
session's Prefect server (``tests.prefect_server``), a work pool of its own
with jitev's deployments (``jitev deploy``), two ``jitev worker`` processes,
the catalog on PostgreSQL (a schema of its own) and, when a test asks,
``jitev serve``. Every process is started here by PID and stopped by PID
(SIGKILL when a test kills one on purpose: ``Team.kill``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.wiring import SystemClock
from evidence import access
from storage.passwords import Argon2Hasher
from storage.sql.catalog import SqlCatalog
from tests import prefect_server
from tests.fixtures_sql import fresh_schema
from tests.fixtures_web import PASSWORD
from tests.integration.cli_helpers import JITEV, environment, jitev, jitev_json, open_case
from tests.integration.witness_helpers import free_port

HEARTBEAT = 30  # seconds: Prefect's least; a run silent for 60 s is marked CRASHED
POLLS = 3000  # polls of 0.1 s at most for a state: a cap, not a timed assertion


@dataclass
class Team:
    home: Path
    env: dict[str, str]
    pool: str
    db_url: str
    logs: Path
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    web: subprocess.Popen[bytes] | None = None
    web_url: str = ""
    catalogs: list[SqlCatalog] = field(default_factory=list)  # closed by stop()

    def jitev(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return jitev(self.env, *args, check=check)

    def json(self, *args: str) -> Any:
        return jitev_json(self.env, *args)

    def catalog(self) -> SqlCatalog:
        """The catalog, as a test reads it (closed when the team stops)."""
        self.catalogs.append(SqlCatalog(self.db_url, SystemClock()))
        return self.catalogs[-1]

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [JITEV, *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        return process

    def start_worker(self, name: str) -> None:
        self.workers[name] = self._start(name, "worker", "--name", name)

    def start_web(self) -> None:
        port = free_port()
        self.web = self._start("web", "serve", "--port", str(port))
        self.web_url = f"http://127.0.0.1:{port}"
        for _ in range(POLLS):
            assert self.web.poll() is None, self.log("web")
            try:
                if httpx.get(f"{self.web_url}/api/v1/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"jitev serve did not answer: {self.log('web')}")

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """``kill -9`` of a process and of the flow runs it started (they run in
        sessions of their own): its machine is gone."""
        children = _children(process.pid)
        process.kill()
        process.wait()
        for pid in children:
            _signal(pid, signal.SIGKILL)

    def stop(self) -> None:
        for catalog in self.catalogs:
            catalog.close()
        for process in [*self.workers.values(), *([self.web] if self.web else [])]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.workers.values(), *([self.web] if self.web else [])]:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(process)


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2 :].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _signal(pid: int, sig: signal.Signals) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def make_team(base: Path, db_url: str, **extra: str) -> Team:
    """A JIT set up on PostgreSQL and its deployments on a fresh work pool."""
    pool = f"jit-{uuid.uuid4().hex[:8]}"
    home = base / "home"
    env = environment(
        home,
        base / "prefect",
        JITEV_DB_URL=db_url,
        JITEV_ENGINE_WORK_POOL=pool,
        JITEV_ENGINE_HEARTBEAT_SECONDS=str(HEARTBEAT),
        JITEV_ENGINE_POLL_SECONDS="1",
        JITEV_AUDIT_SCHEDULED_AS="Aud. Keller",
        JITEV_AUDIT_FULL_CYCLE_DAYS="1",  # each scheduled audit checks every copy
        **extra,
    )
    assert env["PREFECT_API_URL"] == prefect_server.api_url()
    logs = base / "logs"
    logs.mkdir(parents=True)
    team = Team(home, env, pool, db_url, logs)
    open_case(env)
    catalog = team.catalog()
    hasher = Argon2Hasher()
    for name in ("Pr. Dubois", "Cdt. Laurent"):
        access.set_password(catalog, hasher, None, name, PASSWORD)  # closed by Team.stop
    team.jitev("deploy")
    return team


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    """The local-store team, with two workers."""
    with fresh_schema() as schema:
        made = make_team(tmp_path_factory.mktemp("team"), schema.url)
        try:
            for name in ("worker-1", "worker-2"):
                made.start_worker(name)
            yield made
        finally:
            made.stop()


def until(what: str, check: Callable[[], Any]) -> Any:
    """Poll ``check`` until it answers something true (a cap on polls only)."""
    for _ in range(POLLS):
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never: {what}")
