"""BagIt bags (RFC 8493) as deterministic, streaming ZIP files, and their
offline verification without extracting them.

A ZIP written by ``BagWriter`` for a bag named ``B`` holds, in this order::

    B/data/<path>              payload files, paths in strictly ascending UTF-8 byte order
    B/bag-info.txt             Bagging-Date: YYYY-MM-DD, Payload-Oxum: <octets>.<files>,
                               then the caller's fields, in the caller's order
    B/bagit.txt                BagIt-Version: 1.0 / Tag-File-Character-Encoding: UTF-8
    B/manifest-sha256.txt      "<hex>  data/<path>" per payload file, sorted by path
    B/manifest-sha512.txt
    B/tagmanifest-sha256.txt   the same over bag-info.txt, bagit.txt and both manifests
    B/tagmanifest-sha512.txt

(plus an empty ``B/data/`` folder entry when there is no payload file, so that
the extracted bag still has its ``data/``). Tag files are UTF-8 without a BOM,
lines end with LF. One top-level folder, because unzip tools and validators
(bagit-python) expect a bag directory: ``unzip bundle.zip && bagit.py
--validate B`` works, so does ``cd B/data && sha256sum -c checksums.sha256``.

Payload paths are relative POSIX paths in NFC, portable to Windows, macOS and
Linux: no ``..``, ``.`` or empty segment, no leading ``/``, no backslash, no
control character, none of ``< > : " | ? * %`` (``%`` would need BagIt's
percent-encoding, which some validators do not decode), no segment with a
leading or trailing space or a trailing dot, no reserved Windows device name,
no two paths that differ only in case, no file that is also a folder.

Deterministic: the same inputs written to the same kind of output give the
same bytes. Every entry is STORED (no compression, so no dependency on the
zlib version), dated ``when`` in UTC (DOS time: 2-second resolution), made by
Unix (3) with mode 0o100644, no extra field except ZIP64's, no comment.
A streamed entry of unknown size gets a ZIP64 local header (it may pass 4 GiB);
one whose size is known (``add_bytes``, ``add_stream(expect=...)``) gets one
only past 4 GiB. On a seekable output each local header is rewritten with the
CRC and sizes; on a non-seekable one (a pipe, an upload stream) they follow the
data in a data descriptor, so the bytes differ from the seekable ones. Every
reader that uses the central directory reads both (Info-ZIP unzip, 7-Zip,
libarchive, Python, Java's ``ZipFile``); a reader that streams front to back
without it (Java's ``ZipInputStream``) fails on STORED entries with data
descriptors: write bundles meant for people to a seekable file.

Reading a bag ZIP and verifying it offline: ``evidence.bundle.bagcheck``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Protocol, cast

from evidence.errors import InputError, IntegrityError, NotFound
from evidence.hashing import MultiHash

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
MANIFEST_ALGORITHMS = ("sha256", "sha512")  # what BagWriter writes and verify_zip requires
FILE_MODE = 0o100644 << 16  # regular file, rw-r--r--
FOLDER_MODE = (0o040755 << 16) | 0x10  # directory, rwxr-xr-x, MS-DOS directory bit

_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_NOT_PORTABLE = frozenset('<>:"|?*%')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WRITER_FIELDS = {"bagging-date", "payload-oxum"}

# ---------------------------------------------------------------- paths


def unsafe(name: str) -> str | None:
    """Why ``name`` (a path inside a bag) could escape the folder it is
    extracted to, or ``None`` when it cannot."""
    if not name:
        return "it is empty"
    if "\\" in name:
        return "it contains a backslash"
    if name.startswith("/"):
        return "it is absolute"
    if re.match(r"^[A-Za-z]:", name):
        return "it starts with a drive letter"
    if _CONTROL.search(name):
        return "it contains a control character (newline, NUL, ...)"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "it has an empty, '.' or '..' segment"
    return None


def _not_portable(name: str) -> str | None:
    if unicodedata.normalize("NFC", name) != name:
        return "it is not in Unicode NFC"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "it is not valid Unicode"
    if bad := sorted(_NOT_PORTABLE.intersection(name)):
        return f"it contains {' '.join(bad)}"
    for part in name.split("/"):
        if part != part.strip() or part.endswith("."):
            return f"segment {part!r} starts or ends with a space, or ends with a dot"
        if _RESERVED.match(part):
            return f"{part!r} is a reserved device name on Windows"
        if len(part.encode("utf-8")) > 255:
            return f"segment {part[:20]!r}... is longer than 255 bytes"
    return None


def check_path(path: str) -> str:
    """``path`` if it may name a payload file (relative to ``data/``), else
    ``InputError`` saying why."""
    if not isinstance(path, str):
        raise InputError(f"payload path {path!r} is not a string")
    why = unsafe(path) or _not_portable(path)
    if why:
        raise InputError(
            f"payload path {path!r}: {why}; give a relative POSIX path inside data/, "
            "e.g. natives/BG-EX-0001.pdf"
        )
    return path


def checksum_file(entries: Iterable[tuple[str, str]]) -> bytes:
    """A checksum file that ``sha256sum -c`` and ``b3sum --check`` accept, run in
    the folder that holds it: one ``<hex>  <path>\\n`` line per ``(path, hex)``
    pair, sorted by path. Paths are relative to that folder."""
    lines: dict[str, str] = {}
    for path, digest in entries:
        why = unsafe(path)
        if why:
            raise InputError(f"checksum file: path {path!r}: {why}")
        if not re.fullmatch(r"(?:[0-9a-f]{2}){16,64}", digest):
            raise InputError(
                f"checksum file: the digest of {path!r} is not lowercase hex: {digest!r}"
            )
        if path in lines:
            raise InputError(f"checksum file: {path!r} is listed twice")
        lines[path] = digest
    return "".join(f"{lines[p]}  {p}\n" for p in sorted(lines)).encode("utf-8")


# ---------------------------------------------------------------- what was written


@dataclass(frozen=True, slots=True)
class PayloadFile:
    """A payload file as written or as read back: ``path`` is relative to ``data/``."""

    path: str
    size: int
    sha256: str
    sha512: str
    blake3: str


@dataclass(frozen=True, slots=True)
class BagSummary:
    """What ``BagWriter.close`` wrote."""

    name: str
    files: tuple[PayloadFile, ...]

    @property
    def octets(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def oxum(self) -> str:
        return f"{self.octets}.{len(self.files)}"

    def file(self, path: str) -> PayloadFile:
        for f in self.files:
            if f.path == path:
                return f
        raise NotFound(f"{path!r} is not a payload file of bag {self.name}")


# ---------------------------------------------------------------- writing


class Output(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


def _check_info(info: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    fields = tuple(info)
    for label, value in fields:
        if (
            not label
            or ":" in label
            or label != label.strip()
            or _CONTROL.search(label)
            or _CONTROL.search(value)
            or value != value.strip()
        ):
            raise InputError(
                f"bag-info field {label!r}: {value!r}: a label needs no ':', and neither "
                "may have a line break, a control character or surrounding spaces"
            )
        if label.lower() in _WRITER_FIELDS:
            raise InputError(f"bag-info field {label!r} is written by the bag writer itself")
    return fields


class BagWriter:
    """Writes one bag as a ZIP to ``out`` (seekable or not), payload first.

    ``when`` (aware) is the bag's time, taken from the ledger: every entry's
    date and the Bagging-Date. ``info`` are extra bag-info.txt fields. Add
    payload files in strictly ascending path order, then ``close`` (or leave
    the ``with`` block). After any error the writer is abandoned: nothing more
    is written and ``out`` holds no valid ZIP; discard it and start again.
    """

    def __init__(
        self,
        out: Output,
        *,
        name: str,
        when: datetime,
        info: Iterable[tuple[str, str]] = (),
    ) -> None:
        why = ("it contains '/'" if "/" in name else None) or unsafe(name) or _not_portable(name)
        if why:
            raise InputError(f"bag name {name!r}: {why}; use e.g. DANUBE-FR-B-0001")
        if when.tzinfo is None:
            raise InputError("the bag's time must be timezone-aware (UTC from the ledger)")
        when = when.astimezone(UTC)
        if not 1980 <= when.year <= 2107:
            raise InputError(f"the bag's time {when.isoformat()} cannot be a ZIP date (1980-2107)")
        self.name = name
        self._when = when
        self._date_time = (when.year, when.month, when.day, when.hour, when.minute, when.second)
        self._info = _check_info(info)
        self._zip = zipfile.ZipFile(cast(IO[bytes], out), "w", zipfile.ZIP_STORED, True)
        self._files: list[PayloadFile] = []
        self._folders: set[str] = set()
        self._folded: set[str] = set()
        self._abandoned = False
        self._summary: BagSummary | None = None

    def __enter__(self) -> BagWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._abandon()

    def _entry(self, name: str, mode: int = FILE_MODE) -> zipfile.ZipInfo:
        zinfo = zipfile.ZipInfo(f"{self.name}/{name}", self._date_time)
        zinfo.compress_type = zipfile.ZIP_STORED
        zinfo.external_attr = mode
        zinfo.create_system = 3
        return zinfo

    def _abandon(self) -> None:
        self._abandoned = True
        self._zip.fp = None  # inert: closing it (even by the garbage collector) writes nothing

    def _usable(self) -> None:
        if self._abandoned:
            raise InputError(f"bag {self.name} was abandoned after an error: start it again")
        if self._summary is not None:
            raise InputError(f"bag {self.name} is already closed")

    def _accept(self, path: str) -> None:
        check_path(path)
        last = self._files[-1].path if self._files else None
        if last is not None and path <= last:
            raise InputError(
                f"payload path {path!r} comes after {last!r}: add payload files once each, "
                "in ascending order of their paths"
            )
        folded = path.casefold()
        if folded in self._folded:
            raise InputError(f"payload path {path!r} differs from another one only in case")
        if folded in self._folders:
            raise InputError(f"payload path {path!r} is already a folder of other payload files")
        parts = path.split("/")
        folders = ["/".join(parts[:i]) for i in range(1, len(parts))]
        for folder in folders:
            if folder.casefold() in self._folded:
                raise InputError(f"payload path {path!r} needs {folder!r}, a file, to be a folder")
        self._folders.update(f.casefold() for f in folders)
        self._folded.add(folded)

    def add_bytes(self, path: str, data: bytes) -> PayloadFile:
        """Add a small payload file held in memory."""
        return self._add(path, (data,), len(data), None)

    def add_stream(
        self,
        path: str,
        chunks: Iterable[bytes],
        expect: tuple[int, str, str] | None = None,
    ) -> PayloadFile:
        """Stream a payload file into the ZIP, hashing it (SHA-256, SHA-512,
        BLAKE3) on the way. With ``expect=(size, blake3, sha256)`` bytes that
        differ raise ``IntegrityError`` naming the path (as soon as there are
        too many), and the bag is abandoned."""
        return self._add(path, chunks, None, expect)

    def _add(
        self,
        path: str,
        chunks: Iterable[bytes],
        size: int | None,
        expect: tuple[int, str, str] | None,
    ) -> PayloadFile:
        self._usable()
        self._accept(path)
        zinfo = self._entry(f"data/{path}")
        if expect is not None:
            expect = (expect[0], expect[1].lower(), expect[2].lower())
            size = expect[0]
        if size is not None:
            zinfo.file_size = size  # ZIP64 only when it may pass 4 GiB
        hasher = MultiHash(("sha512",))
        try:
            with self._zip.open(zinfo, "w", force_zip64=size is None) as entry:
                for chunk in chunks:
                    hasher.update(chunk)
                    if expect is not None and hasher.size > expect[0]:
                        raise IntegrityError(
                            f"payload file {path}: more than the {expect[0]} bytes promised were "
                            "read; these are not the recorded bytes. The bag is abandoned: "
                            "verify the case's ledger with its stored objects"
                        )
                    entry.write(chunk)
            d = hasher.digests()
            if expect is not None and (d.size, d.blake3, d.sha256) != expect:
                found = f"{d.size} bytes, BLAKE3 {d.blake3}, SHA-256 {d.sha256}"
                want = f"{expect[0]} bytes, BLAKE3 {expect[1]}, SHA-256 {expect[2]}"
                raise IntegrityError(
                    f"payload file {path}: read {found}, expected {want}. The bag is "
                    "abandoned: verify the case's ledger with its stored objects"
                )
        except BaseException:
            self._abandon()
            raise
        file = PayloadFile(path, d.size, d.sha256, d.declared["sha512"], d.blake3)
        self._files.append(file)
        return file

    def close(self) -> BagSummary:
        """Write the tag files and the ZIP's central directory. Does not close ``out``."""
        if self._summary is not None:
            return self._summary
        self._usable()
        summary = BagSummary(self.name, tuple(self._files))
        info = [
            ("Bagging-Date", self._when.date().isoformat()),
            ("Payload-Oxum", summary.oxum),
            *self._info,
        ]
        tags = {
            "bag-info.txt": "".join(f"{k}: {v}\n" for k, v in info).encode("utf-8"),
            "bagit.txt": BAGIT_TXT,
        }
        for algorithm in MANIFEST_ALGORITHMS:
            tags[f"manifest-{algorithm}.txt"] = "".join(
                f"{getattr(f, algorithm)}  data/{f.path}\n" for f in summary.files
            ).encode("utf-8")
        for algorithm in MANIFEST_ALGORITHMS:
            tags[f"tagmanifest-{algorithm}.txt"] = "".join(
                f"{hashlib.new(algorithm, tags[n]).hexdigest()}  {n}\n"
                for n in sorted(tags)
                if not n.startswith("tagmanifest-")
            ).encode("utf-8")
        try:
            if not summary.files:
                self._zip.writestr(self._entry("data/", FOLDER_MODE), b"")
            for name in sorted(tags):
                self._zip.writestr(self._entry(name), tags[name])
            self._zip.close()
        except BaseException:
            self._abandon()
            raise
        self._summary = summary
        return summary
