"""Checks 1-4 and 6: the bag, bag-info, the checksum files, the schedule and
the load file, against each other and against what the bag check read."""

from __future__ import annotations

import re

from evidence.bundle import layout
from evidence.bundle.bag import unsafe
from evidence.bundle.verify.context import Context, NotChecked
from evidence.bundle.verify.parts import Row, fields_once, table_limit
from evidence.models import REFERENCE

_CHECKSUM_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")


def check_bag(ctx: Context) -> str:
    bag = ctx.bag
    for f in bag.findings:
        ctx.found(f.where, f.message, f.kind)
    reader, error = ctx.opened
    if reader is None:
        if not bag.findings:
            ctx.found(ctx.label, f"the ZIP cannot be read: {error}", "zip")
        return ""
    facts = bag.facts
    return (
        f"bag {facts.bag}: {facts.payload_files} payload files, "
        f"{facts.payload_bytes:,} bytes, both manifests and the tag manifests"
    )


def check_info(ctx: Context) -> str:
    ctx.report(ctx.info)
    given = fields_once(ctx.bag.facts.info)
    return (
        f"bundle {given.get(layout.INFO_BUNDLE_ID)}, case {given.get(layout.INFO_CASE)}, "
        f"team {given.get(layout.INFO_TEAM)}, prosecutor {given.get(layout.INFO_PROSECUTOR)}"
    )


def check_checksums(ctx: Context) -> str:
    checked = 0
    for path, algorithm in ((layout.CHECKSUMS_SHA256, "sha256"), (layout.CHECKSUMS_B3, "blake3")):
        try:
            text = ctx.text(path)
        except NotChecked:
            continue
        listed = _listed(ctx, f"data/{path}", text)
        for native, (at, digest) in listed.items():
            found = ctx.native(native, at)
            if found is None:
                continue
            actual = getattr(found, algorithm)
            if actual == digest:
                checked += 1
            else:
                message = f"{algorithm.upper()} is {actual}, {path} says {digest}"
                ctx.found(f"data/{native}", message, "checksum")
        for missing in ctx.natives:
            if missing not in listed:
                ctx.found(f"data/{missing}", f"not listed in data/{path}", "missing")
    return f"{len(ctx.natives)} native files, {checked} digests match"


def _listed(ctx: Context, where: str, text: str) -> dict[str, tuple[str, str]]:
    """The natives a checksum file lists: path -> (its line, its digest)."""
    listed: dict[str, tuple[str, str]] = {}
    for n, line in enumerate(text.split("\n"), 1):
        if not line:
            continue
        at = f"{where} line {n}"
        m = _CHECKSUM_LINE.fullmatch(line)
        if not m:
            ctx.found(at, "is not '<64 hex>  <path>'", "malformed")
        elif unsafe(m[2]) or not m[2].startswith(f"{layout.NATIVES}/"):
            ctx.found(at, f"lists {m[2]!r}, which is not a native file", "malformed")
        elif m[2] in listed:
            ctx.found(at, f"lists {m[2]} again", "duplicate")
        else:
            listed[m[2]] = (at, m[1])
    return listed


def check_schedule(ctx: Context) -> str:
    rows = ctx.report(ctx.schedule)
    seen: dict[str, int] = {}
    scheduled: set[str] = set()
    for row in rows:
        native = _row(ctx, row, seen)
        if native is not None:
            scheduled.add(native)
    for native in ctx.natives:
        if native not in scheduled:
            ctx.found(f"data/{native}", "not on the schedule", "extra")
    return f"{len(rows)} rows match their native files"


def _formulas(ctx: Context, where: str, cells: dict[str, str]) -> None:
    """A cell a spreadsheet would run: genuine ones are escaped (``layout.csv_cell``)."""
    for name, value in cells.items():
        if value.startswith(layout.FORMULA_STARTS):
            message = (
                f"{name} {value[:60]!r} would run as a formula in a spreadsheet: a genuine "
                f"bundle writes it with a leading {layout.CELL_ESCAPE}"
            )
            ctx.found(where, message, "formula")


