"""Text from evidence, shown to a person: every control character visible.

A seized file's name, a title or a description can hold anything: a name such
as ``ESC[2J`` clears the investigator's terminal, a carriage return or a line
break writes a false line into the output, a right-to-left override shows
``invoice‮fdp.exe`` as ``invoiceexe.pdf``. Every human output (the CLI, the
web pages, ``bundle.pdf``) shows such characters as escapes (``\\x1b``,
``\\n``, ``\\u202e``) through ``visible``; the ledger, the JSON outputs and
the bundle's data files keep the value exactly as it was given.
"""

from __future__ import annotations

import unicodedata

# Characters that change how the rest is shown: the bidirectional formatting
# controls, and the line and paragraph separators.
_FORMATTING = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def hidden(char: str) -> bool:
    """Whether ``char`` would act on the display instead of being shown."""
    return (
        char in _FORMATTING
        or unicodedata.category(char) in {"Cc", "Zl", "Zp"}
        or "\ud800" <= char <= "\udfff"  # a lone surrogate (a name's undecodable byte)
    )


def visible(text: str, keep: str = "") -> str:
    """``text`` with every control character shown as an escape, but those in
    ``keep`` (a page keeps its descriptions' line breaks: ``keep="\\n"``)."""
    if text.isprintable():  # the common case, in C
        return text
    return "".join(_escape(c) if c not in keep and hidden(c) else c for c in text)
