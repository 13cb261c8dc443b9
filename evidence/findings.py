"""One way to say "this was checked, and this is what is wrong with it".

Every check jitev runs (a case's chain, its catalog rows and stored objects, a
bag, a disclosure bundle, a receipt, the access log) answers with a
``Report``: what was checked (``subject``), the facts it established (a small
frozen dataclass of its own: the chain head, counts, the bag's name...), the
named checks it ran in order (the bundle verifier's ten), and every
``Finding``. A report is ``ok`` when it has no finding and every check passed.
The CLI and the web render any report the same way, and ``as_dict`` is its
JSON form (``--json`` and the API).

A finding says where (``where``: the event, row, file or exhibit) and what
(``message``), separately: the message does not repeat the place, and
``text()`` joins them. ``kind`` is a short machine-readable category
(``missing``, ``edited``, ``checksum``, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

F = TypeVar("F")

HIDDEN = {"json": False}  # field metadata: a fact kept out of ``as_dict`` (bulky, internal)


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # the check that found it: "chain", "exhibits", "schedule", ...
    where: str  # the event, row, file or exhibit: "event 7", "data/schedule.csv row 2"
    message: str  # what is wrong, without repeating ``where``
    kind: str = ""  # a category: "missing", "edited", "checksum", ...

    def text(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message

    def as_dict(self) -> dict[str, str]:
        return {
            "check": self.check,
            "where": self.where,
            "kind": self.kind,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Check:
    """One named step of a multi-step verification, as it ended."""

    name: str
    ok: bool
    detail: str  # what was checked, or why it failed or was not checked


@dataclass(frozen=True, slots=True)
class Report(Generic[F]):
    subject: str  # what was checked: "case DANUBE", "bundle DANUBE-FR-B-0001.zip"
    facts: F  # what the check established (a frozen dataclass), or None
    findings: tuple[Finding, ...] = ()
    checks: tuple[Check, ...] = ()
    summary: str = ""  # one line for people: what was verified, or why it failed
    notes: tuple[str, ...] = ()  # worth knowing, not failures (events not yet cosigned...)

    @property
    def ok(self) -> bool:
        return not self.findings and all(c.ok for c in self.checks)

    def text(self) -> str:
        """One line: the subject and the summary."""
        return f"{self.subject}: {self.summary}"

    def findings_of(self, check: str) -> list[Finding]:
        return [f for f in self.findings if f.check == check]

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "ok": self.ok,
            **facts_dict(self.facts),
            "summary": self.summary,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "findings": [f.as_dict() for f in self.findings],
            "notes": list(self.notes),
        }


def facts_dict(facts: object) -> dict[str, Any]:
    """A facts dataclass as JSON values: tuples become lists; fields marked
    ``HIDDEN`` are left out."""
    if facts is None:
        return {}
    if not dataclasses.is_dataclass(facts) or isinstance(facts, type):
        raise TypeError(f"report facts must be a dataclass instance, not {type(facts).__name__}")
    return {
        f.name: _json(getattr(facts, f.name))
        for f in dataclasses.fields(facts)
        if f.metadata.get("json", True)
    }


def _json(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_json(v) for v in value]
    return value


def hidden() -> Any:
    """A facts field left out of ``as_dict`` (declare with a default)."""
    return field(default=(), metadata=HIDDEN)
