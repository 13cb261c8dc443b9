"""Exhibit metadata for a batch: from command-line flags, or from a sidecar
manifest (CSV or JSON) that maps files to their metadata and declared hashes.

A manifest row names a file by ``path``: its path relative to the folder that
holds the ingested argument (as shown in the exhibit list, e.g.
``phone-01/chats/export.txt``) or its bare file name when that is unique.

Columns (CSV header, or JSON keys of each object in a list)::

    path            required
    title           defaults to the file name
    description
    seized_at       ISO 8601 date or date-time with a UTC offset (2026-03-14T09:30:00+02:00)
    seized_by
    seized_from     place or person the item was seized from
    hash_algorithm  md5 | sha1 | sha256 | blake3, as reported by the seizing tool
    hash            the declared acquisition hash, lowercase hex
    handling_code   H0 (default) | H1 | H2 | H3: the use-limitation of the exhibit
    handling_note   the restriction in words (required for H3)

Everything is checked before anything is stored, and every problem is
reported at once (like bagit-python's validation): an unknown column, a bad
date, a row for a file that is not being ingested, a path that climbs out of
the folder, a file named twice.
"""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from evidence.errors import InputError, ManifestError
from evidence.models import DeclaredHash, ExhibitMetadata, Handling, parse_handling_code

COLUMNS = (
    "path",
    "title",
    "description",
    "seized_at",
    "seized_by",
    "seized_from",
    "hash_algorithm",
    "hash",
    "handling_code",
    "handling_note",
)


