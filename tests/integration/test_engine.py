"""The local engine (config/orchestration.py): one long-lived Prefect server
per Prefect home, started by the first command that runs a flow (or by
``jitev engine start``), reused by later ones, replaced when its state file
is stale, stopped by ``jitev engine stop``, and never started (nor Prefect
even imported) by a command that runs no flow.

These commands run without ``PREFECT_API_URL``: each test has a home of its
own, and its finalizer stops, by PID, every Prefect server whose
``PREFECT_HOME`` is that home's, whatever the test did."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import prefect_server
from tests.integration.cli_helpers import (
    INVESTIGATOR,
    JITEV,
    environment,
    ingest,
    jitev,
    jitev_json,
    open_case,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self").exists(), reason="reads /proc (Linux)")

WAIT = 120.0  # seconds a condition may take to hold (a server's start, an event's recording)


@dataclass
class Home:
    env: dict[str, str]
    prefect: Path
    root: Path

    @property
    def state(self) -> Path:
        return self.prefect / "engine.json"

    def recorded(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.state.read_text())
        return data

    def servers(self) -> set[int]:
        """The Prefect servers running with this home: there must be none
        once a test has stopped what it started."""
        return prefect_servers(self.prefect)


def prefect_servers(prefect_home: Path) -> set[int]:
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            words = (proc / "cmdline").read_bytes().split(b"\0")
            if b"prefect" not in words or b"server" not in words:
                continue
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"PREFECT_HOME={prefect_home}".encode() in environ and alive(int(proc.name)):
            found.add(int(proc.name))
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][:1] not in ("Z", "X")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Home]:
    """Case DANUBE set up in a home of its own, with no team server."""
    prefect = tmp_path / "prefect"
    env = environment(tmp_path / "home", prefect, team_server=False)
    assert "PREFECT_API_URL" not in env
    open_case(env)
    made = Home(env, prefect, tmp_path)
    try:
        yield made
    finally:
        for pid in prefect_servers(prefect):  # stop what the test started, by PID
            os.kill(pid, signal.SIGKILL)


def sample(home: Home, name: str, text: str) -> Path:
    path = home.root / name
    path.write_text(text)
    return path


def api(url: str, path: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        f"{url}/api{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as answer:
        return json.loads(answer.read())


def eventually(check: Any) -> Any:
    """``check()`` once it is truthy (Prefect records task runs from events)."""
    deadline = time.monotonic() + WAIT
    while not (found := check()):
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.2)
    return found


def test_start_status_ingest_reuses_it_then_stop(home: Home) -> None:
    before = jitev_json(home.env, "engine", "status")
    assert before["running"] is False and before["mode"] == "local"

    started = jitev_json(home.env, "engine", "start")
    assert started["running"] is True and started["started"] is True
    pid, url = started["pid"], started["url"]
    assert url.startswith("http://127.0.0.1:") and home.recorded()["pid"] == pid
    assert home.servers() == {pid}
    assert Path(started["log"]).is_file() and started["log"].startswith(str(home.prefect))

    status = jitev_json(home.env, "engine", "status")
    assert (status["running"], status["pid"], status["url"]) == (True, pid, url)
    again = jitev_json(home.env, "engine", "start")
    assert (again["started"], again["pid"]) == (False, pid)

    done = ingest(home.env, str(sample(home, "note.txt", "hi")), "--json")
    assert json.loads(done.stdout)["outcomes"][0]["status"] == "stored"  # stdout: one JSON
    assert f"Prefect UI at {url}" in done.stderr
    assert home.recorded()["pid"] == pid and home.servers() == {pid}

    # The run is on that server, as a flow run and its task run.
    runs = api(url, "/flow_runs/filter", {"flows": {"name": {"any_": ["ingest"]}}})
    assert [r["state_type"] for r in runs] == ["COMPLETED"]
    tasks = eventually(
        lambda: api(url, "/task_runs/filter", {"flow_runs": {"id": {"any_": [runs[0]["id"]]}}})
    )
    assert tasks[0]["name"].startswith("store-and-commit-batch")
    assert eventually(
        lambda: (
            api(url, "/task_runs/filter", {"flow_runs": {"id": {"any_": [runs[0]["id"]]}}})[0][
                "state_type"
            ]
            == "COMPLETED"
        )
    )

    stopped = jitev_json(home.env, "engine", "stop")
    assert stopped == {"stopped": True, "pid": pid}
    assert not alive(pid) and not home.state.exists() and home.servers() == set()
    assert jitev_json(home.env, "engine", "status")["running"] is False
    assert jitev_json(home.env, "engine", "stop") == {"stopped": False, "pid": None}


def test_the_first_flow_starts_it_and_says_where_its_ui_is(home: Home) -> None:
    done = ingest(home.env, str(sample(home, "first.txt", "first")))
    engine = home.recorded()
    assert home.servers() == {engine["pid"]}
    assert f"the Prefect UI at {engine['url']}" in done.stderr
    listed = jitev_json(home.env, "exhibits", "list", "--case", "DANUBE", "--as", INVESTIGATOR)
    assert [e["reference"] for e in listed] == ["BG-EX-0001"]


def test_commands_started_at_once_start_one_engine(home: Home) -> None:
    commands = [
        subprocess.Popen(
            [JITEV, "engine", "start", "--json"],
            env=home.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    answers = [c.communicate(timeout=300) for c in commands]
    assert [c.returncode for c in commands] == [0, 0, 0], answers
    said = [json.loads(out) for out, _ in answers]
    assert len({s["pid"] for s in said}) == 1
    assert sorted(s["started"] for s in said) == [False, False, True]
    assert home.servers() == {said[0]["pid"]} == {home.recorded()["pid"]}


def test_a_stale_state_file_is_replaced(home: Home) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()  # a pid that was, and is no more
    home.prefect.mkdir(parents=True, exist_ok=True)
    stale = {"pid": ended.pid, "port": 9, "url": "http://127.0.0.1:9", "started_at": "then"}
    home.state.write_text(json.dumps(stale))
    assert jitev_json(home.env, "engine", "status")["running"] is False

    ingest(home.env, str(sample(home, "after.txt", "after the crash")))
    engine = home.recorded()
    assert engine["pid"] != ended.pid and home.servers() == {engine["pid"]}
    assert jitev_json(home.env, "engine", "status")["pid"] == engine["pid"]


def test_a_state_file_naming_another_process_never_gets_it_killed(home: Home) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        home.prefect.mkdir(parents=True, exist_ok=True)
        claim = {"pid": other.pid, "port": 9, "url": "http://127.0.0.1:9", "started_at": "then"}
        home.state.write_text(json.dumps(claim))
        assert jitev_json(home.env, "engine", "stop") == {"stopped": False, "pid": None}
        assert other.poll() is None and not home.state.exists()

        home.state.write_text(json.dumps(claim))
        started = jitev_json(home.env, "engine", "start")
        assert started["started"] is True and started["pid"] != other.pid
        jitev_json(home.env, "engine", "stop")
        assert other.poll() is None  # still running: it was never ours
    finally:
        other.kill()
        other.wait()


def test_commands_that_run_no_flow_neither_start_nor_import_prefect(home: Home) -> None:
    in_process = (
        "import sys\n"
        "from app.cli import app\n"
        "app(['exhibits', 'list', '--case', 'DANUBE', '--as', sys.argv[1], '--json'],"
        " standalone_mode=False)\n"
        "app(['engine', 'status', '--json'], standalone_mode=False)\n"
        "print('prefect' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", in_process, INVESTIGATOR],
        env=home.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == "False", done.stdout
    assert not home.state.exists() and home.servers() == set()


def test_a_team_server_is_used_and_nothing_is_started(home: Home) -> None:
    env = {**home.env, "PREFECT_API_URL": prefect_server.api_url()}
    said = jitev_json(env, "engine", "start")
    assert said["running"] is False and said["team_server"] == env["PREFECT_API_URL"]
    done = ingest(env, str(sample(home, "team.txt", "to the team server")), "--json")
    assert json.loads(done.stdout)["outcomes"][0]["status"] == "stored"
    assert not home.state.exists() and home.servers() == set()


def test_an_engine_that_cannot_start_is_a_clear_error(home: Home) -> None:
    nowhere = "postgresql+asyncpg://nobody@127.0.0.1:1/none"  # its database refuses it
    broken = {**home.env, "PREFECT_API_DATABASE_CONNECTION_URL": nowhere}
    done = ingest(broken, str(sample(home, "x.txt", "x")), check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 1, out
    assert "the local Prefect engine exited while starting" in out
    assert str(home.prefect / "engine.log") in out.replace("\n", "")
    assert "Traceback" not in out
    assert not home.state.exists() and home.servers() == set()


def test_ephemeral_mode_starts_no_engine(home: Home) -> None:
    env = {**home.env, "JITEV_ENGINE_MODE": "ephemeral"}
    refused = jitev(env, "engine", "start", check=False)
    assert refused.returncode == 2 and 'mode is "ephemeral"' in refused.stderr
    done = ingest(env, str(sample(home, "eph.txt", "ephemeral")), "--json")
    assert json.loads(done.stdout)["outcomes"][0]["status"] == "stored"
    assert "Prefect UI" not in done.stderr
    assert not home.state.exists() and home.servers() == set()
    wrong = jitev({**home.env, "JITEV_ENGINE_MODE": "remote"}, "engine", "start", check=False)
    assert wrong.returncode == 2 and "JITEV_ENGINE_MODE" in wrong.stderr
    assert "Traceback" not in wrong.stderr
