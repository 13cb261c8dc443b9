"""Running the real ``jitev`` command in a subprocess, as a person would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests import prefect_server

JITEV = str(Path(sys.executable).parent / "jitev")
# Case DANUBE (teams BG, ME, FR; FR leads) and its people, as `jitev setup` reads them.
JIT_FILE = str(Path(__file__).resolve().parents[2] / "config" / "jit.example.toml")
# What `jitev setup` writes in the ledger of the case: CASE_OPENED, the receipt
# key of each of its three teams (TEAM_KEY_REGISTERED), the log policy
# (LOG_POLICY_SET: the log key and each team's witness key).
SETUP_EVENTS = 5
INVESTIGATOR = "Insp. Petrova"  # BG investigator: ingests and sees BG's exhibits
AUDITOR = "Aud. Keller"  # FR auditor: verifies the ledger, sees every exhibit's metadata


def environment(
    home: Path, prefect_home: Path, *, team_server: bool = True, **extra: str
) -> dict[str, str]:
    """A command's environment: no jitev or Prefect settings of this process,
    ``JITEV_HOME`` and ``PREFECT_HOME`` of its own, and (``team_server``) the
    session's Prefect server as ``PREFECT_API_URL``, so that no command leaves
    a local engine running. Without it, a command that runs a flow would start
    one (tests/integration/test_engine.py does, and stops it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JITEV_", "PREFECT_"))}
    env.update({"JITEV_HOME": str(home), "PREFECT_HOME": str(prefect_home), "COLUMNS": "200"})
    if team_server:
        env["PREFECT_API_URL"] = prefect_server.api_url()
    env.update(extra)
    return env


def jitev(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([JITEV, *args], env=env, capture_output=True, text=True, timeout=600)
    if check and done.returncode != 0:
        raise AssertionError(
            f"jitev {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def ingest(
    env: dict[str, str], *args: str, by: str = INVESTIGATOR, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``jitev ingest`` into DANUBE as team BG, acting as ``by``."""
    return jitev(env, *ingest_args(by), *args, check=check)


def ingest_args(by: str = INVESTIGATOR) -> list[str]:
    return ["ingest", "--case", "DANUBE", "--team", "BG", "--as", by]


def jitev_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(jitev(env, *args, "--json").stdout)


def open_case(env: dict[str, str]) -> None:
    """``jitev setup config/jit.example.toml``: registers its people (an FR
    admin first), opens case DANUBE (BG, ME, FR; lead team FR) and makes
    each team's receipt key."""
    jitev(env, "setup", JIT_FILE)


def copy_prefect_home(template: Path, target: Path) -> Path:
    """A Prefect home of its own (the client's side: profiles, settings); the
    flow runs are recorded by the session's Prefect server."""
    shutil.copytree(template, target)
    return target


def small_files(root: Path, count: int, tag: str) -> Path:
    root.mkdir(parents=True)
    for i in range(count):
        (root / f"{tag}-{i:05d}.txt").write_text(f"{tag} message {i}\n")
    return root
