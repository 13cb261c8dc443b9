"""Shared fixtures. The test servers (Ceph RGW, PostgreSQL) are started by
``make test`` (scripts/test-servers.sh); fixtures for them live in
tests/fixtures_s3.py and tests/fixtures_sql.py; Prefect's test harness and a
served JIT for the web tests in tests/fixtures_web.py; the one Prefect server
the ``jitev`` subprocesses report to in tests/prefect_server.py. Outside ``make test`` a test
that needs a missing server is skipped with the reason; under ``make test``
(JITEV_TEST_REQUIRE_SERVERS=1) it fails instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import prefect_server

pytest_plugins = ["tests.fixtures_s3", "tests.fixtures_sql", "tests.fixtures_web"]


@pytest.fixture(scope="session", autouse=True)
def _stop_the_sessions_prefect_server() -> Iterator[None]:
    """The Prefect server the CLI tests report to (tests/prefect_server.py) is
    started by the first command that needs it; it is stopped here, by PID."""
    yield
    prefect_server.stop()


def need_server(reason: str) -> None:
    """Skip, or fail under make test, when a test server is missing."""
    if os.environ.get("JITEV_TEST_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{reason} (make test should have started it: see scripts/test-servers.sh)")
    pytest.skip(reason)


def need_tool(command: str, install: str) -> str:
    """The path of a command the tests run as an outsider would (b3sum, qpdf,
    case_validate); skip without it, or fail under ``make test``, which
    installs it (scripts/tools.sh, or the dev extras in the venv)."""
    venv = str(Path(sys.executable).parent)
    found = shutil.which(command, path=os.pathsep.join([venv, os.environ.get("PATH", "")]))
    if found:
        return found
    reason = f"{command} is not installed ({install})"
    if os.environ.get("JITEV_TEST_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{reason}: make test should have installed it, see scripts/tools.sh")
    pytest.skip(reason)
