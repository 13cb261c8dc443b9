"""``jitev exhibits list`` with the search's filters and ``--limit``, and
``jitev bundle create`` by filter (a selection frozen on the server), in
direct mode, as a person types them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.integration.cli_helpers import (
    copy_prefect_home,
    environment,
    ingest,
    jitev,
    jitev_json,
    open_case,
)

CHAT = b"Ivo: border at 03:00\n"


@pytest.fixture
def env(tmp_path: Path, prefect_template: Path) -> dict[str, str]:
    env = environment(tmp_path / "home", copy_prefect_home(prefect_template, tmp_path / "prefect"))
    open_case(env)
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "chat.txt").write_bytes(CHAT)
    (seized / "ledger.csv").write_text("date,amount\n2026-01-12,14500\n")
    (seized / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    ingest(env, str(seized))
    return env


def refs(env: dict[str, str], *args: str) -> list[str]:
    found = jitev_json(env, "exhibits", "list", "--case", "DANUBE", "--as", "Insp. Petrova", *args)
    return [e["reference"] for e in found]


def test_exhibits_list_filters_and_limit(env: dict[str, str]) -> None:
    every = refs(env)
    assert every == ["BG-EX-0001", "BG-EX-0002", "BG-EX-0003"]
    by_name = {e: jitev_json(env, "exhibits", "show", e, "--as", "Insp. Petrova") for e in every}
    chat = next(e for e, x in by_name.items() if x["original_name"] == "chat.txt")
    assert refs(env, "--hash-prefix", hashlib.sha256(CHAT).hexdigest()[:8]) == [chat]
    assert refs(env, "--match", "CHAT") == [chat]
    assert refs(env, "--limit", "2") == every[:2]
    assert refs(env, "--team", "ME") == []
    done = jitev(
        env, "exhibits", "list", "--hash-prefix", "xyz", "--as", "Insp. Petrova", check=False
    )
    assert done.returncode == 2 and "--hash-prefix HEX" in done.stderr + done.stdout


def test_bundle_create_by_filter(env: dict[str, str]) -> None:
    done = jitev(
        env, "bundle", "create", "--case", "DANUBE", "--all-held", "--match", "chat",
        "--as", "Pr. Dimitrov", check=False,
    )  # fmt: skip
    assert done.returncode == 2 and "--exhibits REF" in done.stderr + done.stdout
    made = jitev_json(
        env, "bundle", "create", "--case", "DANUBE", "--match", "chat", "--as", "Pr. Dimitrov"
    )
    chat = refs(env, "--match", "chat")
    assert made["exhibits"] == chat
