"""Finding exhibits among a case's hundred thousand: what a search asks
(``ExhibitFilter``), whose exhibits it may return (``ExhibitScope``, the
policy's rule as a catalog query applies it), a prosecutor's frozen choice
(``Selection``), and the catalog role that answers them (``SearchCatalog``).

Every search is in ``ORDER``: case, originating team, then exhibit number
(``BG-EX-9999`` before ``BG-EX-10000``: the reference's length, then the
reference), which is also the key of its cursors (``evidence.paging``).

A selection is **frozen**: the references that matched when the prosecutor
confirmed it are stored with it, in ``ORDER``, and a bundle built from it
discloses exactly those (less what ``disclosure.plan_bundle`` refuses), never
what happens to match the filter later. The filter is kept beside it only to
say how it was made."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import datetime, time
from typing import Any, Protocol

from evidence.errors import InputError
from evidence.manifest import parse_time
from evidence.models import Exhibit, ExhibitStatus, HandlingCode
from evidence.paging import Cursor, Key, Page

HASH_PREFIX_MIN = 4  # hex digits: shorter matches too much to be a search
TEXT_MAX = 200
SAMPLE = 20  # references shown of a selection
HEX = re.compile(r"^[0-9a-f]+$")
MEDIA_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*(/[a-z0-9!#$&^_.+-]*)?$")
ORDER = "case, team, exhibit number"


def order_key(exhibit: Exhibit) -> Key:
    """An exhibit's place in ``ORDER``: the key of the search's cursors."""
    return (exhibit.case_id, exhibit.team, len(exhibit.reference), exhibit.reference)


@dataclass(frozen=True, slots=True)
class ExhibitFilter:
    """What a search asks; every field given narrows it (``None``: any).

    ``text``: a case-insensitive substring of the reference, title or
    description; ``hash_prefix``: the first hex digits of the SHA-256 or the
    BLAKE3; ``media_type``: exact (``image/png``) or a type's prefix ending
    in ``/`` (``image/``); ``seized_from`` and ``seized_to``: the seizure
    time, both inclusive (an exhibit with no seizure time matches neither)."""

    case: str | None = None
    text: str | None = None
    hash_prefix: str | None = None
    media_type: str | None = None
    team: str | None = None
    status: str | None = None
    handling: str | None = None
    seized_from: datetime | None = None
    seized_to: datetime | None = None

    def __post_init__(self) -> None:
        if self.text is not None and len(self.text) > TEXT_MAX:
            raise InputError(f"the search text is longer than {TEXT_MAX} characters", field="q")
        h = self.hash_prefix
        if h is not None and not (HASH_PREFIX_MIN <= len(h) <= 64 and HEX.match(h)):
            raise InputError(
                f"the hash prefix {h!r} is not {HASH_PREFIX_MIN} to 64 hexadecimal digits "
                "(0-9, a-f) of a SHA-256 or BLAKE3",
                field="hash",
            )
        m = self.media_type
        if m is not None and (len(m) > 255 or not MEDIA_TYPE.match(m)):
            raise InputError(
                f"{m!r} is not a media type (image/png) or a type's prefix (image/)",
                field="media_type",
            )
        if self.status is not None and self.status not in set(ExhibitStatus):
            raise InputError(f"no status {self.status!r}: stored or quarantined", field="status")
        if self.handling is not None and self.handling not in set(HandlingCode):
            raise InputError(f"no handling code {self.handling!r}: H0 to H3", field="handling")
        if self.seized_from and self.seized_to and self.seized_from > self.seized_to:
            raise InputError(
                f"the seizure range ends ({self.seized_to.isoformat()}) before it starts "
                f"({self.seized_from.isoformat()})",
                field="seized_to",
            )

    @classmethod
    def parse(cls, **given: str | None) -> ExhibitFilter:
        """A filter from what a person typed (the API's query, a form, the
        CLI's options): blanks are left out, hex is lowercased, a media type
        too; a seizure date is ISO 8601, a bare ``seized_to`` date its whole
        day. A wrong value is an ``InputError`` naming its parameter."""
        texts = {k: v.strip() for k, v in given.items() if v is not None and v.strip()}
        unknown = set(texts) - {f.name for f in fields(cls)}
        if unknown:
            raise InputError(f"no exhibit filter {', '.join(sorted(unknown))}")
        when: dict[str, datetime] = {}
        for name in ("seized_from", "seized_to"):
            if name in texts:
                text = texts.pop(name)
                at = parse_time(text, name, name)
                if name == "seized_to" and len(text) == 10:
                    at = datetime.combine(at.date(), time.max, at.tzinfo)
                when[name] = at
        for name in ("hash_prefix", "media_type"):
            if name in texts:
                texts[name] = texts[name].lower()
        return cls(**texts, **when)  # type: ignore[arg-type]

    def in_case(self, case_id: str) -> ExhibitFilter:
        return replace(self, case=case_id)

    def as_dict(self) -> dict[str, Any]:
        """The fields given, as JSON (times in ISO 8601)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExhibitFilter:
        """``as_dict`` read back (a stored selection's filter)."""
        given: dict[str, Any] = dict(data)
        for name in ("seized_from", "seized_to"):
            if name in given:
                given[name] = datetime.fromisoformat(given[name])
        return cls(**given)


def prefix_end(prefix: str) -> str | None:
    """The smallest hex string of ``prefix``'s length above every hash that
    starts with it (``ab9f`` → ``aba0``), or ``None`` for ``ffff…``: the
    prefix search is the range ``prefix <= hash < prefix_end``, which a
    B-tree index serves on SQLite and PostgreSQL alike, whatever the
    collation (the bounds are hex digits, as the hashes are)."""
    value = int(prefix, 16) + 1
    if value >= 16 ** len(prefix):
        return None
    return f"{value:0{len(prefix)}x}"


@dataclass(frozen=True, slots=True)
class ExhibitScope:
    """Whose exhibits a search may return, from ``policy.reach``: every
    exhibit of the cases ``every`` (an auditor's view), and of the cases
    ``held`` those that ``team`` holds (it originated them, or received them
    by a completed hand-off). Nothing of any other case."""

    team: str
    every: tuple[str, ...] = ()
    held: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.every and not self.held


@dataclass(frozen=True, slots=True)
class Selection:
    """A prosecutor's choice of exhibits for a bundle, frozen when made: the
    references that matched ``filter`` in ``case_id`` then (``count`` of
    them), kept on the server; only ``person`` may use it."""

    id: str
    case_id: str
    person: str
    filter: ExhibitFilter
    created_at: datetime
    count: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "case": self.case_id,
            "person": self.person,
            "filter": self.filter.as_dict(),
            "created_at": self.created_at.isoformat(),
            "count": self.count,
        }


class SearchCatalog(Protocol):
    """Exhibit search and selections (``storage.sql.search``)."""

    def exhibit_page(
        self, scope: ExhibitScope, match: ExhibitFilter, cursor: Cursor | None, limit: int
    ) -> Page[Exhibit]:
        """A page of the exhibits in ``scope`` that ``match``, in ``ORDER``
        (keyset on ``order_key``), with how many match in all."""
        ...

    def add_selection(self, selection: Selection, scope: ExhibitScope) -> Selection:
        """Store the selection with the references of the exhibits in
        ``scope`` matching its filter now, in ``ORDER``, in one transaction;
        return it with their count."""
        ...

    def selection(self, selection_id: str) -> Selection: ...

    def selected_exhibits(self, selection_id: str, limit: int | None = None) -> list[Exhibit]:
        """The selection's exhibits (the first ``limit``), in the order frozen."""
        ...
