"""One Prefect server for the whole test session: the ``jitev`` commands the
tests run in subprocesses report their flow runs to it (``PREFECT_API_URL``,
set by ``cli_helpers.environment``), as they would to a team server, instead
of each starting a local engine of its own and leaving it behind.

Started on first use, on 127.0.0.1 and a free port, with its home in a
temporary folder; stopped by its PID when the session ends (the autouse
fixture in tests/conftest.py, and at exit should the session be cut short).
The local engine itself is tested in tests/integration/test_engine.py.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from config.orchestration import answers

STARTUP_TIMEOUT = 180.0  # seconds: a fresh database is migrated first

_lock = threading.Lock()
_server: subprocess.Popen[bytes] | None = None
_url: str | None = None
_home: Path | None = None


def api_url() -> str:
    """The session server's API URL, started on the first call."""
    global _server, _url, _home
    with _lock:
        if _url is not None:
            return _url
        _home = Path(tempfile.mkdtemp(prefix="jitev-test-prefect-"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JITEV_", "PREFECT_"))}
        env.update(
            PREFECT_HOME=str(_home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            PREFECT_LOGGING_LEVEL="WARNING",
            DO_NOT_TRACK="1",
        )
        log = (_home / "server.log").open("ab")
        _server = subprocess.Popen(
            [
                sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                "--port", str(port), "--analytics-off", "--no-scheduler", "--no-late-runs",
                "--no-ui",
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        atexit.register(stop)
        url = f"http://127.0.0.1:{port}/api"
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not answers(url):
            if _server.poll() is not None or time.monotonic() > deadline:
                said = (_home / "server.log").read_text(errors="replace")[-2000:]
                stop()
                raise RuntimeError(f"the tests' Prefect server did not start:\n{said}")
            time.sleep(0.2)
        _url = url
        return url


def stop() -> None:
    """Stop the session server by its PID (SIGTERM, then SIGKILL) and remove its home."""
    global _server, _url, _home
    if _server is not None:
        _server.terminate()
        try:
            _server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            _server.kill()
            _server.wait()
    if _home is not None:
        shutil.rmtree(_home, ignore_errors=True)
    _server, _url, _home = None, None, None
