"""Reading a bag ZIP written by ``evidence.bundle.bag`` without extracting it
(``BagReader``), and its offline verification (``verify_zip``).

A ZIP given by its path is opened only when it is a regular file (after
following symbolic links) of at most ``ZIP_MAX_BYTES``, checked before a
byte is read (``open_zip``): a folder, a device (``/dev/zero``), a pipe
(which would wait for a writer) or a missing path is ``NotABundleFile``.

``verify_zip`` trusts nothing in the ZIP and never raises on it: unsafe names
(zip slip), duplicated names, entries outside the bag folder, encrypted
entries, sizes that the archive cannot hold, and overlapping entries (ZIP
bombs) are reported and not read; so is an entry whose declared size is more
than its method can expand its compressed bytes to, or compressed by a method
other than stored or deflated (which a ZIP tool writes; jitev stores). What is
read of an entry never passes its declared size (the CRC-32 is checked at its
end), a file read whole is refused beyond its limit by its declared size
before it is read; every other member is streamed once. It
checks ``bagit.txt``, Payload-Oxum, every payload file against both manifests
(and the manifests against the files), and the tag manifests.

Each finding (check ``bag``) says where: the path relative to the bag folder
(``data/...``, ``bagit.txt``), the raw ZIP name of an entry that is not read,
or the source of a ZIP that cannot be opened; and what, by ``kind``::

    zip | unsafe name | outside | encrypted | duplicate | size | bagit
    bag-info | oxum | manifest | missing | extra | checksum | unreadable
"""

from __future__ import annotations

import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, cast

from evidence.bundle.bag import MANIFEST_ALGORITHMS, PayloadFile, unsafe
from evidence.errors import InputError, IntegrityError, NotFound
from evidence.findings import Finding, Report, hidden
from evidence.hashing import MultiHash
from evidence.models import Digests
from evidence.sizes import STREAM_CHUNK as CHUNK
from evidence.sizes import GiB, KiB, MiB

CHECK = "bag"  # the check named by the findings
HEX_LENGTH = {  # manifests verify_zip can check (blake3: not BagIt's, read if present)
    **{"md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128},
    "blake3": 64,
}
TAG_LIMIT = 64 * MiB  # a tag file larger than this is not read
ZIP_MAX_BYTES = 5 * 1024 * GiB  # 5 TiB, an S3 object's limit: no stored bundle is larger
DEFLATE_MAX_RATIO = 1032  # deflate expands a byte to at most this many (RFC 1951's longest match)
READ_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})  # what a ZIP tool writes
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

Source = str | os.PathLike[str] | IO[bytes]


@dataclass(frozen=True, slots=True)
class BagFacts:
    """What ``verify_zip`` read: the bag folder's name ("" when the ZIP cannot
    be opened), its counts, bag-info.txt in order, and the digests of every
    payload file it could read whole (``files``, left out of ``as_dict``)."""

    bag: str
    payload_files: int = 0
    payload_bytes: int = 0
    tag_files: int = 0
    info: tuple[tuple[str, str], ...] = ()
    files: tuple[PayloadFile, ...] = hidden()


BagReport = Report[BagFacts]


class NotAZip(InputError):
    """``source`` cannot be opened as a ZIP file; ``why`` says so without naming it."""

    def __init__(self, message: str, *, why: str = "") -> None:
        super().__init__(message)
        self.why = why or message


class NotABundleFile(NotAZip):
    """``path`` is not a regular file of at most ``ZIP_MAX_BYTES`` (missing, a
    folder, a device, a pipe, a socket, too large): refused before a byte of
    it is read. An input mistake, not a finding about a bundle."""


