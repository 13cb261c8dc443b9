"""The retry policy of every evidence task: only a transient store error
(``StoreUnavailable``: unreachable, timeout, 5xx) is worth another try. A
hash mismatch, a denial or bad input must fail at once and be recorded."""

from __future__ import annotations

from typing import Any

from evidence.errors import StoreUnavailable

RETRIES = 3
DELAYS: list[float] = [2, 10, 30]


def transient(task: Any, task_run: Any, state: Any) -> bool:
    try:
        state.result()
    except StoreUnavailable:
        return True
    except Exception:
        return False
    return False
