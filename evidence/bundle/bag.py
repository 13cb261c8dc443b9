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

Verification (``verify_zip``) trusts nothing in the ZIP and never raises on
it: unsafe names (zip slip), duplicated names, entries outside the bag folder,
encrypted entries, sizes that the archive cannot hold, and overlapping entries
(ZIP bombs) are reported and not read; every other member is streamed once.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, Any, Protocol, cast

from evidence.errors import InputError, IntegrityError, JitevError, NotFound
from evidence.hashing import MultiHash
from evidence.models import Digests

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
MANIFEST_ALGORITHMS = ("sha256", "sha512")  # what BagWriter writes and verify_zip requires
HEX_LENGTH = {  # manifests verify_zip can check (blake3: not BagIt's, read if present)
    **{"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128},
    "blake3": 64,
}
MiB = 1024 * 1024
CHUNK = MiB  # the unit a member is streamed in or out of the ZIP
TAG_LIMIT = 64 * MiB  # a tag file larger than this is not read
FILE_MODE = 0o100644 << 16  # regular file, rw-r--r--
FOLDER_MODE = (0o040755 << 16) | 0x10  # directory, rwxr-xr-x, MS-DOS directory bit

_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)
_NOT_PORTABLE = frozenset('<>:"|?*%')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WRITER_FIELDS = {"bagging-date", "payload-oxum"}
# What zipfile and the bytes of a hostile ZIP can raise while opening or reading it.
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    RuntimeError,  # and NotImplementedError: an unknown compression method
    OverflowError,
    struct.error,
    zlib.error,
)


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


# ---------------------------------------------------------------- results


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


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a bag. ``path`` is relative to the bag folder
    (``data/...``, ``bagit.txt``), or the raw ZIP name of an unsafe entry."""

    path: str
    kind: str  # zip | unsafe name | outside | encrypted | duplicate | size | bagit
    #            bag-info | oxum | manifest | missing | extra | checksum | unreadable
    message: str


@dataclass(frozen=True, slots=True)
class BagReport:
    source: str
    bag: str
    problems: tuple[Problem, ...]
    payload_files: int = 0
    payload_bytes: int = 0
    tag_files: int = 0
    files: tuple[PayloadFile, ...] = ()  # every payload file read whole, with its digests
    info: tuple[tuple[str, str], ...] = ()  # bag-info.txt, in order

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "bag": self.bag,
            "ok": self.ok,
            "payload_files": self.payload_files,
            "payload_bytes": self.payload_bytes,
            "tag_files": self.tag_files,
            "info": [list(pair) for pair in self.info],
            "problems": [
                {"path": p.path, "kind": p.kind, "message": p.message} for p in self.problems
            ],
        }


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
                            "check the stored object (jitev ledger verify --objects)"
                        )
                    entry.write(chunk)
            d = hasher.digests()
            if expect is not None and (d.size, d.blake3, d.sha256) != expect:
                found = f"{d.size} bytes, BLAKE3 {d.blake3}, SHA-256 {d.sha256}"
                want = f"{expect[0]} bytes, BLAKE3 {expect[1]}, SHA-256 {expect[2]}"
                raise IntegrityError(
                    f"payload file {path}: read {found}, expected {want}. The bag is "
                    "abandoned: check the stored object (jitev ledger verify --objects)"
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


# ---------------------------------------------------------------- reading

Source = str | os.PathLike[str] | IO[bytes]


def _label(source: Source) -> str:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


class BagReader:
    """Random access to the members of a bag ZIP, without extracting it.

    Raises ``InputError`` when ``source`` is not a readable ZIP. Entries that
    are unsafe, outside the bag folder, encrypted, duplicated (all copies are
    kept, ``open`` refuses them), or whose sizes the archive cannot hold are
    listed in ``problems``; the unsafe and impossible ones are left out.
    """

    def __init__(self, source: Source) -> None:
        self.source = _label(source)
        self._owned: IO[bytes] | None = None
        try:
            if isinstance(source, (str, os.PathLike)):
                self._owned = open(source, "rb")  # closed by close()
            fp = self._owned or cast(IO[bytes], source)
            archive_size = fp.seek(0, os.SEEK_END)
            self._zip = zipfile.ZipFile(fp)
            infos = self._zip.infolist()
        except _ZIP_ERRORS as exc:
            self.close()
            raise InputError(f"{self.source} is not a readable ZIP file: {exc}") from exc
        self.name = ""
        self._members: dict[str, list[zipfile.ZipInfo]] = {}
        problems: list[Problem] = []
        bad = _impossible(infos, archive_size, self._zip.start_dir)
        for info in infos:
            raw = info.orig_filename
            folder = raw.endswith("/")
            why = unsafe(raw[:-1] if folder else raw)
            if why:
                problems.append(
                    Problem(raw, "unsafe name", f"ZIP entry {raw!r} is not read: {why}")
                )
                continue
            top, _, rel = raw.partition("/")
            self.name = self.name or top
            if top != self.name or not rel:
                problems.append(
                    Problem(
                        raw, "outside", f"ZIP entry {raw!r} is outside the bag folder {self.name}/"
                    )
                )
                continue
            if folder:
                continue
            if info.flag_bits & 0x1:
                problems.append(Problem(rel, "encrypted", f"{rel} is encrypted and is not read"))
                continue
            if id(info) in bad:
                problems.append(Problem(rel, "size", f"{rel} is not read: {bad[id(info)]}"))
                continue
            copies = self._members.setdefault(rel, [])
            copies.append(info)
            if len(copies) == 2:
                problems.append(
                    Problem(
                        rel,
                        "duplicate",
                        f"{rel} is in the ZIP more than once: tools differ on "
                        "which copy they extract",
                    )
                )
        self.problems = tuple(problems)

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if hasattr(self, "_zip"):
            self._zip.close()
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def names(self) -> list[str]:
        """Payload paths (relative to ``data/``), sorted."""
        return sorted(n[5:] for n in self._members if n.startswith("data/"))

    def tag_names(self) -> list[str]:
        """The other members (``bagit.txt``, manifests, ...), relative to the bag folder."""
        return sorted(n for n in self._members if not n.startswith("data/"))

    def size(self, path: str) -> int:
        return self._member(f"data/{path}").file_size

    def _member(self, rel: str) -> zipfile.ZipInfo:
        copies = self._members.get(rel)
        if not copies:
            raise NotFound(f"{rel} is not in bag {self.source}")
        if len(copies) > 1:
            raise IntegrityError(f"{rel} is in bag {self.source} more than once: it is ambiguous")
        return copies[0]

    def open(self, path: str) -> IO[bytes]:
        """A payload file's bytes as a stream. Its reads raise
        ``zipfile.BadZipFile`` when they do not match the ZIP's CRC-32;
        ``chunks`` and ``read`` turn that into ``IntegrityError``."""
        return self._zip.open(self._member(f"data/{path}"))

    def chunks(self, path: str) -> Iterator[bytes]:
        yield from _chunks(self._zip, self._member(f"data/{path}"), f"data/{path}")

    def read(self, path: str, limit: int = TAG_LIMIT) -> bytes:
        """A payload file's bytes, when it holds at most ``limit`` of them."""
        return _read(self._zip, self._member(f"data/{path}"), f"data/{path}", limit)


