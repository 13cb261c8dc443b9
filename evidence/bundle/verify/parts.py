"""The parts of a bundle as the checks read them, each parsed once and
trusting nothing: bag-info (``parse_info``, a table of fields and their
rules), the schedule's rows, the ledger extract's events, ``bundle.pdf``.
Each is read within the layout's limits (``layout``'s "Limits"): the
schedule and the load file up to ``table_limit`` for the bundle's natives,
each cell of the schedule up to ``layout.CELL_MAX_CHARS``, each line of the
extract up to ``layout.EVENT_LINE_MAX_BYTES``; beyond them, a ``size`` issue.

A part is ``Parsed``: its value (``None`` when it cannot be used), the issues
found while parsing it, and why it cannot be used. The check that owns a part
reports its issues (``Context.report``); the checks that only use it say "not
checked" when it cannot be used (``Context.need``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any, Generic, TypeVar

from pypdf import PdfReader

from evidence import ledger
from evidence.bundle import layout
from evidence.bundle.bagcheck import BagReader, say
from evidence.bundle.quiet import quiet
from evidence.errors import InputError
from evidence.limits import TEXT_MAX_CHARS
from evidence.models import CASE_ID, TEAM_CODE, CustodyEvent
from evidence.sizes import MiB
from evidence.tlog import notes
from evidence.tlog.notes import Checkpoint, Note, NoteError
from evidence.tlog.policy import Policy

T = TypeVar("T")
Issue = tuple[str, str, str]  # (where, message, kind): a finding before its check is known

TEXT_LIMIT = 256 * MiB  # the checksum files and the proofs are read whole up to this
SPOOL = 64 * MiB  # bundle.pdf stays in memory up to this size, then goes to disk
INFO = "bag-info.txt"
SCHEDULE = f"data/{layout.SCHEDULE}"
LEDGER = f"data/{layout.LEDGER}"
CHECKPOINT = f"data/{layout.CHECKPOINT}"
POLICY = f"data/{layout.POLICY}"
PDF = f"data/{layout.PDF}"

_INT = re.compile(r"[0-9]{1,15}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_EVENT_KEYS = frozenset(
    ("case", "seq", "exhibit", "action", "actor", "team", "at", "details", "prev_hash", "hash")
)


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    name: str  # the part, as the checks that need it say: "data/schedule.csv"
    value: T | None  # None: the part cannot be used
    issues: tuple[Issue, ...] = ()
    why: str = ""  # why it cannot be used, as the check that owns it says


class Unusable(Exception):
    """A payload file cannot be had: ``issue`` reports it, ``why`` is the
    "not checked" detail."""

    def __init__(self, issue: Issue, why: str) -> None:
        super().__init__(why)
        self.issue = issue
        self.why = why


def read_text(reader: BagReader, names: frozenset[str], path: str, limit: int = TEXT_LIMIT) -> str:
    """A payload file's text (UTF-8, an optional BOM) of at most ``limit``
    bytes (refused by its declared size, never read past it), or ``Unusable``."""
    where = f"data/{path}"
    if path not in names:
        raise Unusable((where, "missing from the bundle", "missing"), f"{where} is missing")
    try:
        data = reader.read(path, limit)
    except InputError:  # more than limit
        issue = (where, f"larger than the {limit:,} bytes a genuine one holds: not read", "size")
        raise Unusable(issue, f"{where} cannot be read") from None
    except Exception:
        issue = (where, "cannot be read from the ZIP (see the bag check)", "unreadable")
        raise Unusable(issue, f"{where} cannot be read") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        issue = (where, f"not UTF-8 text: {exc}", "malformed")
        raise Unusable(issue, f"{where} is not UTF-8 text") from None


# ---------------------------------------------------------------- bag-info


@dataclass(frozen=True, slots=True)
class BagInfo:
    """The bag-info fields that are present once and well formed."""

    bundle_id: str | None = None
    case_id: str | None = None
    team: str | None = None
    prosecutor: str | None = None
    created: datetime | None = None
    created_text: str | None = None
    root_digest: str | None = None
    head: tuple[int, str] | None = None
    seal: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """How a bag-info value is read (``None``: it is not valid), and what is
    said of a value that is not."""

    read: Callable[[str], Any]
    invalid: str


def parse_time(text: str) -> datetime | None:
    """A ``format_time`` time (``2026-03-14T09:30:00.000000Z``), exactly."""
    if not _TIME.fullmatch(text):
        return None
    try:
        at = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return at if ledger.format_time(at) == text else None


def _head(text: str) -> tuple[int, str] | None:
    m = layout.LEDGER_HEAD.fullmatch(text)
    return (int(m[1]), m[2]) if m else None


INFO_RULES: tuple[tuple[str, Rule], ...] = (  # layout.INFO_FIELDS, in order
    (layout.INFO_BUNDLE_ID, Rule(lambda v: v, "")),  # checked against case and team below
    (layout.INFO_CASE, Rule(lambda v: v if CASE_ID.match(v) else None, "is not a case id")),
    (layout.INFO_TEAM, Rule(lambda v: v if TEAM_CODE.match(v) else None, "is not a team code")),
    (layout.INFO_PROSECUTOR, Rule(lambda v: v if v.strip() else None, "is empty")),
    (
        layout.INFO_CREATED,
        Rule(parse_time, "is not a UTC time like 2026-03-14T09:30:00.000000Z"),
    ),
    (
        layout.INFO_ROOT_DIGEST,
        Rule(lambda v: v if layout.HEX64.fullmatch(v) else None, "is not 64 lowercase hex digits"),
    ),
    (layout.INFO_LEDGER_HEAD, Rule(_head, "is not '<seq> <hash>'")),
    (layout.INFO_SEAL, Rule(_head, "is not '<seq> <seal digest>'")),
)


def _given(fields: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    """The values of each of ``INFO_FIELDS`` (labels matched in any case)."""
    found: dict[str, list[str]] = {}
    for label, value in fields:
        found.setdefault(label.lower(), []).append(value)
    return {label: found.get(label.lower(), []) for label in layout.INFO_FIELDS}


def fields_once(fields: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The bundle's bag-info fields given exactly once, as they are."""
    return {label: got[0] for label, got in _given(fields).items() if len(got) == 1}


