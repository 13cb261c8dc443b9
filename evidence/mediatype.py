"""Media type from the content, never from the file name: a renamed
``holiday.jpg`` that is really a PDF is recorded as ``application/pdf``.

Binary formats are recognised by their magic numbers (the ``filetype``
package); otherwise the first bytes decide between UTF-8 text (with CSV and
JSON recognised by their shape) and ``application/octet-stream``.
"""

from __future__ import annotations

import csv
import json

import filetype

OCTET_STREAM = "application/octet-stream"


def _text(head: bytes) -> str | None:
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 3:
            return None
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return text if text and printable / len(text) > 0.98 else None


def _looks_json(text: str) -> bool:
    stripped = text.strip()
    if not stripped or stripped[0] not in "{[":
        return False
    try:
        json.loads(stripped)
    except json.JSONDecodeError as exc:
        return exc.pos >= len(stripped) - 1  # only cut off by the sample's end
    return True


def _looks_csv(text: str) -> bool:
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    if len(lines) < 2:
        return False
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t")
    except csv.Error:
        return False
    widths = {len(row) for row in csv.reader(lines[:-1], dialect)}
    return len(widths) == 1 and widths.pop() > 1


def sniff(head: bytes) -> str:
    """The media type of content whose first bytes are ``head``."""
    if not head:
        return "application/x-empty"
    kind = filetype.guess(head)
    if kind is not None:
        return str(kind.mime)
    text = _text(head)
    if text is None:
        return OCTET_STREAM
    if _looks_json(text):
        return "application/json"
    if _looks_csv(text):
        return "text/csv"
    return "text/plain"
