"""Fixtures of the web tests: Prefect's test harness (one per session), a
JIT set up the way an operator does it (``jitev setup`` of the example file,
then ``jitev people passwd``-style passwords for everyone), the FastAPI app
on it, served by uvicorn on a free loopback port: the API tests talk to it
with httpx over real HTTP, the browser tests with Chromium.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.web import create_app, server_options
from config import wiring
from evidence import access
from storage.passwords import Argon2Hasher
from tests.integration.cli_helpers import JIT_FILE, environment, jitev

PASSWORD = "correct horse battery staple"  # every person's password in the web tests


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """The real Prefect engine on a temporary local API server (~10 s a session)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def jit_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home set up once per session the way an operator does it: ``jitev
    setup`` of the example file, then a password for every person. ``jit``
    copies it: the setup and eleven argon2 hashes cost seconds, a copy
    milliseconds."""
    base = tmp_path_factory.mktemp("jit-template")
    home = base / "home"
    jitev(environment(home, base / "prefect", team_server=False), "setup", JIT_FILE)  # no flow
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JITEV_HOME", str(home))
        mp.delenv("JITEV_DB_URL", raising=False)
        wiring.current.cache_clear()
        w = wiring.current()
        hasher = Argon2Hasher()
        for person in w.catalog.people():
            access.set_password(w.catalog, hasher, None, person.name, PASSWORD)
        w.catalog.close()  # type: ignore[attr-defined]
        wiring.current.cache_clear()
    return home


@pytest.fixture
def jit(
    jit_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[wiring.Wiring]:
    """Case DANUBE (teams BG, ME, FR; FR leads) with the people of
    config/jit.example.toml and their passwords, on SQLite and the local
    store: a fresh copy of the session's template home (its own database,
    store and team keys)."""
    home = tmp_path / "home"
    shutil.copytree(jit_template, home)
    monkeypatch.setenv("JITEV_HOME", str(home))
    monkeypatch.delenv("JITEV_DB_URL", raising=False)
    wiring.current.cache_clear()
    w = wiring.current()
    yield w
    w.catalog.close()  # type: ignore[attr-defined]
    wiring.current.cache_clear()


@pytest.fixture
def web(jit: wiring.Wiring, prefect_harness: None) -> FastAPI:
    return create_app(jit)


def log_in(client: httpx.Client, name: str, password: str = PASSWORD) -> str:
    """Log ``client`` in as ``name`` (session cookie); returns the CSRF token."""
    answer = client.post("/api/v1/session", json={"name": name, "password": password})
    assert answer.status_code == 200, answer.text
    csrf: str = answer.json()["csrf"]
    return csrf


@dataclass(frozen=True)
class Served:
    url: str
    app: FastAPI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(web: FastAPI) -> Iterator[Served]:
    """The app served by uvicorn on 127.0.0.1 (a free port), in a thread."""
    import uvicorn

    port = _free_port()
    options = server_options(web.state.jitev.wiring.settings.web)  # as `jitev serve` runs it
    config = uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning", **options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield Served(f"http://127.0.0.1:{port}", web)
    server.should_exit = True
    thread.join(timeout=30)


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    """An httpx client of the served app (not logged in)."""
    with httpx.Client(base_url=served.url, timeout=120) as c:
        yield c


Login = Callable[[str], httpx.Client]


@pytest.fixture
def as_(served: Served) -> Iterator[Login]:
    """``as_(name)``: a client logged in as ``name`` whose requests carry the
    session's CSRF token (one client per person: one cookie jar each)."""
    opened: list[httpx.Client] = []

    def open_as(name: str) -> httpx.Client:
        c = httpx.Client(base_url=served.url, timeout=120)
        opened.append(c)
        c.headers["X-CSRF-Token"] = log_in(c, name)
        return c

    yield open_as
    for c in opened:
        c.close()
