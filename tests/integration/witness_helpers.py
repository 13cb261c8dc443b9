"""Member teams' witnesses as separate ``jitev witness serve`` processes on
loopback, each with its own folder and home (its own machine, as far as
jitev can tell), and a JITEV_HOME whose ``config.toml`` lists them under
``[witnesses.<TEAM>]``; and checkpoints signed with the log's key, as a
forger holding that key would sign them."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from evidence.tlog import notes
from evidence.tlog.notes import NOTE_SIGNATURE, Checkpoint, Note, VerifierKey
from storage.keys import KeyRing, TeamSigner
from storage.sql.catalog import SqlCatalog
from tests.fixtures_sql import StepClock
from tests.integration.cli_helpers import JITEV, environment

ORIGIN = "jitev.local/DANUBE"
STARTUP_S = 120  # a generous bound on a witness's start, never a measured time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def log_key(home: Path) -> TeamSigner:
    """The deployment's log key, made before ``jitev setup`` (which keeps it),
    so that the witnesses can be told which log key to trust."""
    return KeyRing(home / "keys").log.load_or_create()


@dataclass
class WitnessProcess:
    """``jitev witness serve --team T --dir D --log-key K --port P``."""

    team: str
    root: Path  # its machine: folder/ (key and state) and home/
    log_public_key: str
    port: int = field(default_factory=free_port)
    vkey: str = ""
    process: subprocess.Popen[str] | None = None

    @property
    def folder(self) -> Path:
        return self.root / "state"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return environment(self.root / "home", self.root / "prefect")

    def key(self) -> subprocess.Popen[str]:
        """``jitev witness key``, started; ``read_key`` reads its answer."""
        args = ["witness", "key", "--team", self.team, "--dir", str(self.folder)]
        return subprocess.Popen(
            [JITEV, *args],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def read_key(self, started: subprocess.Popen[str]) -> None:
        out, errors = started.communicate(timeout=STARTUP_S)
        assert started.returncode == 0, errors
        self.vkey = out.strip()
        assert VerifierKey.parse(self.vkey).name == f"jitev.local/witness/{self.team}"

    def start(self) -> None:
        args = ["witness", "serve", "--team", self.team, "--dir", str(self.folder)]
        args += ["--log-key", self.log_public_key, "--port", str(self.port)]
        self.process = subprocess.Popen(
            [JITEV, *args],
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def wait_ready(self) -> None:
        """Until it answers (its monitoring URL), or fail if it exited."""
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_S
        while True:
            try:
                httpx.get(self.checkpoint_url(), timeout=5)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"witness {self.team} did not start") from None
                time.sleep(0.05)

    def stop(self) -> str:
        """Stop it (by its PID); what it wrote on stderr."""
        if self.process is None:
            return ""
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
        try:
            _, errors = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, errors = process.communicate()
        return errors or ""

    def checkpoint_url(self, origin: str = ORIGIN) -> str:
        return f"{self.url}/{hashlib.sha256(origin.encode()).hexdigest()}/checkpoint"

    def latest(self, origin: str = ORIGIN) -> str | None:
        answer = httpx.get(self.checkpoint_url(origin), timeout=30)
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.text
        return answer.text

    def evidence(self) -> list[str]:
        """The conflicting checkpoints it kept, oldest first."""
        kept = sorted((self.folder / "evidence").glob("*"), key=lambda p: int(p.suffix[1:]))
        return [p.read_text() for p in kept]


def start_witnesses(root: Path, teams: list[str], log_public_key: str) -> list[WitnessProcess]:
    """Each team's witness, its key made and its server answering (all in
    parallel: each is a ``jitev`` process)."""
    found = [WitnessProcess(t, root / f"witness-{t}", log_public_key) for t in teams]
    asked = [w.key() for w in found]
    for w, started in zip(found, asked, strict=True):
        w.read_key(started)
    for w in found:
        w.start()
    for w in found:
        w.wait_ready()
    return found


def configure(home: Path, urls: dict[str, tuple[str, str]]) -> None:
    """``config.toml`` listing each team's witness: team -> (url, vkey)."""
    home.mkdir(parents=True, exist_ok=True)
    tables = [
        f'[witnesses.{t}]\nurl = "{url}/"\nvkey = "{vkey}"\n' for t, (url, vkey) in urls.items()
    ]
    (home / "config.toml").write_text("\n".join(tables))


def signed(signer: TeamSigner, size: int, root: bytes, origin: str = ORIGIN) -> str:
    """A checkpoint note signed with ``signer`` under the log's name."""
    key = VerifierKey(origin, NOTE_SIGNATURE, bytes.fromhex(signer.public_key))
    text = Checkpoint(origin, size, root).text()
    return Note(text, (notes.note_signature(text, key, signer.sign),)).encode()


def size_of(note: str) -> int:
    return Checkpoint.parse(notes.parse(note).text).size


def cosigners(home: Path, case: str = "DANUBE") -> dict[int, set[str]]:
    """Per stored checkpoint of the case, the witnesses (team codes) whose
    cosignature the catalog holds."""
    with catalog_of(home) as catalog:
        stored = catalog.checkpoints(case)
    prefix = "jitev.local/witness/"
    return {
        cp.size: {
            s.name[len(prefix) :]
            for s in notes.parse(cp.note).signatures
            if s.name.startswith(prefix)
        }
        for cp in stored
    }


def catalog_of(home: Path) -> SqlCatalog:
    """The catalog a JITEV_HOME's commands write (read it, then close it)."""
    return SqlCatalog(f"sqlite:///{home / 'jitev.db'}", StepClock())
