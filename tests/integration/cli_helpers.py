"""Running the real ``jitev`` command in a subprocess, as a person would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

JITEV = str(Path(sys.executable).parent / "jitev")
TEAMS = [
    "--team",
    "BG:Bulgaria:NIS",
    "--team",
    "ME:Montenegro:Police Directorate",
    "--team",
    "FR:France:OCRIEST",
]


def environment(home: Path, prefect_home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JITEV_", "PREFECT_"))}
    env.update({"JITEV_HOME": str(home), "PREFECT_HOME": str(prefect_home), "COLUMNS": "200"})
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
    env: dict[str, str], *args: str, by: str = "Insp. Petrova", check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``jitev ingest`` into DANUBE as team BG."""
    return jitev(env, *ingest_args(by), *args, check=check)


def ingest_args(by: str = "Insp. Petrova") -> list[str]:
    return ["ingest", "--case", "DANUBE", "--team", "BG", "--by", by]


def jitev_json(env: dict[str, str], *args: str) -> Any:
    return json.loads(jitev(env, *args, "--json").stdout)


def open_case(env: dict[str, str]) -> None:
    jitev(
        env,
        "case",
        "open",
        "--id",
        "DANUBE",
        "--title",
        "Operation Danube",
        "--agreement",
        "JIT-2026-017",
        *TEAMS,
        "--lead",
        "BG",
        "--by",
        "Pr. Dimitrov",
    )


def copy_prefect_home(template: Path, target: Path) -> Path:
    """A migrated Prefect home of its own: concurrent processes must not share
    one local Prefect database, and a fresh one costs a slow migration."""
    shutil.copytree(template, target)
    return target


def small_files(root: Path, count: int, tag: str) -> Path:
    root.mkdir(parents=True)
    for i in range(count):
        (root / f"{tag}-{i:05d}.txt").write_text(f"{tag} message {i}\n")
    return root