def _impossible(infos: Sequence[zipfile.ZipInfo], archive: int, directory: int) -> dict[int, str]:
    """Entries whose declared sizes the archive cannot hold, or whose data runs
    into the next entry (overlapping entries are how ZIP bombs multiply)."""
    bad: dict[int, str] = {}  # id(info) -> why
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for n, info in enumerate(ordered):
        end = ordered[n + 1].header_offset if n + 1 < len(ordered) else directory
        if info.compress_size > archive:
            bad[id(info)] = f"it declares {info.compress_size} bytes, the ZIP has {archive}"
        elif info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            bad[id(info)] = f"it declares {info.file_size} bytes but stores {info.compress_size}"
        elif info.header_offset + 30 + info.compress_size > end:
            bad[id(info)] = "its data overlaps the next entry (a ZIP bomb or a damaged ZIP)"
    return bad


def _chunks(zf: zipfile.ZipFile, info: zipfile.ZipInfo, rel: str) -> Iterator[bytes]:
    try:
        with zf.open(info) as stream:
            while chunk := stream.read(CHUNK):
                yield chunk
    except _ZIP_ERRORS as exc:
        raise IntegrityError(f"{rel} cannot be read from the ZIP: {exc}") from exc


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, rel: str, limit: int) -> bytes:
    if info.file_size > limit:
        raise InputError(f"{rel} holds {info.file_size} bytes, more than the {limit} read whole")
    data = bytearray()
    for chunk in _chunks(zf, info, rel):
        data += chunk
        if len(data) > limit:
            raise InputError(f"{rel} holds more than the {limit} bytes read whole")
    return bytes(data)


# ---------------------------------------------------------------- verifying


