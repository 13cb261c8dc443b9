"""Keeping pypdf and fpdf2 quiet: on a damaged or odd PDF they log warnings
and raise ``warnings``; those belong to the bundle (``PdfLayout.notes``) or to
nobody (the verifier), not to the application's log, and pytest's
``filterwarnings=error`` must not see them.

``warnings.catch_warnings`` is not thread-safe: build or verify one bundle per
process at a time, or accept that another thread's warnings filters are
briefly replaced. Imports neither library: the verifier needs no fpdf2.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

MAX_NOTES = 200


class Notes(logging.Handler):
    """The log records of a build, each prefixed with ``context`` (the exhibit)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.context = "bundle"
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) < MAX_NOTES:
            try:
                message = record.getMessage()
            except Exception:
                message = str(record.msg)
            self.lines.append(f"{self.context}: {' '.join(message.split())[:300]}")


_lock = threading.Lock()
_depth = 0  # how many quiet() blocks are open: the loggers propagate again after the last


@contextmanager
def quiet(*loggers: str) -> Iterator[Notes]:
    """Within the block, the records of the named loggers (``"pypdf"``,
    ``"fpdf"``) go to the yielded ``Notes`` only, and ``warnings`` are ignored."""
    global _depth
    found = [logging.getLogger(name) for name in loggers]
    notes = Notes()
    with _lock:
        _depth += 1
        for logger in found:
            logger.propagate = False
            logger.addHandler(notes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield notes
    finally:
        with _lock:
            _depth -= 1
            for logger in found:
                logger.removeHandler(notes)
                if _depth == 0:
                    logger.propagate = True
