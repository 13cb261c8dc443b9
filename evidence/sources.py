"""Finding the files to ingest and reading each one exactly once.

Directories are walked in a stable (sorted) order, without recursion (a tree
of any depth is walked in bounded stack). Symbolic links are never followed,
neither as arguments nor inside directories: a link could point anywhere on
the investigator's machine, so it is reported as skipped and the
investigator ingests its target explicitly if it is evidence. Other
non-regular files (sockets, devices, pipes) are skipped the same way.

Nothing found is dropped without a word. Every entry that is not ingested is
a ``Skipped`` with its reason: by policy (the above, or a path named twice),
or ``unreadable`` (a folder that cannot be listed, an entry whose attributes
cannot be read, a path over the system's limit). Each name of a file with
several hard links is ingested: its second name is a duplicate of the first
content, recorded as such.

A name that is not valid UTF-8 is evidence too: it is kept reversibly, its
undecodable bytes shown as ``\\xNN`` in the readable name (``readable``)
and the name's raw bytes kept in hex (``SourceFile.raw_name``).

A file that changes or vanishes while it is read is caught by comparing its
identity (device, inode, size, modification time) before and after the read,
and the number of bytes read with the size seen before. A file that cannot be
opened or read (permission, I/O error) raises ``SourceUnreadable``.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from evidence.errors import InputError, SourceChanged, SourceUnreadable


def readable(name: str) -> str:
    """``name`` as text that can be printed, stored and sent as UTF-8: the
    bytes of a name that are not UTF-8 (which Python keeps as surrogate
    escapes) become ``\\xNN``."""
    return _decoded(name)[0]


def _decoded(name: str) -> tuple[str, str]:
    """``readable(name)``, and the name's bytes in hex when they are not UTF-8
    (else ``""``)."""
    if name.isascii():  # the common case: no bytes to escape
        return name, ""
    raw = os.fsencode(name)
    try:
        return raw.decode("utf-8"), ""
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), raw.hex()


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # absolute path on this machine (as the OS gives it: may hold surrogate escapes)
    relative: str  # the name the exhibit keeps: relative to the argument's parent, '/'-separated
    size: int
    mtime_ns: int
    inode: int
    device: int
    ctime_ns: int = 0
    raw_name: str = ""  # the relative name's bytes in hex, when they are not UTF-8

    @property
    def shown(self) -> str:
        """The path, for a message."""
        return readable(self.path)

    @property
    def identity(self) -> str:
        """What says the file is still the one read before, without reading it:
        size, modification and change times, inode ("" for an upload). The
        change time moves with any write, rename or ``touch``, and no tool
        can set it back."""
        if not self.path:
            return ""
        return f"{self.size}:{self.mtime_ns}:{self.ctime_ns}:{self.inode}"

    @classmethod
    def uploaded(cls, name: str, size: int) -> SourceFile:
        """A file that arrives as a stream (an upload), not from this machine's
        disk: it keeps its plain file name and has no path, inode or mtime."""
        base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
        if not base or base in {".", ".."} or len(base) > 255 or not base.isprintable():
            raise InputError(
                f"upload name {name!r} is not a usable file name: send the file's own name"
            )
        if size < 0:
            raise InputError(f"upload {base}: the size {size} is not valid")
        return cls("", base, size, 0, 0, 0)

    @classmethod
    def from_stat(cls, path: str, relative: str, st: os.stat_result) -> SourceFile:
        shown, raw = _decoded(relative)
        return cls(
            path, shown, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns, raw
        )


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry that was not ingested, and why: by policy, or ``unreadable``
    (evidence may be left behind: the command does not end as done)."""

    path: str  # readable
    reason: str
    unreadable: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "reason": self.reason, "unreadable": self.unreadable}


@dataclass(frozen=True, slots=True)
class Discovery:
    files: list[SourceFile]
    skipped: list[Skipped]


def _skip_reason(st: os.stat_result) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return "symbolic link, not followed: ingest its target explicitly if it is evidence"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (device, socket or pipe)"
    return None


def _why(exc: OSError) -> str:
    """An ``OSError`` met while walking, in words, with what to do."""
    if exc.errno == errno.ENAMETOOLONG:
        return (
            "the path is longer than this system allows: copy the folder to a shorter "
            "path and ingest it from there"
        )
    if isinstance(exc, PermissionError):
        return "permission denied: give the account that runs jitev read access, then run again"
    return f"{exc.strerror or exc}: check the disk, then run again"