def verify_zip(source: Source) -> BagReport:
    """Check a bag ZIP offline: bagit.txt, Payload-Oxum, every payload file
    against both manifests (and the manifests against the files), the tag
    manifests. Collects every problem; never raises on what the ZIP holds."""
    try:
        reader = BagReader(source)
    except JitevError as exc:
        return BagReport(_label(source), "", (Problem(_label(source), "zip", str(exc)),))
    with reader:
        return _Check(reader).run()


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _decode_path(path: str) -> str:
    """RFC 8493 §2.1.3: CR, LF and % are percent-encoded in manifests."""
    codes = {"0a": "\n", "0d": "\r", "25": "%"}
    return re.sub(r"%(0[AaDd]|25)", lambda m: codes[m[1].lower()], path)


Listed = dict[str, dict[str, str]]  # algorithm -> {path: hex} of one kind of manifest


class _Check:
    """One verification: every problem is collected, in the order found."""

    def __init__(self, reader: BagReader) -> None:
        self.reader = reader
        self.problems = list(reader.problems)
        self.tags = set(reader.tag_names())

    def add(self, path: str, kind: str, message: str) -> None:
        self.problems.append(Problem(path, kind, message))

    def text(self, rel: str, limit: int = TAG_LIMIT) -> str | None:
        """A tag file's text, or ``None`` after reporting why it cannot be had."""
        copies = self.reader._members.get(rel)
        if not copies:
            self.add(rel, "missing", f"{rel} is missing from the bag")
            return None
        try:
            data = _read(self.reader._zip, copies[0], rel, limit)
            if data.startswith(b"\xef\xbb\xbf"):
                self.add(rel, "bagit", f"{rel} starts with a byte-order mark, which BagIt forbids")
                data = data[3:]
            return data.decode("utf-8")
        except (JitevError, UnicodeDecodeError) as exc:
            self.add(rel, "unreadable", f"{rel} cannot be read as UTF-8 text: {exc}")
            return None

    def fields(self, rel: str, kind: str, limit: int = TAG_LIMIT) -> list[tuple[str, str]] | None:
        """``Label: value`` lines; a line starting with a space or tab continues the value."""
        text = self.text(rel, limit)
        if text is None:
            return None
        out: list[tuple[str, str]] = []
        for n, line in enumerate(_lines(text), 1):
            if line[:1] in (" ", "\t") and line.strip() and out:
                out[-1] = (out[-1][0], f"{out[-1][1]} {line.strip()}")
            elif ":" in line:
                label, _, value = line.partition(":")
                out.append((label.strip(), value.strip()))
            elif line.strip():
                self.add(rel, kind, f"{rel} line {n} is not 'Label: value': {line[:80]!r}")
        return out

    def manifests(self, prefix: str) -> Listed:
        """Every ``<prefix>-<algorithm>.txt``, parsed; the two of MANIFEST_ALGORITHMS required."""
        listed: Listed = {}
        found = {m[1] for t in self.tags if (m := re.fullmatch(rf"{prefix}-([a-z0-9]+)\.txt", t))}
        for algorithm in sorted(set(MANIFEST_ALGORITHMS) | found):
            rel = f"{prefix}-{algorithm}.txt"
            if algorithm not in found:
                self.add(rel, "missing", f"{rel} is missing from the bag")
            elif algorithm not in HEX_LENGTH:
                self.add(rel, "manifest", f"{rel}: unknown algorithm, it cannot be checked")
            elif (text := self.text(rel)) is not None:
                listed[algorithm] = self.entries(rel, text, algorithm, payload=prefix == "manifest")
        return listed

    def entries(self, rel: str, text: str, algorithm: str, payload: bool) -> dict[str, str]:
        entries: dict[str, str] = {}
        for n, line in enumerate(_lines(text), 1):
            m = re.fullmatch(r"([0-9A-Fa-f]+)[ \t]+(.+)", line)
            path = _decode_path(m[2]) if m else ""
            if not line:
                continue
            if not m or len(m[1]) != HEX_LENGTH[algorithm]:
                self.add(rel, "manifest", f"{rel} line {n} is not '<{algorithm}>  <path>'")
            elif unsafe(path) or path.startswith("data/") != payload or "tagmanifest-" in path:
                where = "a payload file in data/" if payload else "a tag file"
                self.add(rel, "manifest", f"{rel} line {n}: {path!r} is not {where}")
            elif path in entries:
                self.add(rel, "manifest", f"{rel} line {n} lists {path} again")
            else:
                entries[path] = m[1].lower()
        return entries

    def check(self, rel: str, info: zipfile.ZipInfo, prefix: str, listed: Listed) -> Digests | None:
        """Stream one member through every listed algorithm and compare."""
        hasher = MultiHash(("sha512", *listed))
        try:
            for chunk in _chunks(self.reader._zip, info, rel):
                hasher.update(chunk)
        except JitevError as exc:
            self.add(rel, "unreadable", str(exc))
            return None
        d = hasher.digests()
        found = {"sha256": d.sha256, "blake3": d.blake3, **d.declared}
        for algorithm, entries in listed.items():
            if (want := entries.get(rel)) is not None and found[algorithm] != want:
                message = f"{rel}: {algorithm.upper()} is {found[algorithm]}"
                self.add(rel, "checksum", f"{message}, {prefix}-{algorithm}.txt says {want}")
        return d

    def complete(self, present: Iterable[str], prefix: str, listed: Listed) -> None:
        """Every member listed by every manifest, every listed path present."""
        present = set(present)
        for rel in sorted(present):
            if absent := [f"{prefix}-{a}.txt" for a, e in listed.items() if rel not in e]:
                self.add(rel, "extra", f"{rel} is in the ZIP but not in {', '.join(absent)}")
        missing: dict[str, list[str]] = {}
        for algorithm, entries in listed.items():
            for rel in entries.keys() - present:
                missing.setdefault(rel, []).append(f"{prefix}-{algorithm}.txt")
        for rel, where in sorted(missing.items()):
            self.add(rel, "missing", f"{rel} is listed in {', '.join(where)} but not in the ZIP")

    def bagit_txt(self) -> None:
        fields = self.fields("bagit.txt", "bagit", limit=4096)
        if fields is None:
            return
        labels, values = [label for label, _ in fields], dict(fields)
        if labels != ["BagIt-Version", "Tag-File-Character-Encoding"]:
            self.add(
                "bagit.txt",
                "bagit",
                f"bagit.txt must hold BagIt-Version and "
                f"Tag-File-Character-Encoding, in that order, not {labels}",
            )
        elif values["BagIt-Version"] not in ("0.97", "1.0"):
            self.add(
                "bagit.txt",
                "bagit",
                f"bagit.txt: BagIt-Version is not 1.0 but {values['BagIt-Version']!r}",
            )
        elif values["Tag-File-Character-Encoding"].upper() != "UTF-8":
            self.add("bagit.txt", "bagit", "bagit.txt: Tag-File-Character-Encoding is not UTF-8")

    def oxum(self, info: list[tuple[str, str]], octets: int, count: int) -> None:
        oxums = [value for label, value in info if label.lower() == "payload-oxum"]
        m = re.fullmatch(r"(\d+)\.(\d+)", oxums[0]) if len(oxums) == 1 else None
        if not m:
            self.add(
                "bag-info.txt",
                "oxum",
                f"bag-info.txt: no single Payload-Oxum <octets>.<files> but {oxums}",
            )
        elif (int(m[1]), int(m[2])) != (octets, count):
            self.add(
                "bag-info.txt",
                "oxum",
                f"bag-info.txt: Payload-Oxum says {m[1]} bytes "
                f"in {m[2]} files, the ZIP holds {octets} bytes in {count} files",
            )

    def run(self) -> BagReport:
        members = self.reader._members
        self.bagit_txt()
        if "data" in self.tags:
            self.add("data", "bagit", "data is a file: the payload belongs in the folder data/")
        info = self.fields("bag-info.txt", "bag-info")
        listed = self.manifests("manifest")
        names = self.reader.names()
        self.complete((f"data/{p}" for p in names), "manifest", listed)
        files: list[PayloadFile] = []
        for path in names:
            copies = members[f"data/{path}"]
            for copy in copies:  # a duplicated name: every copy must match
                d = self.check(f"data/{path}", copy, "manifest", listed)
                if d is not None and copy is copies[0]:
                    files.append(
                        PayloadFile(path, d.size, d.sha256, d.declared["sha512"], d.blake3)
                    )
        octets = sum(members[f"data/{p}"][0].file_size for p in names)
        if info is not None:
            self.oxum(info, octets, len(names))
        tag_listed = self.manifests("tagmanifest")
        tags = sorted(t for t in self.tags if not t.startswith("tagmanifest-") and t != "data")
        self.complete(tags, "tagmanifest", tag_listed)
        for rel in tags:
            self.check(rel, members[rel][0], "tagmanifest", tag_listed)
        return BagReport(
            source=self.reader.source,
            bag=self.reader.name,
            problems=tuple(self.problems),
            payload_files=len(names),
            payload_bytes=octets,
            tag_files=len(self.tags),
            files=tuple(files),
            info=tuple(info or ()),
        )
