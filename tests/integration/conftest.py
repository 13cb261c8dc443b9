from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.cli_helpers import environment, ingest, open_case


@pytest.fixture(scope="session")
def prefect_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Prefect home that a first real ingest has used (the commands report
    to the session's Prefect server: tests/prefect_server.py)."""
    base = tmp_path_factory.mktemp("prefect-template")
    env = environment(base / "jitev", base / "prefect")
    open_case(env)
    sample = base / "sample.txt"
    sample.write_text("warm-up")
    ingest(env, str(sample), "--json")
    return base / "prefect"