def parse_info(fields: Sequence[tuple[str, str]], folder: str) -> Parsed[BagInfo]:
    """Each of ``INFO_RULES`` present once (labels in any case) and valid;
    the bundle id one of its case and team, and the bag ``folder``'s name."""
    issues: list[Issue] = []
    for label, got in _given(fields).items():
        if not got:
            issues.append((INFO, f"no {label}: the bundle needs exactly one", "missing"))
        elif len(got) > 1:
            message = f"{len(got)} {label} fields: the bundle needs exactly one"
            issues.append((INFO, message, "duplicate"))
    raw = fields_once(fields)
    read: dict[str, Any] = {}
    for label, rule in INFO_RULES:
        if label in raw:
            read[label] = rule.read(raw[label])
            if read[label] is None:
                issues.append((INFO, f"{label} {raw[label]!r} {rule.invalid}", "malformed"))
    info = BagInfo(
        bundle_id=read.get(layout.INFO_BUNDLE_ID),
        case_id=read.get(layout.INFO_CASE),
        team=read.get(layout.INFO_TEAM),
        prosecutor=read.get(layout.INFO_PROSECUTOR),
        created=read.get(layout.INFO_CREATED),
        created_text=raw[layout.INFO_CREATED] if read.get(layout.INFO_CREATED) else None,
        root_digest=read.get(layout.INFO_ROOT_DIGEST),
        head=read.get(layout.INFO_LEDGER_HEAD),
        seal=read.get(layout.INFO_SEAL),
    )
    bundle, case, team = info.bundle_id, info.case_id, info.team
    if bundle is not None:
        if case and team and not layout.bundle_id_pattern(case, team).fullmatch(bundle):
            message = (
                f"External-Identifier {bundle!r} is not a bundle id of case {case} and team "
                f"{team} ({case}-{team}-B-NNNN)"
            )
            issues.append((INFO, message, "mismatch"))
        if folder != bundle:
            message = f"the bag folder is {folder!r}, not the bundle id {bundle!r}"
            issues.append((INFO, f"{message} (External-Identifier)", "mismatch"))
    return Parsed(INFO, info, tuple(issues))


# ---------------------------------------------------------------- schedule.csv


