"""How jitev runs its Prefect flows: Prefect's environment, kept beside
jitev's own data (``$JITEV_HOME/prefect``) and quiet, and the engine the
flows report to.

- ``PREFECT_API_URL`` in the environment (a team server): used as it is;
  nothing is started.
- ``[engine] mode = "local"`` (the default): **the local engine**, one
  long-lived ``prefect server start`` per Prefect home, on 127.0.0.1 and a
  free port. The first command that runs a flow starts it as a detached
  process (its log ``engine.log``, its state ``engine.json``: pid, port,
  url, started_at); later commands find it alive and answering and point
  ``PREFECT_API_URL`` at it. A lock file makes two commands started at once
  start one server; a state file whose process is gone is replaced. Only a
  process this module started (the state file's pid, whose command line is
  that prefect server on that port) is ever stopped.
- ``mode = "ephemeral"``: Prefect's own temporary server, in each command.

Importing this module loads no Prefect (``prefect_defaults`` does, just
before a flow runs): commands that run no flow never load it.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from config.settings import EngineSettings, home
from config.settings import engine as engine_settings
from evidence.errors import EngineUnavailable

STATE = "engine.json"
LOG = "engine.log"
LOCK = "engine.lock"
HOST = "127.0.0.1"
STOP_TIMEOUT = 15.0  # seconds between SIGTERM and SIGKILL
# What a flow run loads (fastapi.encoders: how Prefect records its parameters).
PREFECT_MODULES = (
    "prefect.flows",
    "prefect.tasks",
    "prefect.client.orchestration",
    "fastapi.encoders",
)

# The UI of the engine this process's flows report to (None: ephemeral, or not yet).
_ui: str | None = None
# The local engine's API this process pointed PREFECT_API_URL at (not a team server's).
_engine_api: str | None = None
# The engines this process started: kept, so that Python reaps them, never waited for.
_children: list[subprocess.Popen[bytes]] = []


@dataclass(frozen=True, slots=True)
class Engine:
    """A local engine as its state file records it."""

    pid: int
    port: int
    url: str  # the UI; the API is at url + "/api"
    started_at: str
    log: str

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "api_url": self.api_url}


def prefect_home() -> Path:
    """Prefect's home: ``$PREFECT_HOME`` if the environment sets one, else
    ``$JITEV_HOME/prefect``; the local engine keeps its database, log and
    state there."""
    return Path(os.environ.get("PREFECT_HOME") or home() / "prefect").expanduser().absolute()


def team_server() -> str | None:
    """``PREFECT_API_URL`` from the environment, if it names a server."""
    return os.environ.get("PREFECT_API_URL") or None


def prefect_defaults(settings: EngineSettings | None = None) -> None:
    """Set Prefect's environment before a flow first runs (Prefect reads it
    when its settings load; what is already set is kept), and start or reuse
    the local engine unless a team server or ``ephemeral`` mode is chosen."""
    global _ui, _engine_api
    os.environ.setdefault("PREFECT_HOME", str(prefect_home()))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The first start of a new local Prefect database migrates it: give it time.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    team = team_server()
    if team is not None and team != _engine_api:
        api = team.removesuffix("/")
        _ui = os.environ.get("PREFECT_UI_URL") or (
            api.removesuffix("/api") if api.endswith("/api") else None
        )
        load_prefect()
        return
    if team is None and _prefect_has_api():  # chosen in-process (Prefect's test harness)
        return
    settings = settings or engine_settings()
    if settings.mode == "ephemeral":
        return
    engine = ensure(settings.start_timeout)  # again in a long process: it may have restarted
    _ui = engine.url
    if team == engine.api_url:
        return
    _engine_api = os.environ["PREFECT_API_URL"] = engine.api_url
    os.environ.setdefault("DO_NOT_TRACK", "1")  # no SDK telemetry from an evidence system
    if "PREFECT_FLOWS_HEARTBEAT_FREQUENCY" not in os.environ:
        # No flow-run heartbeats: they are for runs a worker started (these run
        # in the command), and each run would wait up to 1 s for their thread
        # to end. A plain variable cannot unset the interval; this JSON can.
        os.environ.setdefault("PREFECT_FLOWS", '{"heartbeat_frequency": null}')
    if "prefect.context" in sys.modules:  # loaded before the variables were set: reread them
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()
    else:
        load_prefect()


def load_prefect() -> None:
    """Import what a flow run needs with the cyclic collector paused: the
    imports make about a million long-lived objects and no garbage, and the
    collector's passes over them cost a third of a second."""
    if "prefect.flows" in sys.modules:
        return
    with collector_paused():
        for module in PREFECT_MODULES:
            importlib.import_module(module)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, then freeze what was made meanwhile
    (moved out of its reach: it is never scanned again)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def ui_address() -> str | None:
    """The Prefect UI of the server this process's flows ran on, if it has one."""
    return _ui


def _prefect_has_api() -> bool:
    if "prefect.settings" not in sys.modules:
        return False
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


# -- the local engine ------------------------------------------------------------------


def state_file() -> Path:
    return prefect_home() / STATE


def log_file() -> Path:
    return prefect_home() / LOG


