"""What ``build`` is given: the cover, the schedule's rows, the continuity
entries, the exhibits, and the limits and fonts to use."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from evidence.sizes import MiB

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


@dataclass(frozen=True, slots=True)
class Cover:
    case_id: str
    case_title: str
    agreement: str
    prosecutor: str
    team: str
    bundle_id: str
    created_at: datetime  # from the ledger, timezone-aware
    root_digest: str


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    number: int
    reference: str
    description: str
    media_type: str
    size: int
    blake3: str
    sha256: str


@dataclass(frozen=True, slots=True)
class ContinuityEntry:
    """One custody event as the continuity section shows it; ``lines`` are
    already worded (who, when, why, the verified hashes)."""

    seq: int
    at: datetime
    action: str
    actor: str
    team: str
    lines: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class ExhibitPdf:
    """An exhibit's part of the PDF. ``source`` opens its bytes (called once,
    a returned stream is closed after use; what it raises propagates: a store
    failure fails the build). ``source=None``, or a ``placeholder_reason``,
    gives a placeholder page describing the native file instead."""

    reference: str
    source: Callable[[], bytes | BinaryIO] | None
    placeholder_reason: str | None
    native_name: str
    size: int
    blake3: str
    sha256: str
    media_type: str = ""


@dataclass(frozen=True, slots=True)
class Limits:
    """Guards against pathological exhibits: beyond them, a placeholder."""

    max_pages: int = 5_000
    max_objects: int = 1_000_000
    max_bytes: int = 512 * MiB


@dataclass(frozen=True, slots=True)
class Fonts:
    """TrueType fonts for the generated pages; ``regular=None``: the PDF core
    fonts, with text transliterated to Latin-1."""

    regular: Path | None
    bold: Path | None = None
    mono: Path | None = None

    @classmethod
    def find(cls) -> Fonts:
        """DejaVu Sans (Debian ``fonts-dejavu-core``) when it is installed."""
        for folder in FONT_DIRS:
            regular = folder / "DejaVuSans.ttf"
            if regular.is_file():
                bold, mono = folder / "DejaVuSans-Bold.ttf", folder / "DejaVuSansMono.ttf"
                return cls(
                    regular, bold if bold.is_file() else None, mono if mono.is_file() else None
                )
        return cls(None)
