"""Pages of a long list: a bounded number of rows, in a stable order, with
the total and opaque cursors to the next and previous pages.

A cursor is keyset pagination's key: the sort key of the row a page ended
(or began) on, and the direction, as base64url JSON. It is opaque to
clients and not a secret: a forged cursor only moves the window, because
every query still applies the caller's visibility. A cursor that does not
decode is an ``InputError`` naming ``cursor``."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from evidence.errors import InputError

T = TypeVar("T")
U = TypeVar("U")

Key = tuple[Any, ...]  # a row's sort key: JSON scalars
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page starts: after ``key`` (forward) or before it (backward)."""

    key: Key
    forward: bool = True

    def encode(self) -> str:
        raw = json.dumps([list(self.key), self.forward], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None) -> Cursor | None:
        if not text:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            key, forward = json.loads(raw)
            if not isinstance(key, list) or not isinstance(forward, bool):
                raise ValueError(text)
            if not all(isinstance(k, str | int | float | None) for k in key):
                raise ValueError(text)
        except (ValueError, TypeError, binascii.Error) as exc:
            raise InputError(
                "the cursor is not one this server gave: start again from the first page",
                field="cursor",
            ) from exc
        return cls(tuple(key), forward)


def check_key(cursor: Cursor | None, *kinds: type) -> Cursor | None:
    """``cursor``, if its key has the shape of this list's keys (one value of
    each of ``kinds``, an ``int`` a count or sequence number below 2**31):
    else an ``InputError`` naming ``cursor``, never a comparison that fails."""
    if cursor is None:
        return None
    fits = len(cursor.key) == len(kinds) and all(
        type(k) is kind and (kind is not int or 0 <= cast(int, k) < 2**31)
        for k, kind in zip(cursor.key, kinds, strict=False)
    )
    if not fits:
        raise InputError(
            "the cursor is not one of this list: start again from the first page", field="cursor"
        )
    return cursor


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"a page holds 1 to {MAX_LIMIT} rows, not {limit}", field="limit")
    return limit


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page: its rows, how many match in all, and the cursors around it
    (``None`` at either end)."""

    items: tuple[T, ...]
    total: int
    limit: int
    next: str | None = None
    prev: str | None = None

    def map(self, fn: Callable[[T], U]) -> Page[U]:
        return Page(tuple(fn(i) for i in self.items), self.total, self.limit, self.next, self.prev)

    def as_dict(self, item: Callable[[T], Any]) -> dict[str, Any]:
        return {
            "items": [item(i) for i in self.items],
            "total": self.total,
            "limit": self.limit,
            "next": self.next,
            "prev": self.prev,
        }


def window(
    rows: Sequence[T],
    key: Callable[[T], Key],
    cursor: Cursor | None,
    limit: int,
    total: int,
) -> Page[T]:
    """The page of a keyset query's answer. ``rows`` are up to ``limit + 1``
    rows fetched after (forward) or before (backward, in reverse order) the
    cursor's key; the extra row only says there is more that way."""
    forward = cursor is None or cursor.forward
    more = len(rows) > limit
    shown = list(rows[:limit])
    if not forward:
        shown.reverse()
    if not shown:
        return Page((), total, limit)
    after_more = more if forward else cursor is not None
    before_more = (cursor is not None) if forward else more
    return Page(
        tuple(shown),
        total,
        limit,
        next=Cursor(key(shown[-1]), True).encode() if after_more else None,
        prev=Cursor(key(shown[0]), False).encode() if before_more else None,
    )


def of_list(
    rows: Sequence[T], key: Callable[[T], Key], cursor: Cursor | None, limit: int
) -> Page[T]:
    """A page of a list already in memory and in ``key`` order (short lists:
    a person's jobs, a case's bundles): the same cursors as a keyset query."""
    if cursor is None:
        chosen = list(rows[: limit + 1])
    elif cursor.forward:
        chosen = [r for r in rows if key(r) > cursor.key][: limit + 1]
    else:
        chosen = [r for r in rows if key(r) < cursor.key][::-1][: limit + 1]
    return window(chosen, key, cursor, limit, len(rows))
