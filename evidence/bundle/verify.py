"""Offline verification of a disclosure bundle (``evidence.bundle.layout``):
``verify_bundle(path_or_file)`` needs the ZIP and nothing else (no database, no
store, no configuration), trusts nothing in it, never raises on what it holds,
and collects every problem it finds, each naming the file, row, event or
transfer concerned.

The bag-info fields are ``layout.INFO_FIELDS`` (see ``evidence.bundle.layout``).

The checks, always in this order (``CHECKS``); a check that needs a file
another check found unusable says "not checked" and fails:

1. ``bag``: ``bag.verify_zip``: BagIt structure, both payload manifests, the
   tag manifests, Payload-Oxum.
2. ``bag-info``: the fields above are present once and well formed; the bag
   folder is named after the bundle id.
3. ``checksums``: ``checksums.sha256`` and ``checksums.b3`` (``<hex>  <path>``,
   or ``<hex> *<path>``) list exactly the files under ``natives/``, each with
   the digest the bag verification computed.
4. ``schedule``: ``schedule.csv`` has the header ``SCHEDULE_FIELDS``, rows
   numbered 1, 2, ...; each row names its native (``layout.native_name``),
   which exists and has the row's size, BLAKE3 and SHA-256; every native has
   a row.
5. ``pdf``: each row's pages lie in ``bundle.pdf``, in schedule order, without
   overlap, the last ending on the PDF's last page; BEGBATES/ENDBATES are
   ``layout.bates(<case>-<team>, page)``; the first and last page of each exhibit
   carry its Bates number and reference in their text (the stamp).
6. ``load file``: ``load.dat``: a header row ``LOAD_FIELDS``, then one row per
   schedule row, in its order, with the same BEGBATES, ENDBATES, REFERENCE,
   NATIVEPATH (the row's ``native``; ``\\`` separators and a leading ``./``
   allowed), FILESIZE, SHA256 and BLAKE3.
7. ``ledger``: ``ledger/custody.jsonl`` parses to custody events whose chain
   (``ledger.verify``) holds from event 1 without a gap; ``Ledger-Head`` is
   its last event, ``Bundle-Created`` that event's time; every scheduled
   exhibit has an INGESTED event, and each of its INGESTED and RECEIVED events
   records the schedule's size and hashes.
8. ``keys``: ``keys.json`` (team -> public key) is exactly the keys that the
   extract's TEAM_KEY_REGISTERED events record (the last one of each team).
9. ``receipts``: every transfer with RECEIVED events in the extract: its
   receipt, rebuilt from them (``receipts.from_events``), verifies with the
   receiving team's key as registered in the extract before the receipt. A
   receipt cut short by the end of the extract cannot verify: the extract
   must hold all of a receipt's RECEIVED events.
10. ``root digest``: ``layout.root_digest`` recomputed from bag-info, the
    ledger head and the schedule equals ``Bundle-Root-Digest``, and the
    PDF's first page (the cover) shows it and the bundle id.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from pypdf import PdfReader

from evidence import ledger, receipts
from evidence.bundle import layout
from evidence.bundle.bag import MiB, PayloadFile, unsafe
from evidence.bundle.bagcheck import BagReader, BagReport, Source, verify_zip
from evidence.bundle.layout import bates
from evidence.bundle.quiet import quiet
from evidence.models import CASE_ID, REFERENCE, TEAM_CODE, Action, CustodyEvent

CHECKS = (
    "bag",
    "bag-info",
    "checksums",
    "schedule",
    "pdf",
    "load file",
    "ledger",
    "keys",
    "receipts",
    "root digest",
)
TEXT_LIMIT = 256 * MiB  # schedule.csv, load.dat, checksums, keys.json read whole
LINE_LIMIT = 16 * MiB  # one line of the ledger extract
SPOOL = 64 * MiB  # bundle.pdf stays in memory up to this size, then goes to disk

_INT = re.compile(r"[0-9]{1,15}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_CHECKSUM_LINE = re.compile(r"([0-9a-f]{64}) [ *](.+)")
_EVENT_KEYS = frozenset(
    ("case", "seq", "exhibit", "action", "actor", "team", "at", "details", "prev_hash", "hash")
)
_WHITESPACE = re.compile(r"\s+")


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Check:
    name: str  # one of CHECKS
    ok: bool
    detail: str  # what was checked, or why it failed or was not checked


@dataclass(frozen=True, slots=True)
class Problem:
    check: str  # the check that found it
    where: str  # the file, row, event or transfer: "data/schedule.csv row 2 (BG-EX-0002)"
    message: str


@dataclass(frozen=True, slots=True)
class BundleReport:
    source: str
    bundle: str  # External-Identifier, or the bag folder's name, or ""
    checks: tuple[Check, ...]  # one per name of CHECKS, in that order
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and all(c.ok for c in self.checks)

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def problems_of(self, name: str) -> list[Problem]:
        return [p for p in self.problems if p.check == name]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "bundle": self.bundle,
            "ok": self.ok,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "problems": [
                {"check": p.check, "where": p.where, "message": p.message} for p in self.problems
            ],
        }


class _NotChecked(Exception):
    """A check cannot run: what it needs is missing or unusable (said elsewhere)."""


# ---------------------------------------------------------------- parsed parts


@dataclass(slots=True)
class _Row:
    """One schedule.csv row, as written, with its number in the file (from 1)."""

    index: int
    values: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.values.get(name, "")

    def where(self) -> str:
        ref = self.values.get("reference", "")
        return f"data/{layout.SCHEDULE} row {self.index}" + (f" ({ref})" if ref else "")

    def integer(self, name: str) -> int | None:
        value = self[name]
        return int(value) if _INT.fullmatch(value) else None


@dataclass(slots=True)
class _Info:
    bundle_id: str | None = None
    case_id: str | None = None
    team: str | None = None
    prosecutor: str | None = None
    created: datetime | None = None
    created_text: str | None = None
    root_digest: str | None = None
    head: tuple[int, str] | None = None


@dataclass(slots=True)
class _Pdf:
    reader: PdfReader | None = None
    pages: int = 0
    error: str | None = None
    texts: dict[int, str] = field(default_factory=dict)


# ---------------------------------------------------------------- verification


def verify_bundle(source: Source) -> BundleReport:
    """Verify the bundle ZIP at ``source`` (a path, or a seekable binary file),
    offline. Never raises on what the ZIP holds: every problem is reported."""
    return _Run(source).run()


class _Run:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.label = (
            os.fspath(source)
            if isinstance(source, (str, os.PathLike))
            else str(getattr(source, "name", "<stream>"))
        )
        self.problems: list[Problem] = []
        self.checks: list[Check] = []
        self.current = ""
        self.reader: BagReader | None = None
        self.bag: BagReport | None = None
        self.files: dict[str, PayloadFile] = {}
        self.names: set[str] = set()
        self.info = _Info()
        self.rows: list[_Row] | None = None
        self.pdf = _Pdf()
        self.events: list[CustodyEvent] | None = None
        self.spool: IO[bytes] | None = None

    # -- plumbing

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(self.current, where, message))

    def run(self) -> BundleReport:
        steps: list[Callable[[], str]] = [
            self.check_bag,
            self.check_info,
            self.check_checksums,
            self.check_schedule,
            self.check_pdf,
            self.check_load_file,
            self.check_ledger,
            self.check_keys,
            self.check_receipts,
            self.check_root_digest,
        ]
        try:
            for name, step in zip(CHECKS, steps, strict=True):
                self.current = name
                before = len(self.problems)
                try:
                    detail = step()
                except _NotChecked as exc:
                    self.checks.append(Check(name, False, f"not checked: {exc}"))
                    continue
                except Exception as exc:  # a verifier bug on a hostile bundle: report, go on
                    self.problem("bundle", f"the {name} check failed unexpectedly: {_say(exc)}")
                    detail = ""
                found = len(self.problems) - before
                if found:
                    detail = f"{found} problem{'s' if found > 1 else ''}"
                self.checks.append(Check(name, not found, detail))
        finally:
            self.close()
        bundle = self.info.bundle_id or (self.bag.facts.bag if self.bag else "")
        return BundleReport(self.label, bundle, tuple(self.checks), tuple(self.problems))

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        if self.spool is not None:
            self.spool.close()

    def need_reader(self) -> BagReader:
        if self.reader is None:
            raise _NotChecked("the ZIP cannot be read")
        return self.reader

    def text(self, path: str) -> str:
        """A payload file's text (UTF-8, an optional BOM), or ``_NotChecked``
        after reporting why it cannot be had."""
        reader = self.need_reader()
        where = f"data/{path}"
        if path not in self.names:
            self.problem(where, f"{where} is missing from the bundle")
            raise _NotChecked(f"{where} is missing")
        try:
            data = reader.read(path, TEXT_LIMIT)
        except Exception as exc:
            self.problem(where, f"{where} cannot be read: {_say(exc)}")
            raise _NotChecked(f"{where} cannot be read") from None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self.problem(where, f"{where} is not UTF-8 text: {exc}")
            raise _NotChecked(f"{where} is not UTF-8 text") from None

    def native_digests(self, path: str, where: str) -> PayloadFile | None:
        """The digests the bag verification computed for ``data/<path>``;
        ``None`` after reporting why there are none."""
        found = self.files.get(path)
        if found is None:
            if path in self.names:
                self.problem(where, f"data/{path} cannot be read from the ZIP (see the bag check)")
            else:
                self.problem(where, f"data/{path} is not in the bundle")
        return found

    # -- 1. the bag

    def check_bag(self) -> str:
        self.bag = verify_zip(self.source)
        for f in self.bag.findings:
            self.problem(f.where, f.text())
        try:
            self.reader = BagReader(self.source)
        except Exception as exc:
            if not self.bag.findings:
                self.problem(self.label, f"the ZIP cannot be read: {_say(exc)}")
            return ""
        self.names = set(self.reader.names())
        self.files = {f.path: f for f in self.bag.facts.files}
        return (
            f"bag {self.bag.facts.bag}: {self.bag.facts.payload_files} payload files, "
            f"{self.bag.facts.payload_bytes:,} bytes, both manifests and the tag manifests"
        )

    # -- 2. bag-info

    def check_info(self) -> str:
        if self.bag is None or self.reader is None:
            raise _NotChecked("the ZIP cannot be read")
        where = "bag-info.txt"
        found: dict[str, list[str]] = {}
        for label, value in self.bag.facts.info:
            found.setdefault(label.lower(), []).append(value)
        values: dict[str, str] = {}
        for label in layout.INFO_FIELDS:
            got = found.get(label.lower(), [])
            if len(got) != 1:
                what = "no" if not got else f"{len(got)} fields"
                self.problem(where, f"{where} has {what} {label}: the bundle needs exactly one")
            else:
                values[label] = got[0]
        info = self.info
        case = values.get("Bundle-Case")
        if case is not None:
            if CASE_ID.match(case):
                info.case_id = case
            else:
                self.problem(where, f"{where}: Bundle-Case {case!r} is not a case id")
        team = values.get("Bundle-Team")
        if team is not None:
            if TEAM_CODE.match(team):
                info.team = team
            else:
                self.problem(where, f"{where}: Bundle-Team {team!r} is not a team code")
        bundle = values.get("External-Identifier")
        if bundle is not None:
            info.bundle_id = bundle
            if info.case_id and info.team:
                if not layout.bundle_id_pattern(info.case_id, info.team).fullmatch(bundle):
                    self.problem(
                        where,
                        f"{where}: External-Identifier {bundle!r} is not a bundle id of case "
                        f"{info.case_id} and team {info.team} ({info.case_id}-{info.team}-B-NNNN)",
                    )
            if self.bag.facts.bag != bundle:
                self.problem(
                    where,
                    f"the bag folder is {self.bag.facts.bag!r}, not the bundle id {bundle!r} "
                    "(External-Identifier)",
                )
        prosecutor = values.get("Bundle-Prosecutor")
        if prosecutor is not None:
            if prosecutor.strip():
                info.prosecutor = prosecutor
            else:
                self.problem(where, f"{where}: Bundle-Prosecutor is empty")
        created = values.get("Bundle-Created")
        if created is not None:
            info.created = _time(created)
            if info.created is None:
                self.problem(
                    where,
                    f"{where}: Bundle-Created {created!r} is not a UTC time like "
                    "2026-03-14T09:30:00.000000Z",
                )
            else:
                info.created_text = created
        root = values.get("Bundle-Root-Digest")
        if root is not None:
            if layout.HEX64.fullmatch(root):
                info.root_digest = root
            else:
                self.problem(
                    where, f"{where}: Bundle-Root-Digest is not 64 lowercase hex digits: {root!r}"
                )
        head = values.get("Ledger-Head")
        if head is not None:
            m = layout.LEDGER_HEAD.fullmatch(head)
            if m:
                info.head = (int(m[1]), m[2])
            else:
                self.problem(where, f"{where}: Ledger-Head is not '<seq> <hash>': {head!r}")
        return f"bundle {bundle}, case {case}, team {team}, prosecutor {prosecutor}"

    # -- 3. checksum files

    def check_checksums(self) -> str:
        natives = sorted(n for n in self.names if n.startswith(f"{layout.NATIVES}/"))
        checked = 0
        for path, algorithm in (
            (layout.CHECKSUMS_SHA256, "sha256"),
            (layout.CHECKSUMS_B3, "blake3"),
        ):
            try:
                text = self.text(path)
            except _NotChecked:
                continue
            where = f"data/{path}"
            listed: set[str] = set()
            for n, line in enumerate(text.split("\n"), 1):
                if not line:
                    continue
                m = _CHECKSUM_LINE.fullmatch(line)
                if not m:
                    self.problem(f"{where} line {n}", f"{where} line {n} is not '<64 hex>  <path>'")
                    continue
                digest, listed_path = m[1], m[2]
                at = f"{where} line {n}"
                if unsafe(listed_path) or not listed_path.startswith(f"{layout.NATIVES}/"):
                    self.problem(at, f"{at} lists {listed_path!r}, which is not a native file")
                    continue
                if listed_path in listed:
                    self.problem(at, f"{at} lists {listed_path} again")
                    continue
                listed.add(listed_path)
                found = self.native_digests(listed_path, at)
                if found is not None:
                    actual = getattr(found, algorithm)
                    if actual != digest:
                        self.problem(
                            f"data/{listed_path}",
                            f"data/{listed_path}: {algorithm.upper()} is {actual}, "
                            f"{path} says {digest}",
                        )
                    else:
                        checked += 1
            for missing in sorted(set(natives) - listed):
                self.problem(
                    f"data/{missing}", f"data/{missing} is a native file not listed in {where}"
                )
        return f"{len(natives)} native files, {checked} digests match"

    # -- 4. schedule.csv

    def check_schedule(self) -> str:
        where = f"data/{layout.SCHEDULE}"
        text = self.text(layout.SCHEDULE)
        try:
            table = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            self.problem(where, f"{where} is not valid CSV: {exc}")
            raise _NotChecked(f"{where} is not valid CSV") from None
        if not table or tuple(table[0]) != layout.SCHEDULE_FIELDS:
            got = ",".join(table[0])[:200] if table else "nothing"
            self.problem(
                where, f"{where}: the header is not {','.join(layout.SCHEDULE_FIELDS)} but {got}"
            )
            raise _NotChecked(f"{where} has no valid header")
        rows: list[_Row] = []
        for i, cells in enumerate(table[1:], 1):
            row = _Row(i, dict(zip(layout.SCHEDULE_FIELDS, cells, strict=False)))
            rows.append(row)
            if len(cells) != len(layout.SCHEDULE_FIELDS):
                self.problem(
                    row.where(),
                    f"{row.where()} has {len(cells)} fields, not {len(layout.SCHEDULE_FIELDS)}",
                )
        self.rows = rows
        if not rows:
            self.problem(where, f"{where} lists no exhibit")
        seen: dict[str, int] = {}
        scheduled: set[str] = set()
        for row in rows:
            at = row.where()
            if row["number"] != str(row.index):
                self.problem(
                    at, f"{at}: number {row['number']!r}, expected {row.index} (numbered 1, 2, ...)"
                )
            ref = row["reference"]
            if not REFERENCE.match(ref):
                self.problem(at, f"{at}: {ref!r} is not an exhibit reference")
            elif ref in seen:
                self.problem(at, f"{at}: {ref} is already listed in row {seen[ref]}")
            else:
                seen[ref] = row.index
            size = row.integer("size")
            if size is None:
                self.problem(at, f"{at}: size {row['size']!r} is not a number of bytes")
            for algorithm in ("blake3", "sha256"):
                if not layout.HEX64.fullmatch(row[algorithm]):
                    self.problem(
                        at, f"{at}: {algorithm} {row[algorithm]!r} is not 64 lowercase hex digits"
                    )
            native = row["native"]
            if unsafe(native) or native != layout.native_name(ref, native):
                self.problem(
                    at, f"{at}: native {native!r} is not {layout.NATIVES}/<reference>[.ext]"
                )
                continue
            scheduled.add(native)
            found = self.native_digests(native, at)
            if found is None:
                continue
            if size is not None and found.size != size:
                self.problem(at, f"{at}: size {size}, but data/{native} holds {found.size} bytes")
            for algorithm in ("blake3", "sha256"):
                actual = getattr(found, algorithm)
                if row[algorithm] != actual:
                    self.problem(
                        at,
                        f"{at}: {algorithm.upper()} {row[algorithm]}, but data/{native} "
                        f"has {actual}",
                    )
        for native in sorted(n for n in self.names if n.startswith(f"{layout.NATIVES}/")):
            if native not in scheduled:
                self.problem(f"data/{native}", f"data/{native} is not on the schedule")
        return f"{len(rows)} rows match their native files"

    # -- 5. bundle.pdf

    def open_pdf(self) -> _Pdf:
        """bundle.pdf, opened once (leniently, every failure caught)."""
        state = self.pdf
        if state.reader is not None or state.error is not None:
            return state
        reader = self.need_reader()
        if layout.PDF not in self.names:
            state.error = f"data/{layout.PDF} is missing from the bundle"
            return state
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL)
        self.spool = spool
        try:
            for chunk in reader.chunks(layout.PDF):
                spool.write(chunk)
            spool.seek(0)
            with quiet("pypdf"):
                state.reader = PdfReader(spool, strict=False)
                if state.reader.is_encrypted:
                    raise ValueError("it is encrypted")
                state.pages = len(state.reader.pages)
        except Exception as exc:
            state.reader = None
            state.error = f"data/{layout.PDF} cannot be read as a PDF: {_say(exc)}"
        return state

    def page_text(self, page: int) -> str | None:
        """The text of bundle page ``page`` (from 1), whitespace removed;
        ``None`` if it cannot be extracted."""
        state = self.open_pdf()
        if state.reader is None or not 1 <= page <= state.pages:
            return None
        if page not in state.texts:
            try:
                with quiet("pypdf"):
                    text = state.reader.pages[page - 1].extract_text()
            except Exception:
                return None
            state.texts[page] = _WHITESPACE.sub("", text)
        return state.texts[page]

    def check_pdf(self) -> str:
        state = self.open_pdf()
        where = f"data/{layout.PDF}"
        if state.error is not None:
            self.problem(where, state.error)
            raise _NotChecked(state.error)
        rows = self.need_rows()
        case, team = self.info.case_id, self.info.team
        if case is None or team is None:
            raise _NotChecked("bag-info.txt gives no usable Bundle-Case and Bundle-Team")
        prefix = layout.bates_prefix(case, team)
        previous = 0
        for row in rows:
            at = row.where()
            first, last = row.integer("first_page"), row.integer("last_page")
            if first is None or last is None:
                self.problem(
                    at,
                    f"{at}: pages {row['first_page']!r}-{row['last_page']!r} are not page numbers",
                )
                continue
            if not 1 <= first <= last <= state.pages:
                self.problem(
                    at, f"{at}: pages {first}-{last} are not within the PDF's {state.pages} pages"
                )
                continue
            if first <= previous:
                self.problem(
                    at,
                    f"{at}: pages {first}-{last} start before the previous row's end "
                    f"(page {previous}): page ranges follow the schedule and do not overlap",
                )
            previous = max(previous, last)
            for name, page in (("begbates", first), ("endbates", last)):
                if row[name] != bates(prefix, page):
                    self.problem(
                        at, f"{at}: {name} {row[name]!r}, expected {bates(prefix, page)!r}"
                    )
            for page in sorted({first, last}):
                text = self.page_text(page)
                number, ref = bates(prefix, page), row["reference"]
                if text is None:
                    self.problem(f"{where} page {page}", f"{where} page {page}: no text extracted")
                    continue
                missing = [s for s in (number, ref) if s and s not in text]
                if missing:
                    self.problem(
                        f"{where} page {page}",
                        f"{where} page {page} ({ref}): the stamp {' and '.join(missing)} "
                        "is not on the page",
                    )
        if rows and previous != state.pages and previous:
            self.problem(
                where,
                f"{where} has {state.pages} pages, the exhibits end on page {previous}: "
                "nothing follows the last exhibit",
            )
        return f"{state.pages} pages; {len(rows)} exhibits' page ranges, Bates numbers and stamps"

    def need_rows(self) -> list[_Row]:
        if self.rows is None:
            raise _NotChecked(f"data/{layout.SCHEDULE} cannot be used")
        return self.rows

    # -- 6. load.dat

    def check_load_file(self) -> str:
        where = f"data/{layout.LOAD_FILE}"
        text = self.text(layout.LOAD_FILE)
        rows = self.need_rows()
        lines = text.replace("\r\n", "\n").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        parsed: list[list[str] | None] = []
        for n, line in enumerate(lines, 1):
            fields = layout.load_fields(line)
            if fields is None or len(fields) != len(layout.LOAD_FIELDS):
                self.problem(
                    f"{where} line {n}",
                    f"{where} line {n} is not {len(layout.LOAD_FIELDS)} fields quoted with "
                    "þ and separated by DC4 (U+0014)",
                )
            parsed.append(fields)
        if not parsed or parsed[0] is None or tuple(parsed[0]) != layout.LOAD_FIELDS:
            self.problem(where, f"{where}: the header row is not {', '.join(layout.LOAD_FIELDS)}")
        body = parsed[1:]
        if len(body) != len(rows):
            self.problem(
                where,
                f"{where} has {len(body)} rows, the schedule {len(rows)}: one row per exhibit",
            )
        for row, fields in zip(rows, body, strict=False):
            if fields is None or len(fields) != len(layout.LOAD_FIELDS):
                continue
            load = dict(zip(layout.LOAD_FIELDS, fields, strict=True))
            at = f"{where} row {row.index}" + (f" ({row['reference']})" if row["reference"] else "")
            load["NATIVEPATH"] = _native_path(load["NATIVEPATH"])
            for name, column in layout.LOAD_COLUMNS.items():
                if load[name] != row[column]:
                    self.problem(
                        at,
                        f"{at}: {name} {load[name]!r}, the schedule says {row[column]!r}",
                    )
        return f"{len(body)} rows agree with the schedule"

    # -- 7. the ledger extract

    def read_events(self) -> list[CustodyEvent]:
        reader = self.need_reader()
        where = f"data/{layout.LEDGER}"
        if layout.LEDGER not in self.names:
            self.problem(where, f"{where} is missing from the bundle")
            raise _NotChecked(f"{where} is missing")
        events: list[CustodyEvent] = []
        try:
            with reader.open(layout.LEDGER) as stream:
                n = 0
                while line := stream.readline(LINE_LIMIT + 1):
                    n += 1
                    if len(line) > LINE_LIMIT:
                        self.problem(
                            f"{where} line {n}",
                            f"{where} line {n} is longer than {LINE_LIMIT} bytes: not read further",
                        )
                        break
                    if not line.strip():
                        continue
                    event = _event(line)
                    if isinstance(event, str):
                        self.problem(f"{where} line {n}", f"{where} line {n}: {event}")
                    else:
                        events.append(event)
        except Exception as exc:
            self.problem(where, f"{where} cannot be read: {_say(exc)}")
        return events

    def check_ledger(self) -> str:
        where = f"data/{layout.LEDGER}"
        events = self.read_events()
        self.events = events
        case = self.info.case_id
        if case is None:
            raise _NotChecked("bag-info.txt gives no usable Bundle-Case")
        if not events:
            self.problem(where, f"{where} holds no custody event")
            return ""
        try:
            result = ledger.verify(case, events)
        except Exception as exc:
            self.problem(where, f"{where}: the chain cannot be recomputed: {_say(exc)}")
        else:
            for f in result.findings:
                self.problem(
                    f"{where} {f.where}",
                    f"{where}: the chain breaks at event {result.facts.first_bad} ({f.kind}): "
                    f"{f.where} {f.message}",
                )
        last = events[-1]
        head = self.info.head
        if head is not None and head != (last.seq, last.hash):
            self.problem(
                "bag-info.txt",
                f"Ledger-Head is {head[0]} {head[1]}, the extract ends with event "
                f"{last.seq} {last.hash}",
            )
        if self.info.created_text is not None:
            at = ledger.format_time(last.at)
            if self.info.created_text != at:
                self.problem(
                    "bag-info.txt",
                    f"Bundle-Created is {self.info.created_text}, the extract's last event "
                    f"({last.seq}) is of {at}",
                )
        self.exhibit_events(events)
        return f"{len(events)} events, chain verified from event 1 to {last.seq}"

    def exhibit_events(self, events: list[CustodyEvent]) -> None:
        """Each scheduled exhibit was ingested, and its INGESTED and RECEIVED
        events record the schedule's size and hashes."""
        if self.rows is None:
            return
        where = f"data/{layout.LEDGER}"
        for row in self.rows:
            ref = row["reference"]
            if not ref:
                continue
            ingested = False
            for e in events:
                if e.exhibit != ref or e.action not in (Action.INGESTED, Action.RECEIVED):
                    continue
                ingested = ingested or e.action == Action.INGESTED
                scheduled = {
                    "size": row.integer("size"),
                    "blake3": row["blake3"],
                    "sha256": row["sha256"],
                }
                differ = [
                    f"{k} {e.details.get(k)!r} (the schedule: {v!r})"
                    for k, v in scheduled.items()
                    if e.details.get(k) != v
                ]
                if differ:
                    self.problem(
                        f"{where} event {e.seq}",
                        f"{where} event {e.seq} ({e.action} {ref}) records "
                        f"{', '.join(differ)}; see {row.where()}",
                    )
            if not ingested:
                self.problem(row.where(), f"{row.where()}: {where} has no INGESTED event of {ref}")

    # -- 8. keys.json

    def ledger_keys(self, report: bool = False) -> list[tuple[CustodyEvent, str, str]]:
        """(event, team, public key) of each TEAM_KEY_REGISTERED event, in order."""
        found = []
        for e in self.events or []:
            if e.action != Action.TEAM_KEY_REGISTERED:
                continue
            team, key = e.details.get("for_team"), e.details.get("public_key")
            if isinstance(team, str) and isinstance(key, str):
                found.append((e, team, key))
            elif report:
                self.problem(
                    f"data/{layout.LEDGER} event {e.seq}",
                    f"data/{layout.LEDGER} event {e.seq} (TEAM_KEY_REGISTERED) has no "
                    "'for_team' and 'public_key' strings",
                )
        return found

    def check_keys(self) -> str:
        where = f"data/{layout.KEYS}"
        if self.events is None:
            raise _NotChecked(f"data/{layout.LEDGER} cannot be used")
        recorded: dict[str, str] = {}
        for _, team, key in self.ledger_keys(report=True):
            recorded[team] = key
        text = self.text(layout.KEYS)
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            self.problem(where, f"{where} is not JSON: {exc}")
            return ""
        if not isinstance(document, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in document.items()
        ):
            self.problem(where, f"{where} is not an object of team codes to public keys (hex)")
            return ""
        for team in sorted(set(recorded) | set(document)):
            at = f"{where} team {team}"
            if team not in document:
                self.problem(
                    at, f"{where} has no key of team {team}, which the ledger extract records"
                )
            elif team not in recorded:
                self.problem(at, f"{where} has a key of team {team}; the ledger extract has none")
            elif document[team] != recorded[team]:
                self.problem(
                    at,
                    f"{where}: the key of team {team} is {document[team]}, the ledger extract "
                    f"records {recorded[team]}",
                )
        return f"{len(document)} team key(s), as the ledger extract records them"

    # -- 9. receipts

    def check_receipts(self) -> str:
        if self.events is None:
            raise _NotChecked(f"data/{layout.LEDGER} cannot be used")
        events = self.events
        where = f"data/{layout.LEDGER}"
        transfers: dict[str, list[CustodyEvent]] = {}
        for e in events:
            if e.action != Action.RECEIVED:
                continue
            transfer = e.details.get("transfer")
            if not isinstance(transfer, str) or not transfer:
                self.problem(
                    f"{where} event {e.seq}",
                    f"{where} event {e.seq} (RECEIVED) names no transfer",
                )
                continue
            transfers.setdefault(transfer, []).append(e)
        keys = self.ledger_keys()
        verified = 0
        for transfer, received in transfers.items():
            received.sort(key=lambda e: e.seq)
            seqs = ", ".join(str(e.seq) for e in received)
            at = f"transfer {transfer} ({where} event{'s' if len(received) > 1 else ''} {seqs})"
            try:
                receipt = receipts.from_events(received)
            except Exception as exc:
                self.problem(at, f"the receipt of {at} cannot be rebuilt: {_say(exc)}")
                continue
            if receipt is None:  # not reached: every event is a RECEIVED one
                continue
            team = receipt.payload.get("team")
            key = None
            for e, key_team, public_key in keys:
                if key_team == team and e.seq < received[0].seq:
                    key = public_key
            check = receipts.verify(receipt, key)
            if check.ok:
                verified += 1
                continue
            message = f"{at}: {'; '.join(f.message for f in check.findings)}"
            if received[-1].seq == events[-1].seq:
                message += (
                    "; the extract ends with this receipt's events, so it may be cut short: "
                    "a bundle must hold every RECEIVED event of a receipt"
                )
            self.problem(at, message)
        if not transfers:
            return "no receipts in the ledger extract"
        return f"{verified} of {len(transfers)} receipts verified with the teams' registered keys"

    # -- 10. the root digest

    def check_root_digest(self) -> str:
        info = self.info
        bundle, case, team = info.bundle_id, info.case_id, info.team
        prosecutor, created, root, head = info.prosecutor, info.created, info.root_digest, info.head
        if (
            bundle is None
            or case is None
            or team is None
            or prosecutor is None
            or created is None
            or root is None
            or head is None
        ):
            raise _NotChecked("bag-info.txt lacks a field of the root digest (see bag-info)")
        rows = self.need_rows()
        exhibits = []
        for row in rows:
            size = row.integer("size")
            if size is None:
                raise _NotChecked(f"{row.where()} has no usable size")
            exhibits.append((row["reference"], size, row["blake3"], row["sha256"]))
        identity = layout.Identity(bundle, case, team, prosecutor, created)
        computed = layout.root_digest(identity, head, exhibits)
        if computed != root:
            self.problem(
                "bag-info.txt",
                f"Bundle-Root-Digest is {root}, but bag-info, the ledger head and "
                f"the schedule give {computed}",
            )
        cover = self.page_text(1)
        where = f"data/{layout.PDF} page 1"
        if cover is None:
            self.problem(where, f"{where} (the cover) cannot be read to find the root digest")
        else:
            for label, value in (("root digest", root), ("bundle id", bundle)):
                if value not in cover:
                    self.problem(where, f"{where} (the cover) does not show the {label} {value}")
        return f"{computed} recomputed and shown on the cover"