class _Walk:
    """One ``discover``: what was found, each path once, each relative name once."""

    def __init__(self) -> None:
        self.files: list[SourceFile] = []
        self.skipped: list[Skipped] = []
        self.relatives: dict[str, str] = {}  # relative name -> the path it came from
        self.paths: dict[str, str] = {}  # path -> its relative name

    def unreadable(self, path: str, exc: OSError) -> None:
        self.skipped.append(Skipped(readable(path), _why(exc), unreadable=True))

    def entry(self, path: str, relative: str, st: os.stat_result) -> None:
        if (why := _skip_reason(st)) is not None:
            self.skipped.append(Skipped(readable(path), why))
            return
        if path in self.paths:
            self.skipped.append(
                Skipped(readable(path), f"named twice: ingested once, as {self.paths[path]}")
            )
            return
        source = SourceFile.from_stat(path, relative, st)
        if source.relative in self.relatives:
            raise InputError(
                f"{readable(path)} and {readable(self.relatives[source.relative])} would both be "
                f"recorded as {source.relative!r}: ingest them in separate commands or "
                "from distinct folders"
            )
        self.relatives[source.relative] = path
        self.paths[path] = source.relative
        self.files.append(source)

    def folder(self, top: str) -> None:
        """Every entry under ``top``, in sorted order, depth first, without recursion."""
        base = os.path.dirname(top)
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as listing:
                    entries = sorted(listing, key=lambda e: e.name)
            except OSError as exc:
                self.unreadable(folder, exc)
                continue
            below = []
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    self.unreadable(entry.path, exc)
                    continue
                if stat.S_ISDIR(st.st_mode):
                    below.append(entry.path)
                else:
                    self.entry(entry.path, os.path.relpath(entry.path, base), st)
            stack.extend(reversed(below))


def discover(arguments: list[str]) -> Discovery:
    """Files under the given paths, each once, in sorted order; every other
    entry met is a ``Skipped``."""
    if not arguments:
        raise InputError("no files given: name the files or folders to ingest")
    walk = _Walk()
    for argument in arguments:
        top = os.path.abspath(argument)
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            raise InputError(
                f"{readable(argument)}: no such file or folder; check the path"
            ) from None
        except PermissionError:
            raise InputError(
                f"{readable(argument)}: permission denied; check the file's access rights"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            walk.folder(top)
        else:
            walk.entry(top, os.path.basename(top), st)
    return Discovery(walk.files, walk.skipped)


class _Reading:
    """A file's bytes, with a failed read (an I/O error on a failing disk)
    raised as ``SourceUnreadable``: never taken for the store's error."""

    def __init__(self, handle: BinaryIO, shown: str) -> None:
        self._handle = handle
        self._shown = shown

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._handle.read(size)
        except OSError as exc:
            raise _unreadable(self._shown, exc, "while it was read") from exc


def _unreadable(shown: str, exc: OSError, when: str) -> SourceUnreadable:
    return SourceUnreadable(
        f"{shown} could not be read {when} ({exc.strerror or exc}); nothing was recorded "
        "for it. Give the account that runs jitev read access, or image the failing disk, "
        "then run the same command again"
    )


@contextmanager
def open_once(source: SourceFile) -> Iterator[BinaryIO]:
    """Open ``source`` without following links and check, on exit, that what
    was read is what was discovered: same file, same size, same mtime, read to
    the end. Raises ``SourceChanged`` otherwise, and ``SourceUnreadable`` for
    a file that cannot be opened or read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    shown = source.shown
    try:
        fd = os.open(source.path, flags)
    except FileNotFoundError:
        raise SourceChanged(
            f"{shown} vanished before it was read; nothing was recorded for it. "
            "Find out why, then run the same command again"
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW: a link now stands where the file was
            raise SourceChanged(
                f"{shown} was replaced by a symbolic link before it was read; nothing was "
                "recorded for it. Find out why, then run the same command again"
            ) from None
        raise _unreadable(shown, exc, "when it was opened") from None
    with os.fdopen(fd, "rb", buffering=0) as handle:
        before = os.fstat(fd)
        _check_same(source, before, "before it was read")
        yield _Reading(handle, shown)  # type: ignore[misc]
        read_to = handle.tell()
        after = os.fstat(fd)
    _check_same(source, after, "while it was read")
    try:
        on_disk = os.lstat(source.path)
    except FileNotFoundError:
        raise SourceChanged(
            f"{shown} vanished while it was read; no exhibit was recorded for it. "
            "Find out why, then run the same command again"
        ) from None
    _check_same(source, on_disk, "while it was read")
    if read_to != source.size:
        raise SourceChanged(
            f"{shown}: read {read_to} bytes but the file had {source.size}; "
            "no exhibit was recorded for it. Run the same command again once it is stable"
        )


def _check_same(source: SourceFile, st: os.stat_result, when: str) -> None:
    if (st.st_dev, st.st_ino) != (source.device, source.inode):
        raise SourceChanged(
            f"{source.shown} was replaced by another file {when}; no exhibit was recorded "
            "for it. Run the same command again once the file is stable"
        )
    if st.st_size != source.size or st.st_mtime_ns != source.mtime_ns:
        raise SourceChanged(
            f"{source.shown} changed {when} (size {source.size} -> {st.st_size}); no exhibit "
            "was recorded for it. Run the same command again once the file is stable"
        )
