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
reported at once (like bagit-python's validation; the first
``SHOWN_PROBLEMS`` are listed, the rest counted): an unknown column, a bad
date, a row for a file that is not being ingested, a path that climbs out of
the folder, a file named twice.

A value arrives exactly as written, or the manifest is refused: text keeps
its spaces and line breaks (a quoted CSV cell may span lines; U+2028 is a
character like any other), a column or a JSON key given twice is refused
rather than one of them winning, a JSON value must be text (or null, for
none), and CSV must be well formed (``strict``). The limits are in
``evidence.limits``: the file's size (checked before it is read: only a
regular file is opened, so a folder, a pipe or a device is refused, not
waited on), its rows, each cell, the nesting of JSON (scanned before it is
parsed, so no depth or breadth of it costs more than its limits allow).
"""

from __future__ import annotations

import csv
import json
import os
import re
import stat
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from evidence.errors import InputError, ManifestError
from evidence.limits import (
    JSON_MAX_DEPTH,
    MANIFEST_CELL_MAX_CHARS,
    MANIFEST_MAX_BYTES,
    MANIFEST_MAX_ROWS,
)
from evidence.models import DeclaredHash, ExhibitMetadata, Handling, parse_handling_code
from evidence.sizes import MiB

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
SHOWN_PROBLEMS = 50  # listed in the error; the rest are counted

Row = tuple[str, dict[str, str]]  # where it is ("manifest m.csv, line 4"), its values


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
        return Handling(parse_handling_code(code or "H0"), note or "")
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


def _read(path: Path) -> bytes:
    """The manifest's bytes. Only a regular file is read: it is opened without
    waiting (a pipe would wait for a writer), looked at, and its size checked
    before a byte is read; no more than the limit is read should it grow."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ManifestError(f"manifest {path}: no such file; check the path") from None
    except OSError as exc:
        raise ManifestError(f"manifest {path}: cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise ManifestError(f"manifest {path}: is a folder; give the manifest file in it")
        if not stat.S_ISREG(info.st_mode):
            raise ManifestError(
                f"manifest {path}: not a regular file (a pipe, a device or a socket); "
                "give a .csv or .json file"
            )
        if info.st_size > MANIFEST_MAX_BYTES:
            raise _too_big(path, info.st_size)
        with open(fd, "rb", closefd=False) as file:
            data = file.read(MANIFEST_MAX_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"manifest {path}: cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > MANIFEST_MAX_BYTES:  # it grew after it was looked at
        raise _too_big(path, len(data))
    return data


def _too_big(path: Path, size: int) -> ManifestError:
    return ManifestError(
        f"manifest {path}: {size:,} bytes, over the limit of {MANIFEST_MAX_BYTES:,} "
        f"({MANIFEST_MAX_BYTES // MiB} MiB); ingest the files in smaller batches, each with "
        "its own manifest"
    )


def _rows(path: Path, problems: list[str]) -> list[Row]:
    """The manifest's rows with their text values; a row with a problem is
    left out and its problem added to ``problems``. A problem with the file
    as a whole raises ``ManifestError``."""
    data = _read(path)
    kind = path.suffix.lower()
    if kind not in (".csv", ".json"):
        raise ManifestError(f"manifest {path}: use a .csv or .json file")
    text = _text(path, data)
    del data  # only the text is needed now: its bytes are not kept while it is parsed
    return _csv_rows(path, text, problems) if kind == ".csv" else _json_rows(path, text, problems)


def _text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ManifestError(
            f"manifest {path}: not UTF-8 text (line {line}); save it as UTF-8"
        ) from None


def _too_many(path: Path) -> ManifestError:
    return ManifestError(
        f"manifest {path}: more than {MANIFEST_MAX_ROWS:,} rows, the limit; ingest the "
        "files in smaller batches, each with its own manifest"
    )


def _cell_problem(where: str, column: str, value: str) -> str | None:
    if len(value) <= MANIFEST_CELL_MAX_CHARS:
        return None
    return (
        f"{where}, {column}: {len(value):,} characters, over the limit of "
        f"{MANIFEST_CELL_MAX_CHARS:,} for a value; shorten it"
    )


# -- CSV ----------------------------------------------------------------------------


# A line as ``csv`` wants it (``newline=""``): with its ending, and ended only by
# CR, LF or CR LF (``str.splitlines`` also ends one at U+2028 and others).
_LINE = re.compile(r"[^\r\n]*+(?:\r\n?|\n)|[^\r\n]++\Z")


def _csv_rows(path: Path, text: str, problems: list[str]) -> list[Row]:
    """Read as written: the line breaks in a quoted cell are kept as they are,
    ``strict`` refuses what is not CSV. A cell over the limit is a problem of
    its row; one over the ``csv`` module's own field limit (131,072 characters
    unless set otherwise) ends the reading there."""
    reader = csv.reader((m.group() for m in _LINE.finditer(text)), strict=True)
    header: list[str] | None = None
    rows: list[Row] = []
    line = 1
    try:
        for cells in reader:
            if cells and header is None:
                header = _csv_header(path, cells)
            elif cells and header is not None:
                if len(rows) == MANIFEST_MAX_ROWS:
                    raise _too_many(path)
                where = f"manifest {path.name}, line {line}"
                row = _csv_row(where, header, cells, problems)
                if row is not None:
                    rows.append((where, row))
            line = reader.line_num + 1
    except csv.Error as exc:
        if str(exc).startswith("field larger than field limit"):
            raise ManifestError(
                f"manifest {path.name}, line {line}: a cell over the limit of "
                f"{MANIFEST_CELL_MAX_CHARS:,} characters for a value; shorten it"
            ) from None
        raise ManifestError(
            f"manifest {path.name}, line {reader.line_num}: not valid CSV ({exc}); "
            'quote a value that holds a comma, a quote (doubled: "") or a line break'
        ) from None
    if header is None:
        raise ManifestError(
            f"manifest {path}: empty; give a header ({', '.join(COLUMNS)}), then a row per file"
        )
    return rows


def _csv_header(path: Path, header: list[str]) -> list[str]:
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise ManifestError(
            f"manifest {path}: unknown column(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(COLUMNS)}"
        )
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:
        raise ManifestError(
            f"manifest {path}: column(s) {', '.join(map(repr, twice))} given twice in "
            "the header; keep one of each"
        )
    if "path" not in header:
        raise ManifestError(f"manifest {path}: no 'path' column; name each row's file in one")
    return header


def _csv_row(
    where: str, header: list[str], cells: list[str], problems: list[str]
) -> dict[str, str] | None:
    if len(cells) > len(header):
        problems.append(
            f"{where}: {len(cells)} cells, but the header has {len(header)} columns; "
            "quote a value that holds a comma"
        )
        return None
    row = dict(zip(header, cells, strict=False))
    found = [p for p in (_cell_problem(where, c, v) for c, v in row.items()) if p]
    problems.extend(found)
    return None if found else row


# -- JSON ---------------------------------------------------------------------------

# A string, or one left open running to the end (where ``json`` stops anyway):
# possessive, so that no text makes the scan more than linear.
_JSON_STRING = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+(?:"|\\?\Z)', re.DOTALL)
_JSON_SCALAR = re.compile(r"[^\s\[\]{},:]+")  # a number, true, false, null (or a mistake)
_JSON_SEPARATORS = re.compile(r"[\s,:]+")
# What a manifest at the row limit holds at most: each item an object of every
# column, its keys and its values; and the list, and {"items": ...} around it.
_JSON_MAX_VALUES = MANIFEST_MAX_ROWS * (1 + 2 * len(COLUMNS)) + 3


def _json_rows(path: Path, text: str, problems: list[str]) -> list[Row]:
    _json_bounds(path, text)
    try:  # an integer as a float: no digit limit to meet, as a number is refused anyway
        document = json.loads(text, object_pairs_hook=_Object.of, parse_int=float)
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"manifest {path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if isinstance(document, _Object) and list(document) == ["items"] and not document.twice:
        document = document["items"]
    if not isinstance(document, list):
        raise ManifestError(
            f'manifest {path}: expected a list of objects (or {{"items": [...]}}), one per file'
        )
    if len(document) > MANIFEST_MAX_ROWS:
        raise _too_many(path)
    rows: list[Row] = []
    for number, item in enumerate(document, start=1):
        where = f"manifest {path.name}, item {number}"
        row = _json_row(where, item, problems)
        if row is not None:
            rows.append((where, row))
    return rows


def _json_bounds(path: Path, text: str) -> None:
    """Refuses, before it is parsed, JSON with more values than a manifest at
    the row limit holds (so that parsing takes bounded memory) or nested deeper
    than ``JSON_MAX_DEPTH`` (so that it cannot exhaust the parser's recursion).
    Strings are taken out first: a bracket in a text is no nesting."""
    skeleton, strings = _JSON_STRING.subn("", text)
    skeleton, scalars = _JSON_SCALAR.subn("", skeleton)
    brackets = _JSON_SEPARATORS.sub("", skeleton)
    if strings + scalars + len(brackets) // 2 > _JSON_MAX_VALUES:
        raise ManifestError(
            f"manifest {path}: more JSON values than {MANIFEST_MAX_ROWS:,} objects of "
            f"{len(COLUMNS)} fields hold, the limit; give one object of text fields per file"
        )
    depth = 0
    for bracket in brackets:
        depth += 1 if bracket in "[{" else -1
        if depth > JSON_MAX_DEPTH:
            raise ManifestError(
                f"manifest {path}: JSON nested deeper than {JSON_MAX_DEPTH} levels, the "
                'limit; give a list of objects (or {"items": [...]}), one per file'
            )


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it was given more than once
    (``json`` would keep the last silently)."""

    __slots__ = ("twice",)
    twice: list[str]  # sorted

    @classmethod
    def of(cls, pairs: list[tuple[str, Any]]) -> _Object:
        result = cls(pairs)
        seen: set[str] = set()
        twice: set[str] = set()
        if len(result) < len(pairs):
            for key, _ in pairs:
                (twice if key in seen else seen).add(key)
        result.twice = sorted(twice)
        return result


_KINDS = {
    str: "text",
    type(None): "null",
    bool: "true or false",
    int: "a number",
    float: "a number",
    list: "a list",
    _Object: "an object",
}


def _json_row(where: str, item: Any, problems: list[str]) -> dict[str, str] | None:
    if not isinstance(item, _Object):
        problems.append(f"{where}: expected an object of fields, got {_KINDS[type(item)]}")
        return None
    found = (
        [f"{where}: {', '.join(map(repr, item.twice))} given twice; keep one"] if item.twice else []
    )
    unknown = [k for k in item if k not in COLUMNS]
    if unknown:
        found.append(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}")
    for key, value in item.items():
        if value is not None and not isinstance(value, str):
            found.append(f"{where}, {key}: {_KINDS[type(value)]} where text is expected; quote it")
        elif value is not None and (problem := _cell_problem(where, key, value)):
            found.append(problem)
    problems.extend(found)
    return None if found else {k: v for k, v in item.items() if v is not None}


def load(path: Path, relatives: list[str]) -> dict[str, ExhibitMetadata]:
    """Metadata per relative path of the files being ingested."""
    by_name: dict[str, list[str]] = {}
    for rel in relatives:
        by_name.setdefault(PurePosixPath(rel).name, []).append(rel)
    known = set(relatives)
    problems: list[str] = []
    result: dict[str, ExhibitMetadata] = {}
    for where, row in _rows(path, problems):
        name = row.get("path", "").strip()
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
        shown = problems[:SHOWN_PROBLEMS]
        if len(problems) > SHOWN_PROBLEMS:
            shown.append(f"... and {len(problems) - SHOWN_PROBLEMS:,} more")
        raise ManifestError(
            "the manifest has problems; nothing was stored:\n  " + "\n  ".join(shown)
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


def _metadata(row: dict[str, str], where: str) -> ExhibitMetadata:
    """The row's metadata: its text as written, the rest parsed."""
    value = row.get
    seized_at = value("seized_at", "").strip()
    seized = parse_time(seized_at, f"{where}, seized_at") if seized_at else None
    declared = declared_hash(value("hash_algorithm", "").strip(), value("hash", "").strip(), where)
    rule = handling(value("handling_code", "").strip(), value("handling_note"), where)
    try:
        return ExhibitMetadata(
            title=value("title") or None,
            description=value("description", ""),
            seized_at=seized,
            seized_by=value("seized_by", ""),
            seized_from=value("seized_from", ""),
            declared=declared,
            handling=rule,
        )
    except InputError as exc:
        raise InputError(f"{where}: {exc}", field=exc.field) from None


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


def as_fields(meta: ExhibitMetadata) -> dict[str, str]:
    """The metadata as an upload's fields (``from_fields`` reads them back to
    the same metadata; the purposes agreed in advance are not an upload's)."""
    fields = {
        "title": meta.title or "",
        "description": meta.description,
        "seized_at": meta.seized_at.isoformat() if meta.seized_at else "",
        "seized_by": meta.seized_by,
        "seized_from": meta.seized_from,
        "declared_hash": f"{meta.declared.algorithm}:{meta.declared.value}"
        if meta.declared
        else "",
        "handling": meta.handling.code.value if meta.handling else "",
        "handling_note": meta.handling.note if meta.handling else "",
    }
    return {k: v for k, v in fields.items() if v}