# ---------------------------------------------------------------- helpers


def _say(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


def _time(text: str) -> datetime | None:
    if not _TIME.fullmatch(text):
        return None
    try:
        at = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return at if ledger.format_time(at) == text else None


def _no_float(text: str) -> Any:
    raise ValueError(f"{text} is not an integer: the ledger encodes no floats")


def _event(line: bytes) -> CustodyEvent | str:
    """One line of the extract as a custody event, or why it is not one."""
    try:
        record = json.loads(line, parse_float=_no_float, parse_constant=_no_float)
    except (ValueError, RecursionError) as exc:
        return f"not a JSON object: {_say(exc)}"
    if not isinstance(record, dict):
        return "not a JSON object"
    if set(record) != _EVENT_KEYS:
        return f"the fields are not {', '.join(sorted(_EVENT_KEYS))}"
    strings = ("case", "action", "actor", "team", "at", "prev_hash", "hash")
    if bad := [k for k in strings if not isinstance(record[k], str)]:
        return f"{', '.join(bad)} must be strings"
    seq = record["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        return f"seq {seq!r} is not a positive integer"
    exhibit = record["exhibit"]
    if exhibit is not None and not isinstance(exhibit, str):
        return "exhibit must be a string or null"
    if not isinstance(record["details"], dict):
        return "details must be an object"
    at = _time(record["at"])
    if at is None:
        return f"at {record['at']!r} is not a UTC time like 2026-03-14T09:30:00.000000Z"
    return CustodyEvent(
        case_id=record["case"],
        seq=seq,
        exhibit=exhibit,
        action=record["action"],
        actor=record["actor"],
        team=record["team"],
        at=at,
        details=record["details"],
        prev_hash=record["prev_hash"],
        hash=record["hash"],
    )


def _native_path(value: str) -> str:
    value = value.replace("\\", "/")
    return value[2:] if value.startswith("./") else value
