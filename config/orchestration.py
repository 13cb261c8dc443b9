"""How jitev runs its Prefect flows in this process: Prefect's local mode,
kept beside jitev's own data (``$JITEV_HOME/prefect``) and quiet, unless the
environment says otherwise (``PREFECT_API_URL`` of a team server,
``PREFECT_HOME``...)."""

from __future__ import annotations

import os

from config.settings import home


def prefect_defaults() -> None:
    """Set Prefect's environment defaults before a flow first runs (they are
    read when Prefect's settings load): what is already set is kept."""
    os.environ.setdefault("PREFECT_HOME", str(home() / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The first start of a new local Prefect database migrates it: give it time.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
