"""Finding the files to ingest and reading each one exactly once.

Directories are walked recursively in a stable (sorted) order. Symbolic links
are never followed, neither as arguments nor inside directories: a link could
point anywhere on the investigator's machine, so it is reported as skipped and
the investigator ingests its target explicitly if it is evidence. Other
non-regular files (sockets, devices) are skipped the same way.

A file that changes or vanishes while it is read is caught by comparing its
identity (device, inode, size, modification time) before and after the read,
and the number of bytes read with the size seen before.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from evidence.errors import InputError, SourceChanged


@dataclass(frozen=True, slots=True)
class SourceFile:
    path: str  # absolute path on this machine
    relative: str  # the name the exhibit keeps: relative to the argument's parent, '/'-separated
    size: int
    mtime_ns: int
    inode: int
    device: int
    ctime_ns: int = 0

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
    def from_stat(cls, path: Path, relative: str, st: os.stat_result) -> SourceFile:
        return cls(
            str(path), relative, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev, st.st_ctime_ns
        )


@dataclass(frozen=True, slots=True)
class Discovery:
    files: list[SourceFile]
    skipped: list[tuple[str, str]]  # (path, why)


def _skip_reason(st: os.stat_result) -> str | None:
    if stat.S_ISLNK(st.st_mode):
        return "symbolic link, not followed: ingest its target explicitly if it is evidence"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file (device, socket or pipe)"
    return None


def discover(arguments: list[str]) -> Discovery:
    """Files under the given paths, each once, in sorted order."""
    files: list[SourceFile] = []
    skipped: list[tuple[str, str]] = []
    seen: set[tuple[int, int]] = set()
    relatives: dict[str, str] = {}
    if not arguments:
        raise InputError("no files given: name the files or folders to ingest")

    def add(path: Path, relative: str, st: os.stat_result) -> None:
        if (st.st_dev, st.st_ino) in seen:
            return
        if relative in relatives:
            raise InputError(
                f"{path} and {relatives[relative]} would both be recorded as {relative!r}: "
                "ingest them in separate commands or from distinct folders"
            )
        seen.add((st.st_dev, st.st_ino))
        relatives[relative] = str(path)
        files.append(SourceFile.from_stat(path, relative, st))

    for argument in arguments:
        top = Path(os.path.abspath(argument))
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            raise InputError(f"{argument}: no such file or folder; check the path") from None
        except PermissionError:
            raise InputError(
                f"{argument}: permission denied; check the file's access rights"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
                dirnames.sort()
                for name in sorted(
                    filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
                ):
                    path = Path(dirpath, name)
                    entry = os.lstat(path)
                    relative = path.relative_to(top.parent).as_posix()
                    if (why := _skip_reason(entry)) is not None:
                        skipped.append((str(path), why))
                    else:
                        add(path, relative, entry)
        elif (why := _skip_reason(st)) is not None:
            skipped.append((str(top), why))
        else:
            add(top, top.name, st)
    return Discovery(files, skipped)


@contextmanager
def open_once(source: SourceFile) -> Iterator[BinaryIO]:
    """Open ``source`` without following links and check, on exit, that what
    was read is what was discovered: same file, same size, same mtime, read to
    the end. Raises ``SourceChanged`` otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(source.path, flags)
    except FileNotFoundError:
        raise SourceChanged(
            f"{source.path} vanished before it was read; nothing was recorded for it. "
            "Find out why, then run the same command again"
        ) from None
    with os.fdopen(fd, "rb", buffering=0) as handle:
        before = os.fstat(fd)
        _check_same(source, before, "before it was read")
        yield handle
        read_to = handle.tell()
        after = os.fstat(fd)
    _check_same(source, after, "while it was read")
    try:
        on_disk = os.lstat(source.path)
    except FileNotFoundError:
        raise SourceChanged(
            f"{source.path} vanished while it was read; no exhibit was recorded for it. "
            "Find out why, then run the same command again"
        ) from None
    _check_same(source, on_disk, "while it was read")
    if read_to != source.size:
        raise SourceChanged(
            f"{source.path}: read {read_to} bytes but the file had {source.size}; "
            "no exhibit was recorded for it. Run the same command again once it is stable"
        )


def _check_same(source: SourceFile, st: os.stat_result, when: str) -> None:
    if (st.st_dev, st.st_ino) != (source.device, source.inode):
        raise SourceChanged(
            f"{source.path} was replaced by another file {when}; no exhibit was recorded "
            "for it. Run the same command again once the file is stable"
        )
    if st.st_size != source.size or st.st_mtime_ns != source.mtime_ns:
        raise SourceChanged(
            f"{source.path} changed {when} (size {source.size} -> {st.st_size}); no exhibit "
            "was recorded for it. Run the same command again once the file is stable"
        )
