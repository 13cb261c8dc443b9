"""What a flow run tells Prefect besides its state, for the job pages and
``jitev jobs`` to read back (``app.jobs``): its progress, a progress
artifact updated at most once a second, and its receipt, a table artifact of
ids and counts. Never evidence: no bytes, no names of files, nothing that is
not already in the ledger."""

from __future__ import annotations

import json
import time
from typing import Any, cast
from uuid import UUID

from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

RECEIPT = "jitev receipt"
EVERY = 1.0  # seconds between two updates of a progress artifact


class Progress:
    """A flow run's progress artifact, fed ``(done, total)``."""

    def __init__(self, what: str) -> None:
        made = create_progress_artifact(progress=0.0, description=what)
        self._id = cast("UUID", made)  # sync in a flow run: not a coroutine
        self._last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < EVERY:
            return
        self._last = now
        update_progress_artifact(artifact_id=self._id, progress=100.0 * done / max(total, 1))


def receipt(rows: dict[str, Any] | list[dict[str, Any]]) -> None:
    """Record the flow run's receipt (one row, or one a case)."""
    table = rows if isinstance(rows, list) else [rows]
    # A table's cells are scalars: a nested value (a list of ids) is kept as its JSON.
    flat = [{k: v if _scalar(v) else json.dumps(v) for k, v in row.items()} for row in table]
    create_table_artifact(table=flat, description=RECEIPT)


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)