def parse_time(value: str, what: str, field: str | None = None) -> datetime:
    """An aware UTC datetime from ISO 8601; a bare date means 00:00 UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{what}: {value!r} is not a date; use ISO 8601 such as 2026-03-14 or "
            "2026-03-14T09:30:00+02:00",
            field=field,
        ) from None
    if parsed.tzinfo is None:
        raise InputError(
            f"{what}: {value!r} has no UTC offset; add one (e.g. +02:00 or Z) so the "
            "seizure time is unambiguous",
            field=field,
        )
    return parsed.astimezone(UTC)


def handling(
    code: str | None, note: str | None, what: str, field: str | None = None
) -> Handling | None:
    if not code and not note:
        return None
    try:
        return Handling(parse_handling_code(code or "H0"), (note or "").strip())
    except InputError as exc:
        raise InputError(f"{what}: {exc}", field=exc.field or field) from None


def declared_hash(
    algorithm: str | None, value: str | None, what: str, field: str | None = None
) -> DeclaredHash | None:
    if not algorithm and not value:
        return None
    if not algorithm or not value:
        raise InputError(f"{what}: give both the hash algorithm and the hash value", field=field)
    try:
        return DeclaredHash(algorithm.strip().lower(), value.strip().lower())
    except InputError as exc:
        raise InputError(f"{what}: {exc}", field=field) from None


def _rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ManifestError(f"manifest {path}: no such file; check the path") from None
    except UnicodeDecodeError:
        raise ManifestError(f"manifest {path}: not UTF-8 text; save it as UTF-8") from None
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ManifestError(
                f"manifest {path}: invalid JSON at line {exc.lineno}: {exc.msg}"
            ) from None
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            data = data["items"]
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ManifestError(
                f'manifest {path}: expected a list of objects (or {{"items": [...]}}), one per file'
            )
        return data
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        rows = list(reader)
        unknown = [c for c in reader.fieldnames or [] if c not in COLUMNS]
        if unknown:
            raise ManifestError(
                f"manifest {path}: unknown column(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(COLUMNS)}"
            )
        return rows
    raise ManifestError(f"manifest {path}: use a .csv or .json file")


def load(path: Path, relatives: list[str]) -> dict[str, ExhibitMetadata]:
    """Metadata per relative path of the files being ingested."""
    by_name: dict[str, list[str]] = {}
    for rel in relatives:
        by_name.setdefault(PurePosixPath(rel).name, []).append(rel)
    known = set(relatives)
    problems: list[str] = []
    result: dict[str, ExhibitMetadata] = {}
    for number, row in enumerate(_rows(path), start=2 if path.suffix.lower() == ".csv" else 1):
        where = (
            f"manifest {path.name}, {'line' if path.suffix.lower() == '.csv' else 'item'} {number}"
        )
        unknown = [k for k in row if k not in COLUMNS]
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
            continue
        name = str(row.get("path") or "").strip()
        target = _resolve(name, known, by_name, where, problems)
        if target is None:
            continue
        if target in result:
            problems.append(f"{where}: {name!r} is described twice")
            continue
        try:
            result[target] = _metadata(row, where)
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise ManifestError(
            "the manifest has problems; nothing was stored:\n  " + "\n  ".join(problems)
        )
    return result


def _resolve(
    name: str, known: set[str], by_name: dict[str, list[str]], where: str, problems: list[str]
) -> str | None:
    posix = PurePosixPath(name.replace("\\", "/"))
    if not name:
        problems.append(f"{where}: 'path' is empty")
    elif posix.is_absolute() or ".." in posix.parts:
        problems.append(f"{where}: path {name!r} must be relative and stay inside the folder")
    elif posix.as_posix() in known:
        return posix.as_posix()
    elif len(by_name.get(name, [])) == 1:
        return by_name[name][0]
    elif len(by_name.get(name, [])) > 1:
        problems.append(f"{where}: {name!r} matches several files; give its folder path")
    else:
        problems.append(f"{where}: {name!r} is not among the files being ingested")
    return None


def _metadata(row: dict[str, Any], where: str) -> ExhibitMetadata:
    def text(key: str) -> str:
        value = row.get(key)
        return "" if value is None else str(value).strip()

    return ExhibitMetadata(
        title=text("title") or None,
        description=text("description"),
        seized_at=parse_time(text("seized_at"), f"{where}, seized_at")
        if text("seized_at")
        else None,
        seized_by=text("seized_by"),
        seized_from=text("seized_from"),
        declared=declared_hash(text("hash_algorithm"), text("hash"), where),
        handling=handling(text("handling_code"), text("handling_note"), where),
    )


def merge(defaults: ExhibitMetadata, specific: ExhibitMetadata | None) -> ExhibitMetadata:
    """Manifest values win; flags fill what the manifest leaves empty. A
    declared hash only ever comes from one file's own row (or the single-file
    flag), never as a default for a batch."""
    if specific is None:
        return defaults
    return replace(
        specific,
        description=specific.description or defaults.description,
        seized_at=specific.seized_at or defaults.seized_at,
        seized_by=specific.seized_by or defaults.seized_by,
        seized_from=specific.seized_from or defaults.seized_from,
        handling=specific.handling or defaults.handling,
    )


def from_fields(fields: dict[str, str | None]) -> ExhibitMetadata:
    """Exhibit metadata from the command line's options or an upload's query
    (strings, by field name); ``declared_hash`` is ``ALGORITHM:HEX``. An
    error names the field it is about (``InputError.field``)."""
    seized_at = fields.get("seized_at")
    declared = fields.get("declared_hash")
    algorithm, sep, value = (declared or "").partition(":")
    if declared and not sep:
        raise InputError(
            f"declared hash {declared!r}: use ALGORITHM:HEX, e.g. sha1:3f78…", field="declared_hash"
        )
    return ExhibitMetadata(
        title=fields.get("title") or None,
        description=fields.get("description") or "",
        seized_at=parse_time(seized_at, "seizure time", "seized_at") if seized_at else None,
        seized_by=fields.get("seized_by") or "",
        seized_from=fields.get("seized_from") or "",
        declared=declared_hash(algorithm, value, "declared hash", "declared_hash"),
        handling=handling(
            fields.get("handling"), fields.get("handling_note"), "handling", "handling"
        ),
    )
