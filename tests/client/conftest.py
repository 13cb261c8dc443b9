"""The CLI in client mode against a real ``jitev serve`` on loopback: a
server home copied from the session's JIT template (case DANUBE, everyone's
password ``PASSWORD``), started and stopped by PID, reporting its jobs to the
session's Prefect server; and, per test, a client: the ``jitev`` command with
a sign-in file of its own and a ``JITEV_HOME`` that does not exist, so that
nothing it does can reach a catalog but through the server.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import prefect_server
from tests.fixtures_web import PASSWORD
from tests.integration.cli_helpers import JITEV, environment, jitev
from tests.integration.witness_helpers import free_port

POLLS = 3000  # polls of 0.1 s at most for the server to answer: a cap, not a timed assertion


@dataclass
class Server:
    url: str
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def operator(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A command of the operator on the server's machine (direct mode)."""
        return jitev(self.env, *args, check=check)


@dataclass
class Client:
    server: Server
    env: dict[str, str]
    config: Path

    def jitev(
        self, *args: str, check: bool = True, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [JITEV, *args], env=self.env, capture_output=True, text=True, timeout=600, input=stdin
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"jitev {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
                f"\nserver log:\n{self.server.tail()}"
            )
        return done

    def json(self, *args: str) -> Any:
        import json

        return json.loads(self.jitev(*args, "--json").stdout)

    def signed_in(self, key: str) -> str:
        """A value of the sign-in file (``token``, ``token_id``...)."""
        import tomllib

        return str(tomllib.loads(self.config.read_text())[key])

    def api(self) -> httpx.Client:
        """The API as this client's token (close it: ``with client.api() as api``)."""
        token = self.signed_in("token")
        return httpx.Client(
            base_url=f"{self.server.url}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    def login(self, name: str, password: str = PASSWORD) -> subprocess.CompletedProcess[str]:
        return self.jitev(
            "login", "--server", self.server.url, "--name", name, "--password-stdin",
            stdin=password + "\n",
        )  # fmt: skip


@pytest.fixture(scope="module")
def server(jit_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("server")
    home = base / "home"
    shutil.copytree(jit_template, home)
    env = environment(home, base / "prefect")
    assert env["PREFECT_API_URL"] == prefect_server.api_url()
    port = free_port()
    log = base / "serve.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [JITEV, "serve", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    made = Server(f"http://127.0.0.1:{port}", home, env, process, log)
    try:
        for _ in range(POLLS):
            assert process.poll() is None, made.tail()
            try:
                if httpx.get(f"{made.url}/api/v1/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError(f"jitev serve did not answer: {made.tail()}")
        yield made
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def client(server: Server, tmp_path: Path) -> Client:
    """A person's machine: no catalog, no store; a sign-in file of its own."""
    config = tmp_path / "config" / "jitev" / "client.toml"
    env = environment(tmp_path / "no-home", tmp_path / "prefect", JITEV_CLIENT_CONFIG=str(config))
    return Client(server, env, config)