def _row(ctx: Context, row: Row, seen: dict[str, int]) -> str | None:
    """Check one row; return its native's path if it names one."""
    at = row.where()
    _formulas(ctx, at, row.values)
    if row["number"] != str(row.index):
        message = f"number {row['number']!r}, expected {row.index} (numbered 1, 2, ...)"
        ctx.found(at, message, "order")
    ref = row["reference"]
    if not REFERENCE.match(ref):
        ctx.found(at, f"{ref!r} is not an exhibit reference", "malformed")
    elif ref in seen:
        ctx.found(at, f"{ref} is already listed in row {seen[ref]}", "duplicate")
    else:
        seen[ref] = row.index
    size = row.integer("size")
    if size is None:
        ctx.found(at, f"size {row['size']!r} is not a number of bytes", "malformed")
    for algorithm in ("blake3", "sha256"):
        if not layout.HEX64.fullmatch(row[algorithm]):
            message = f"{algorithm} {row[algorithm]!r} is not 64 lowercase hex digits"
            ctx.found(at, message, "malformed")
    native = row["native"]
    if unsafe(native) or native != layout.native_name(ref, native):
        ctx.found(at, f"native {native!r} is not {layout.NATIVES}/<reference>[.ext]", "malformed")
        return None
    found = ctx.native(native, at)
    if found is None:
        return native
    if size is not None and found.size != size:
        ctx.found(at, f"size {size}, but data/{native} holds {found.size} bytes", "mismatch")
    for algorithm in ("blake3", "sha256"):
        actual = getattr(found, algorithm)
        if row[algorithm] != actual:
            message = f"{algorithm.upper()} {row[algorithm]}, but data/{native} has {actual}"
            ctx.found(at, message, "checksum")
    return native


def check_load_file(ctx: Context) -> str:
    where = f"data/{layout.LOAD_FILE}"
    text = ctx.text(layout.LOAD_FILE, table_limit(ctx.names, len(layout.LOAD_FIELDS)))
    rows = ctx.need(ctx.schedule)
    lines = text.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    width = len(layout.LOAD_FIELDS)
    parsed: list[list[str] | None] = []
    for n, line in enumerate(lines, 1):
        fields = layout.load_fields(line)
        if fields is None or len(fields) != width:
            message = f"is not {width} fields quoted with þ and separated by DC4 (U+0014)"
            ctx.found(f"{where} line {n}", message, "malformed")
        else:
            _formulas(ctx, f"{where} line {n}", dict(zip(layout.LOAD_FIELDS, fields, strict=True)))
        parsed.append(fields)
    if not parsed or parsed[0] is None or tuple(parsed[0]) != layout.LOAD_FIELDS:
        ctx.found(where, f"the header row is not {', '.join(layout.LOAD_FIELDS)}", "malformed")
    body = parsed[1:]
    if len(body) != len(rows):
        message = f"has {len(body)} rows, the schedule {len(rows)}: one row per exhibit"
        ctx.found(where, message, "mismatch")
    for row, fields in zip(rows, body, strict=False):
        if fields is None or len(fields) != width:
            continue
        load = dict(zip(layout.LOAD_FIELDS, fields, strict=True))
        load["NATIVEPATH"] = _native_path(load["NATIVEPATH"])
        for name, column in layout.LOAD_COLUMNS.items():
            if load[name] != row[column]:
                message = f"{name} {load[name]!r}, the schedule says {row[column]!r}"
                ctx.found(row.where(where), message, "mismatch")
    return f"{len(body)} rows agree with the schedule"


def _native_path(value: str) -> str:
    """A load file may use ``\\`` separators and a leading ``./``."""
    value = value.replace("\\", "/")
    return value[2:] if value.startswith("./") else value