@dataclass(frozen=True, slots=True)
class Row:
    """One schedule.csv row, as written, with its number in the file (from 1)."""

    index: int
    values: dict[str, str]

    def __getitem__(self, name: str) -> str:
        return self.values.get(name, "")

    def where(self, path: str = SCHEDULE) -> str:
        """``data/schedule.csv row 2 (BG-EX-0002)``: the row, in ``path``."""
        ref = self.values.get("reference", "")
        return f"{path} row {self.index}" + (f" ({ref})" if ref else "")

    def integer(self, name: str) -> int | None:
        value = self[name]
        return int(value) if _INT.fullmatch(value) else None


def table_limit(names: frozenset[str], fields: int) -> int:
    """The most a table of one row per native file (schedule.csv, load.dat)
    holds in this bundle (``layout.table_max_bytes``)."""
    natives = sum(1 for n in names if n.startswith(f"{layout.NATIVES}/"))
    return layout.table_max_bytes(fields, natives)


@contextmanager
def cell_limit() -> Iterator[None]:
    """``csv``'s field limit at ``layout.CELL_MAX_CHARS`` (it belongs to the
    process: set for a read, then put back)."""
    before = csv.field_size_limit(layout.CELL_MAX_CHARS)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def parse_schedule(reader: BagReader | None, names: frozenset[str]) -> Parsed[list[Row]]:
    """The rows under a header of ``SCHEDULE_FIELDS``, within the layout's limits."""
    if reader is None:
        return Parsed(SCHEDULE, None, why="the ZIP cannot be read")
    fields = layout.SCHEDULE_FIELDS
    try:
        text = read_text(reader, names, layout.SCHEDULE, table_limit(names, len(fields)))
    except Unusable as exc:
        return Parsed(SCHEDULE, None, (exc.issue,), exc.why)
    lines = csv.reader(io.StringIO(text, newline=""))
    try:
        with cell_limit():
            table = list(lines)
    except csv.Error as exc:
        where = f"{SCHEDULE} line {lines.line_num}"
        if not str(exc).startswith("field larger than field limit"):
            issue = (where, f"not valid CSV: {exc}", "malformed")
            return Parsed(SCHEDULE, None, (issue,), f"{SCHEDULE} is not valid CSV")
        message = (
            f"a cell holds more than {layout.CELL_MAX_CHARS:,} characters, the most a genuine "
            f"one holds (a text of {TEXT_MAX_CHARS:,}, escaped): not read"
        )
        return Parsed(SCHEDULE, None, ((where, message, "size"),), f"{SCHEDULE} cannot be read")
    if not table or tuple(table[0]) != fields:
        got = ",".join(table[0])[:200] if table else "nothing"
        issue = (SCHEDULE, f"the header is not {','.join(fields)} but {got}", "malformed")
        return Parsed(SCHEDULE, None, (issue,), f"{SCHEDULE} has no valid header")
    rows = [Row(i, dict(zip(fields, cells, strict=False))) for i, cells in enumerate(table[1:], 1)]
    issues = [
        (row.where(), f"has {len(cells)} fields, not {len(fields)}", "malformed")
        for row, cells in zip(rows, table[1:], strict=True)
        if len(cells) != len(fields)
    ]
    if not rows:
        issues.append((SCHEDULE, "lists no exhibit", "missing"))
    return Parsed(SCHEDULE, rows, tuple(issues))


# ---------------------------------------------------------------- the ledger extract


def read_events(reader: BagReader | None, names: frozenset[str]) -> Parsed[list[CustodyEvent]]:
    """The custody events of the extract, one JSON object a line; a line that
    is not one is an issue, and the others are still read."""
    if reader is None:
        return Parsed(LEDGER, None, why="the ZIP cannot be read")
    if layout.LEDGER not in names:
        issue = (LEDGER, "missing from the bundle", "missing")
        return Parsed(LEDGER, None, (issue,), f"{LEDGER} is missing")
    events: list[CustodyEvent] = []
    issues: list[Issue] = []
    limit = layout.EVENT_LINE_MAX_BYTES
    try:
        with reader.open(layout.LEDGER) as stream:
            n = 0
            while line := stream.readline(limit + 1):
                n += 1
                if len(line) > limit:
                    message = f"longer than the {limit:,} bytes of a genuine line: not read further"
                    issues.append((f"{LEDGER} line {n}", message, "size"))
                    break
                if not line.strip():
                    continue
                event = parse_event(line)
                if isinstance(event, str):
                    issues.append((f"{LEDGER} line {n}", event, "malformed"))
                else:
                    events.append(event)
    except Exception:
        issues.append((LEDGER, "cannot be read from the ZIP (see the bag check)", "unreadable"))
    return Parsed(LEDGER, events, tuple(issues))


def _no_float(text: str) -> Any:
    raise ValueError(f"{text} is not an integer: the ledger encodes no floats")


def parse_event(line: bytes) -> CustodyEvent | str:
    """One line of the extract as a custody event, or why it is not one."""
    try:
        record = json.loads(line, parse_float=_no_float, parse_constant=_no_float)
    except (ValueError, RecursionError) as exc:
        return f"not a JSON object: {say(exc)}"
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
    at = parse_time(record["at"])
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


# ---------------------------------------------------------------- the log's checkpoint


@dataclass(frozen=True, slots=True)
class LogParts:
    """``ledger/checkpoint`` and ``ledger/policy``, parsed."""

    text: str  # the checkpoint file, verbatim
    note: Note
    checkpoint: Checkpoint
    policy_text: str
    policy: Policy


def read_log(reader: BagReader | None, names: frozenset[str]) -> Parsed[LogParts]:
    """The cosigned checkpoint and the trust policy the bag carries."""
    if reader is None:
        return Parsed(CHECKPOINT, None, why="the ZIP cannot be read")
    issues: list[Issue] = []
    texts: dict[str, str] = {}
    for path in (layout.CHECKPOINT, layout.POLICY):
        try:
            texts[path] = read_text(reader, names, path)
        except Unusable as exc:
            issues.append(exc.issue)
    if len(texts) < 2:
        return Parsed(CHECKPOINT, None, tuple(issues), "the checkpoint or the policy is missing")
    try:
        note = notes.parse(texts[layout.CHECKPOINT])
        checkpoint = Checkpoint.parse(note.text)
    except NoteError as exc:
        issue = (CHECKPOINT, f"not a signed checkpoint (C2SP tlog-checkpoint): {exc}", "malformed")
        return Parsed(CHECKPOINT, None, (issue,), f"{CHECKPOINT} cannot be read")
    try:
        policy = Policy.parse(texts[layout.POLICY])
    except NoteError as exc:
        issue = (POLICY, f"not a C2SP tlog-policy: {exc}", "malformed")
        return Parsed(CHECKPOINT, None, (issue,), f"{POLICY} cannot be read")
    parts = LogParts(texts[layout.CHECKPOINT], note, checkpoint, texts[layout.POLICY], policy)
    return Parsed(CHECKPOINT, parts)


# ---------------------------------------------------------------- bundle.pdf


@dataclass(frozen=True, slots=True)
class PdfDoc:
    reader: PdfReader
    pages: int
    spool: IO[bytes]  # the PDF's bytes, open as long as the reader is used


def open_pdf(reader: BagReader | None, names: frozenset[str]) -> Parsed[PdfDoc]:
    """bundle.pdf copied out of the ZIP and opened leniently (every failure caught)."""
    if reader is None:
        return Parsed(PDF, None, why="the ZIP cannot be read")
    if layout.PDF not in names:
        return Parsed(
            PDF, None, ((PDF, "missing from the bundle", "missing"),), f"{PDF} is missing"
        )
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL)
    try:
        for chunk in reader.chunks(layout.PDF):
            spool.write(chunk)
    except Exception:
        spool.close()
        issue = (PDF, "cannot be read from the ZIP (see the bag check)", "unreadable")
        return Parsed(PDF, None, (issue,), f"{PDF} cannot be read")
    try:
        spool.seek(0)
        with quiet("pypdf"):
            pdf = PdfReader(spool, strict=False)
            if pdf.is_encrypted:
                raise ValueError("it is encrypted")
            pages = len(pdf.pages)
    except Exception as exc:
        spool.close()
        issue = (PDF, f"cannot be read as a PDF: {say(exc)}", "unreadable")
        return Parsed(PDF, None, (issue,), f"{PDF} cannot be read as a PDF")
    return Parsed(PDF, PdfDoc(pdf, pages, spool))