def open_zip(path: str | os.PathLike[str], what: str = "the bundle") -> IO[bytes]:
    """``path`` opened for reading, when it is a regular file (a symbolic link
    is followed: its target is what counts) of at most ``ZIP_MAX_BYTES``.
    Anything else is ``NotABundleFile``, naming ``what`` and ``path``, before
    it is read; a device or a pipe is not even opened (opening a device can
    act, a pipe waits for a writer), and the file opened is checked again (it
    is opened without waiting, in case it changed since)."""
    name = os.fspath(path)
    shown = f"{name} (a link to {os.path.realpath(name)})" if os.path.islink(name) else name
    try:
        _check(os.stat(name), what, shown)
        return open(name, "rb", opener=lambda p, flags: _open_checked(p, flags, what, shown))
    except (FileNotFoundError, NotADirectoryError):
        why = "no such file; give the path of a bundle ZIP file"
    except PermissionError as exc:
        why = f"cannot be opened: {exc.strerror}; check its permissions"
    except OSError as exc:
        why = f"cannot be opened: {exc.strerror or exc}; give the path of a bundle ZIP file"
    raise NotABundleFile(f"{what} {shown}: {why}", why=why)


def _open_checked(path: str, flags: int, what: str, shown: str) -> int:
    fd = os.open(path, flags | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        _check(os.fstat(fd), what, shown)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def _check(facts: os.stat_result, what: str, shown: str) -> None:
    """``NotABundleFile`` unless ``facts`` are a regular file's, of at most ``ZIP_MAX_BYTES``."""
    if not stat.S_ISREG(facts.st_mode):
        kind = next((k for test, k in _KINDS if test(facts.st_mode)), "not a file")
        why = f"{kind}, not a regular file; give the path of a bundle ZIP file"
    elif facts.st_size > ZIP_MAX_BYTES:
        why = (
            f"holds {facts.st_size:,} bytes, more than the {ZIP_MAX_BYTES:,} of the largest "
            "bundle; give the path of a bundle ZIP file"
        )
    else:
        return
    raise NotABundleFile(f"{what} {shown}: {why}", why=why)


class _Unreadable(Exception):
    """A member's bytes cannot be had; the message does not name the member."""


class _TooLarge(_Unreadable):
    pass


def source_label(source: Source) -> str:
    """How findings name ``source``: its path, or the name of the file given."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


def say(exc: BaseException) -> str:
    """An exception in one line, for a finding (an OS error without its path:
    the finding names the place)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 300 else text[:300] + "..."


# ---------------------------------------------------------------- reading


class BagReader:
    """Random access to the members of a bag ZIP, without extracting it.

    Raises ``NotAZip`` (an ``InputError``) when ``source`` is not a readable
    ZIP (``NotABundleFile`` when its path is not a regular file). Entries that are unsafe, outside the bag folder, encrypted,
    duplicated (all copies are kept, ``open`` refuses them), or whose sizes the
    archive cannot hold are ``findings``; the unsafe and impossible ones are
    left out.
    """

    def __init__(self, source: Source) -> None:
        self.source = source_label(source)
        self._owned: IO[bytes] | None = None
        if isinstance(source, (str, os.PathLike)):
            self._owned = open_zip(source, "the ZIP")  # closed by close()
        try:
            fp = self._owned or cast(IO[bytes], source)
            archive_size = fp.seek(0, os.SEEK_END)
            zf = zipfile.ZipFile(fp)
            infos = zf.infolist()
        except _ZIP_ERRORS as exc:
            self._release()
            why = f"not a readable ZIP file: {say(exc)}"
            raise NotAZip(f"{self.source} is {why}", why=why) from exc
        self._zip = zf
        self.name = ""
        self._members: dict[str, list[zipfile.ZipInfo]] = {}
        self.findings = tuple(
            self._index(infos, _impossible(infos, archive_size, self._zip.start_dir))
        )

    def _index(self, infos: list[zipfile.ZipInfo], bad: dict[int, str]) -> Iterator[Finding]:
        for info in infos:
            raw = info.orig_filename
            folder = raw.endswith("/")
            why = unsafe(raw[:-1] if folder else raw)
            if why:
                yield Finding(CHECK, raw, f"ZIP entry not read: {why}", "unsafe name")
                continue
            top, _, rel = raw.partition("/")
            self.name = self.name or top
            if top != self.name or not rel:
                yield Finding(
                    CHECK, raw, f"ZIP entry outside the bag folder {self.name}/", "outside"
                )
                continue
            if folder:
                continue
            if info.flag_bits & 0x1:
                yield Finding(CHECK, rel, "encrypted: not read", "encrypted")
                continue
            if id(info) in bad:
                yield Finding(CHECK, rel, f"not read: {bad[id(info)]}", "size")
                continue
            copies = self._members.setdefault(rel, [])
            copies.append(info)
            if len(copies) == 2:
                message = "in the ZIP more than once: tools differ on which copy they extract"
                yield Finding(CHECK, rel, message, "duplicate")

    def __enter__(self) -> BagReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()
        self._release()

    def _release(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def names(self) -> list[str]:
        """Payload paths (relative to ``data/``), sorted."""
        return sorted(n[5:] for n in self._members if n.startswith("data/"))

    def tag_names(self) -> list[str]:
        """The other members (``bagit.txt``, manifests, ...), relative to the bag folder."""
        return sorted(n for n in self._members if not n.startswith("data/"))

    def copies(self, rel: str) -> tuple[zipfile.ZipInfo, ...]:
        """The entries of member ``rel`` (relative to the bag folder): none,
        one, or several when its name is duplicated."""
        return tuple(self._members.get(rel, ()))

    def open_entry(self, entry: zipfile.ZipInfo) -> IO[bytes]:
        """One entry's bytes as a stream (reads raise ``zipfile.BadZipFile``
        when they do not match the ZIP's CRC-32)."""
        return self._zip.open(entry)

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
        return self.open_entry(self._member(f"data/{path}"))

    def chunks(self, path: str) -> Iterator[bytes]:
        rel = f"data/{path}"
        try:
            yield from _chunks(self, self._member(rel))
        except _Unreadable as exc:
            raise IntegrityError(f"{rel} cannot be read from the ZIP: {exc}") from exc

    def read(self, path: str, limit: int = TAG_LIMIT) -> bytes:
        """A payload file's bytes, when it holds at most ``limit`` of them."""
        rel = f"data/{path}"
        try:
            return _read(self, self._member(rel), limit)
        except _TooLarge as exc:
            raise InputError(f"{rel} {exc}") from None
        except _Unreadable as exc:
            raise IntegrityError(f"{rel} cannot be read from the ZIP: {exc}") from exc


def _impossible(infos: Sequence[zipfile.ZipInfo], archive: int, directory: int) -> dict[int, str]:
    """Entries whose declared sizes the archive cannot hold, or their method
    cannot expand to (a ZIP bomb), compressed by a method that is not read, or
    whose data runs into the next entry (overlapping entries are how ZIP
    bombs multiply)."""
    bad: dict[int, str] = {}  # id(info) -> why
    ordered = sorted(infos, key=lambda i: i.header_offset)
    for n, info in enumerate(ordered):
        end = ordered[n + 1].header_offset if n + 1 < len(ordered) else directory
        method = info.compress_type
        if info.compress_size > archive:
            bad[id(info)] = f"it declares {info.compress_size} bytes, the ZIP has {archive}"
        elif method not in READ_METHODS:
            bad[id(info)] = (
                f"compressed by method {method}: only stored or deflated entries are read"
            )
        elif method == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            bad[id(info)] = f"it declares {info.file_size} bytes but stores {info.compress_size}"
        elif info.file_size > DEFLATE_MAX_RATIO * info.compress_size + KiB:
            bad[id(info)] = (
                f"it declares {info.file_size:,} bytes from {info.compress_size:,} deflated, "
                "more than deflate expands to (a ZIP bomb)"
            )
        elif info.header_offset + 30 + info.compress_size > end:
            bad[id(info)] = "its data overlaps the next entry (a ZIP bomb or a damaged ZIP)"
    return bad


def _chunks(reader: BagReader, entry: zipfile.ZipInfo) -> Iterator[bytes]:
    try:
        with reader.open_entry(entry) as stream:
            while chunk := stream.read(CHUNK):
                yield chunk
    except _ZIP_ERRORS as exc:
        raise _Unreadable(str(exc)) from exc


def _read(reader: BagReader, entry: zipfile.ZipInfo, limit: int) -> bytes:
    if entry.file_size > limit:
        raise _TooLarge(f"holds {entry.file_size} bytes, more than the {limit} read whole")
    data = bytearray()
    for chunk in _chunks(reader, entry):
        data += chunk
        if len(data) > limit:
            raise _TooLarge(f"holds more than the {limit} bytes read whole")
    return bytes(data)


# ---------------------------------------------------------------- verifying


def verify_zip(source: Source) -> BagReport:
    """Check a bag ZIP offline: bagit.txt, Payload-Oxum, every payload file
    against both manifests (and the manifests against the files), the tag
    manifests. Collects every finding; never raises on what the ZIP holds."""
    label = source_label(source)
    try:
        reader = BagReader(source)
    except NotAZip as exc:
        finding = Finding(CHECK, label, exc.why, "zip")
        return Report(f"bag ? ({label})", BagFacts(""), (finding,), summary=finding.text())
    with reader:
        facts, findings = _Check(reader).run()
    subject = f"bag {facts.bag or '?'} ({label})"
    if findings:
        summary = f"{len(findings)} finding{'s' if len(findings) > 1 else ''}"
    else:
        summary = (
            f"{facts.payload_files} payload files, {facts.payload_bytes:,} bytes: both "
            "manifests and the tag manifests verified"
        )
    return Report(subject, facts, tuple(findings), summary=summary)


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _decode_path(path: str) -> str:
    """RFC 8493 §2.1.3: CR, LF and % are percent-encoded in manifests."""
    codes = {"0a": "\n", "0d": "\r", "25": "%"}
    return re.sub(r"%(0[AaDd]|25)", lambda m: codes[m[1].lower()], path)


Listed = dict[str, dict[str, str]]  # algorithm -> {path: hex} of one kind of manifest


class _Check:
    """One verification: every finding is collected, in the order found."""

    def __init__(self, reader: BagReader) -> None:
        self.reader = reader
        self.findings = list(reader.findings)
        self.tags = set(reader.tag_names())

    def add(self, rel: str, kind: str, message: str) -> None:
        self.findings.append(Finding(CHECK, rel, message, kind))

    def text(self, rel: str, limit: int = TAG_LIMIT) -> str | None:
        """A tag file's text, or ``None`` after reporting why it cannot be had."""
        copies = self.reader.copies(rel)
        if not copies:
            self.add(rel, "missing", "missing from the bag")
            return None
        try:
            data = _read(self.reader, copies[0], limit)
            if data.startswith(b"\xef\xbb\xbf"):
                self.add(rel, "bagit", "starts with a byte-order mark, which BagIt forbids")
                data = data[3:]
            return data.decode("utf-8")
        except (_Unreadable, UnicodeDecodeError) as exc:
            self.add(rel, "unreadable", f"cannot be read as UTF-8 text: {exc}")
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
                self.add(rel, kind, f"line {n} is not 'Label: value': {line[:80]!r}")
        return out

    def manifests(self, prefix: str) -> Listed:
        """Every ``<prefix>-<algorithm>.txt``, parsed; the two of MANIFEST_ALGORITHMS required."""
        listed: Listed = {}
        found = {m[1] for t in self.tags if (m := re.fullmatch(rf"{prefix}-([a-z0-9]+)\.txt", t))}
        for algorithm in sorted(set(MANIFEST_ALGORITHMS) | found):
            rel = f"{prefix}-{algorithm}.txt"
            if algorithm not in found:
                self.add(rel, "missing", "missing from the bag")
            elif algorithm not in HEX_LENGTH:
                self.add(rel, "manifest", "unknown algorithm, it cannot be checked")
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
                self.add(rel, "manifest", f"line {n} is not '<{algorithm}>  <path>'")
            elif unsafe(path) or path.startswith("data/") != payload or "tagmanifest-" in path:
                where = "a payload file in data/" if payload else "a tag file"
                self.add(rel, "manifest", f"line {n}: {path!r} is not {where}")
            elif path in entries:
                self.add(rel, "manifest", f"line {n} lists {path} again")
            else:
                entries[path] = m[1].lower()
        return entries

    def check(
        self, rel: str, entry: zipfile.ZipInfo, prefix: str, listed: Listed
    ) -> Digests | None:
        """Stream one entry through every listed algorithm and compare."""
        hasher = MultiHash(("sha512", *listed))
        try:
            for chunk in _chunks(self.reader, entry):
                hasher.update(chunk)
        except _Unreadable as exc:
            self.add(rel, "unreadable", f"cannot be read from the ZIP: {exc}")
            return None
        d = hasher.digests()
        found = {"sha256": d.sha256, "blake3": d.blake3, **d.declared}
        for algorithm, entries in listed.items():
            if (want := entries.get(rel)) is not None and found[algorithm] != want:
                message = f"{algorithm.upper()} is {found[algorithm]}"
                self.add(rel, "checksum", f"{message}, {prefix}-{algorithm}.txt says {want}")
        return d

    def complete(self, present: Iterable[str], prefix: str, listed: Listed) -> None:
        """Every member listed by every manifest, every listed path present."""
        present = set(present)
        for rel in sorted(present):
            if absent := [f"{prefix}-{a}.txt" for a, e in listed.items() if rel not in e]:
                self.add(rel, "extra", f"in the ZIP but not in {', '.join(absent)}")
        missing: dict[str, list[str]] = {}
        for algorithm, entries in listed.items():
            for rel in entries.keys() - present:
                missing.setdefault(rel, []).append(f"{prefix}-{algorithm}.txt")
        for rel, where in sorted(missing.items()):
            self.add(rel, "missing", f"listed in {', '.join(where)} but not in the ZIP")

    def bagit_txt(self) -> None:
        fields = self.fields("bagit.txt", "bagit", limit=4096)
        if fields is None:
            return
        labels, values = [label for label, _ in fields], dict(fields)
        if labels != ["BagIt-Version", "Tag-File-Character-Encoding"]:
            message = (
                "must hold BagIt-Version and Tag-File-Character-Encoding, in that order, "
                f"not {labels}"
            )
            self.add("bagit.txt", "bagit", message)
        elif values["BagIt-Version"] not in ("0.97", "1.0"):
            message = f"BagIt-Version is not 1.0 but {values['BagIt-Version']!r}"
            self.add("bagit.txt", "bagit", message)
        elif values["Tag-File-Character-Encoding"].upper() != "UTF-8":
            self.add("bagit.txt", "bagit", "Tag-File-Character-Encoding is not UTF-8")

    def oxum(self, info: list[tuple[str, str]], octets: int, count: int) -> None:
        oxums = [value for label, value in info if label.lower() == "payload-oxum"]
        m = re.fullmatch(r"(\d+)\.(\d+)", oxums[0]) if len(oxums) == 1 else None
        if not m:
            message = f"no single Payload-Oxum <octets>.<files> but {oxums}"
            self.add("bag-info.txt", "oxum", message)
        elif (int(m[1]), int(m[2])) != (octets, count):
            message = (
                f"Payload-Oxum says {m[1]} bytes in {m[2]} files, the ZIP holds {octets} "
                f"bytes in {count} files"
            )
            self.add("bag-info.txt", "oxum", message)

    def run(self) -> tuple[BagFacts, list[Finding]]:
        reader = self.reader
        self.bagit_txt()
        if "data" in self.tags:
            self.add("data", "bagit", "a file: the payload belongs in the folder data/")
        info = self.fields("bag-info.txt", "bag-info")
        listed = self.manifests("manifest")
        names = reader.names()
        self.complete((f"data/{p}" for p in names), "manifest", listed)
        files: list[PayloadFile] = []
        for path in names:
            copies = reader.copies(f"data/{path}")
            for copy in copies:  # a duplicated name: every copy must match
                d = self.check(f"data/{path}", copy, "manifest", listed)
                if d is not None and copy is copies[0]:
                    files.append(
                        PayloadFile(path, d.size, d.sha256, d.declared["sha512"], d.blake3)
                    )
        octets = sum(reader.copies(f"data/{p}")[0].file_size for p in names)
        if info is not None:
            self.oxum(info, octets, len(names))
        tag_listed = self.manifests("tagmanifest")
        tags = sorted(t for t in self.tags if not t.startswith("tagmanifest-") and t != "data")
        self.complete(tags, "tagmanifest", tag_listed)
        for rel in tags:
            self.check(rel, reader.copies(rel)[0], "tagmanifest", tag_listed)
        facts = BagFacts(
            bag=reader.name,
            payload_files=len(names),
            payload_bytes=octets,
            tag_files=len(self.tags),
            info=tuple(info or ()),
            files=tuple(files),
        )
        return facts, self.findings
