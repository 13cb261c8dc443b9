"""What an ingest says it did: an ``Outcome`` per file (the small receipt a
flow returns, never bytes) and the ``IngestResult`` of a command, with every
entry that was not ingested (``sources.Skipped``) and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from evidence.sources import Skipped


class OutcomeStatus(StrEnum):
    STORED = "stored"  # a new exhibit
    QUARANTINED = "quarantined"  # a new exhibit whose declared hash did not match
    DUPLICATE = "duplicate"  # the content is already an exhibit: DUPLICATE_SEEN
    CHANGED = "changed"  # the file changed while it was read: nothing committed
    UNREADABLE = "unreadable"  # the file could not be read (permission, I/O error): nothing
    UNCHANGED = "unchanged"  # committed by an earlier run of the command, the same file since


@dataclass(frozen=True, slots=True)
class Outcome:
    """The small receipt of one file: what the flow returns, never bytes."""

    source: str
    status: OutcomeStatus
    reference: str | None = None
    size: int = 0
    blake3: str = ""
    sha256: str = ""
    media_type: str = ""
    message: str = ""
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__} | {"status": self.status.value}


@dataclass(frozen=True, slots=True)
class IngestResult:
    """One ingest command: its run, outcomes, skipped paths, what was done before."""

    case: str
    team: str
    run: str
    resumed: bool
    already_done: int
    outcomes: tuple[Outcome, ...]
    skipped: tuple[Skipped, ...]
    seconds: dict[str, float] = field(default_factory=dict)  # per stage (STAGES), all workers

    def statuses(self) -> set[OutcomeStatus]:
        return {o.status for o in self.outcomes}

    @property
    def unreadable(self) -> list[Skipped]:
        """Entries found but not readable (folders that could not be listed,
        files that could not be read): evidence left behind."""
        return [s for s in self.skipped if s.unreadable]

    def as_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "team": self.team,
            "run": self.run,
            "resumed": self.resumed,
            "already_done": self.already_done,
            "outcomes": [o.as_dict() for o in self.outcomes],
            "skipped": [s.as_dict() for s in self.skipped],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }
