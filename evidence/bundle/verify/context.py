"""What the checks of one verification share: the source, the findings so far,
and the bundle's parts, each read and parsed once, when a check first asks
for it. ``found`` records a finding of the check that runs."""

from __future__ import annotations

import re
from contextlib import ExitStack
from functools import cached_property
from types import TracebackType
from typing import TypeVar

from evidence.bundle.bag import PayloadFile
from evidence.bundle.bagcheck import (
    BagReader,
    BagReport,
    NotAZip,
    Source,
    say,
    source_label,
    verify_zip,
)
from evidence.bundle.quiet import quiet
from evidence.bundle.verify.parts import (
    TEXT_LIMIT,
    BagInfo,
    LogParts,
    Parsed,
    PdfDoc,
    Row,
    Unusable,
    open_pdf,
    parse_info,
    parse_schedule,
    read_events,
    read_log,
    read_text,
)
from evidence.findings import Finding
from evidence.models import CustodyEvent

T = TypeVar("T")

_WHITESPACE = re.compile(r"\s+")


class NotChecked(Exception):
    """A check cannot run: what it needs is missing or unusable (said elsewhere)."""


class Context:
    def __init__(self, source: Source) -> None:
        self.source = source
        self.label = source_label(source)
        self.check = ""  # the check that runs: the one its findings name
        self.findings: list[Finding] = []
        self._texts: dict[int, str] = {}
        self._closing = ExitStack()

    def __enter__(self) -> Context:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._closing.close()

    def found(self, where: str, message: str, kind: str = "") -> None:
        """A finding of the running check; ``message`` does not repeat ``where``."""
        self.findings.append(Finding(self.check, where, message, kind))

    def report(self, part: Parsed[T]) -> T:
        """For the check that owns ``part``: its issues are findings; its value,
        or "not checked" with the reason when it cannot be used."""
        for where, message, kind in part.issues:
            self.found(where, message, kind)
        if part.value is None:
            raise NotChecked(part.why)
        return part.value

    def need(self, part: Parsed[T]) -> T:
        """For a check that uses ``part``: its value, or "not checked"."""
        if part.value is None:
            raise NotChecked(f"{part.name} cannot be used")
        return part.value

    # -- the parts

    @cached_property
    def bag(self) -> BagReport:
        return verify_zip(self.source)

    @cached_property
    def opened(self) -> tuple[BagReader | None, str]:
        """The ZIP opened for reading, or why it cannot be."""
        try:
            reader = BagReader(self.source)
        except NotAZip as exc:
            return None, exc.why
        except Exception as exc:
            return None, say(exc)
        self._closing.callback(reader.close)
        return reader, ""

    @property
    def reader(self) -> BagReader | None:
        return self.opened[0]

    def need_reader(self) -> BagReader:
        if self.reader is None:
            raise NotChecked("the ZIP cannot be read")
        return self.reader

    @cached_property
    def names(self) -> frozenset[str]:
        """The payload paths (relative to ``data/``)."""
        return frozenset(self.reader.names()) if self.reader else frozenset()

    @cached_property
    def natives(self) -> list[str]:
        return sorted(n for n in self.names if n.startswith("natives/"))

    @cached_property
    def files(self) -> dict[str, PayloadFile]:
        """The digests the bag check computed, by payload path."""
        return {f.path: f for f in self.bag.facts.files}

    @cached_property
    def info(self) -> Parsed[BagInfo]:
        if self.reader is None:
            return Parsed("bag-info.txt", None, why="the ZIP cannot be read")
        return parse_info(self.bag.facts.info, self.bag.facts.bag)

    @property
    def known(self) -> BagInfo:
        """The bag-info fields that can be used."""
        return self.info.value or BagInfo()

    @cached_property
    def schedule(self) -> Parsed[list[Row]]:
        return parse_schedule(self.reader, self.names)

    @cached_property
    def events(self) -> Parsed[list[CustodyEvent]]:
        return read_events(self.reader, self.names)

    @cached_property
    def log(self) -> Parsed[LogParts]:
        return read_log(self.reader, self.names)

    @cached_property
    def pdf(self) -> Parsed[PdfDoc]:
        pdf = open_pdf(self.reader, self.names)
        if pdf.value is not None:
            self._closing.callback(pdf.value.spool.close)
        return pdf

    # -- reading

    def text(self, path: str, limit: int = TEXT_LIMIT) -> str:
        """A payload file's text of at most ``limit`` bytes, or "not checked"
        after reporting why it cannot be had (for the one check that reads it)."""
        try:
            return read_text(self.need_reader(), self.names, path, limit)
        except Unusable as exc:
            self.found(*exc.issue)
            raise NotChecked(exc.why) from None

    def native(self, path: str, where: str) -> PayloadFile | None:
        """The digests the bag check computed for ``data/<path>``; ``None``
        after reporting, at ``where``, why there are none."""
        found = self.files.get(path)
        if found is None:
            if path in self.names:
                message = f"data/{path} cannot be read from the ZIP (see the bag check)"
                self.found(where, message, "unreadable")
            else:
                self.found(where, f"data/{path} is not in the bundle", "missing")
        return found

    def page_text(self, page: int) -> str | None:
        """The text of bundle page ``page`` (from 1), whitespace removed;
        ``None`` if it cannot be extracted."""
        pdf = self.pdf.value
        if pdf is None or not 1 <= page <= pdf.pages:
            return None
        if page not in self._texts:
            try:
                with quiet("pypdf"):
                    text = pdf.reader.pages[page - 1].extract_text()
            except Exception:
                return None
            self._texts[page] = _WHITESPACE.sub("", text)
        return self._texts[page]