def recorded() -> Engine | None:
    """The engine the state file records (alive or not), if any."""
    try:
        data = json.loads(state_file().read_text(encoding="utf-8"))
        return Engine(
            int(data["pid"]), int(data["port"]), str(data["url"]), str(data["started_at"]),
            str(data.get("log", log_file())),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running() -> Engine | None:
    """The recorded engine, if its process is the one we started and it answers."""
    engine = recorded()
    if engine is None or not ours(engine) or not healthy(engine):
        return None
    return engine


def ensure(timeout: float = 120) -> Engine:
    """The local engine, started if none is running."""
    return start(timeout)[0]


def start(timeout: float = 120) -> tuple[Engine, bool]:
    """The local engine, and whether this call started it: under the lock,
    so that commands started at once start one."""
    engine = running()  # the common case needs no lock
    if engine is not None:
        return engine, False
    with _locked():
        engine = recorded()
        if engine is not None and ours(engine):
            return _wait_healthy(engine, None, timeout), False  # another command started it
        state_file().unlink(missing_ok=True)  # stale: its process is gone
        return _start(timeout), True


def stop(timeout: float = STOP_TIMEOUT) -> Engine | None:
    """Stop the recorded engine (SIGTERM, then SIGKILL after ``timeout``) and
    remove its state file. Returns what was stopped; None if none was running.
    A process that is not the engine we started is left alone."""
    with _locked():
        engine = recorded()
        if engine is None:
            return None
        if ours(engine):
            _signal(engine.pid, signal.SIGTERM)
            if not _gone(engine.pid, timeout):
                _signal(engine.pid, signal.SIGKILL)
                _gone(engine.pid, timeout)
        else:
            engine = None
        state_file().unlink(missing_ok=True)
        return engine


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    folder = prefect_home()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = (folder / LOCK).open("a")
    except OSError as exc:
        raise EngineUnavailable(f"cannot use {folder} for the local engine: {exc}") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _start(timeout: float) -> Engine:
    folder = prefect_home()
    port = _free_port()
    log = log_file()
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "PREFECT_UI_URL")}
    env.update(
        PREFECT_HOME=str(folder),
        PREFECT_SERVER_API_HOST=HOST,
        PREFECT_SERVER_API_PORT=str(port),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="true",
    )
    command = [
        sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(port),
        "--analytics-off", "--no-late-runs", "--ui",  # its scheduler: the audit's schedule
    ]  # fmt: skip
    with log.open("ab") as out:
        out.write(f"\n-- jitev: {' '.join(command[1:])} at {_now()}\n".encode())
        out.flush()
        process = subprocess.Popen(
            command,
            env=env,
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command, and its Ctrl-C
        )
    _children.append(process)
    engine = Engine(process.pid, port, f"http://{HOST}:{port}", _now(), str(log))
    _write_state(engine)  # before waiting: a command interrupted now leaves it findable
    return _wait_healthy(engine, process, timeout)


def _wait_healthy(
    engine: Engine, process: subprocess.Popen[bytes] | None, timeout: float
) -> Engine:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll() if process is not None else None
        if code is not None or not _alive(engine.pid):
            state_file().unlink(missing_ok=True)
            raise EngineUnavailable(
                f"the local Prefect engine exited while starting{_code(code)}: see {engine.log}"
                f"{_last_line(engine.log)}"
            )
        if healthy(engine):
            return engine
        time.sleep(0.2)
    late = f"did not answer within {timeout:.0f} s ([engine] start_timeout): see {engine.log}"
    if process is None:  # started by another command, still running
        raise EngineUnavailable(
            f"the local Prefect engine (pid {engine.pid}) {late}; stop it (jitev engine stop) "
            "and try again"
        )
    _signal(process.pid, signal.SIGKILL)  # ours, started now, and hung: not left behind
    process.wait()
    state_file().unlink(missing_ok=True)
    raise EngineUnavailable(f"the local Prefect engine {late}")


def healthy(engine: Engine, timeout: float = 3.0) -> bool:
    """Whether the local engine's ``GET /api/health`` answers."""
    return answers(engine.api_url, timeout)


def answers(api_url: str, timeout: float = 3.0) -> bool:
    """Whether a Prefect server's ``GET <api>/health`` answers (no proxy: on loopback)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{api_url}/health", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except OSError:  # URLError and timeouts are OSErrors
        return False


def ours(engine: Engine) -> bool:
    """Whether the recorded pid is alive and is the prefect server we started
    on that port (not a process that reused the pid)."""
    if not _alive(engine.pid):
        return False
    words = _command_line(engine.pid)
    return (
        "prefect" in words
        and words[words.index("prefect") :][:3] == ["prefect", "server", "start"]
        and str(engine.port) in words
    )


def _command_line(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    except FileNotFoundError:
        if Path("/proc/self").exists():
            return []  # Linux, and the process is gone
    except OSError:
        return []
    done = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True)
    return done.stdout.split()


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child, exited: reap it
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """An ended process its parent has not reaped yet (Linux; elsewhere: no)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][:1] in ("Z", "X")


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _write_state(engine: Engine) -> None:
    target = state_file()
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    partial.write_text(json.dumps(asdict(engine), indent=2) + "\n", encoding="utf-8")
    partial.replace(target)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _code(code: int | None) -> str:
    return f" (exit code {code})" if code is not None else ""


def _last_line(log: str) -> str:
    """What the log of this start says went wrong: its last exception line,
    else its last line."""
    try:
        text = Path(log).read_text(errors="replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.rsplit("\n-- jitev:", 1)[-1].splitlines()[1:]]
    lines = [line for line in lines if line and line != "Server stopped!"]
    raised = [line for line in lines if re.match(r"[A-Za-z_][\w.]*(Error|Exception)\b", line)]
    said = (raised or lines or [""])[-1]
    return f"; it says: {said[:300]}" if said else ""
