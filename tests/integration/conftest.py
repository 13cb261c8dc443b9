from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_helpers import environment, jitev


@pytest.fixture(scope="session")
def prefect_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local Prefect home, migrated once by a first real ingest."""
    base = tmp_path_factory.mktemp("prefect-template")
    env = environment(base / "jitev", base / "prefect")
    jitev(
        env,
        "case",
        "open",
        "--id",
        "WARMUP",
        "--title",
        "t",
        "--agreement",
        "a",
        "--team",
        "BG:Bulgaria:NIS",
        "--lead",
        "BG",
        "--by",
        "x",
    )
    sample = base / "sample.txt"
    sample.write_text("warm-up")
    jitev(env, "ingest", "--case", "WARMUP", "--team", "BG", "--by", "x", str(sample), "--json")
    return base / "prefect"
