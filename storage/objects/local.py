"""The embedded default object store: a write-once directory.

Layout, one directory per team namespace::

    root/BG/.incoming/<uuid>.part           a put in progress (removed when done)
    root/BG/objects/ab/<blake3>             the bytes, mode 0444, never rewritten
    root/BG/objects/ab/<blake3>.json        size + digests + first retention, written once
    root/BG/objects/ab/<blake3>.retention   extensions, one ISO date a line, append-only
    root/BG/objects/ab/<blake3>.hold        present while a legal hold applies

A put streams the source into ``.incoming``, syncs it, and once the digests
are known links it into place under its content address with ``os.link``
(which never replaces an existing file), so two writers of the same content
cannot clobber each other and a re-run after a crash adopts what is there.
Puts in a ``group()`` are synced together (group commit, one ``syncfs``
instead of four fsyncs a file: ``storage.objects.local_group``); a single
``put`` is a group of one.
A copy to another team is a real copy of the bytes (``copy_file_range``, never a
hard link: the receiving team gets a file of its own) into the target's
``.incoming``, placed the same way with the digests of the source's metadata.
``delete`` always refuses: nothing in this store is ever removed by jitev.
A read (``open``, a copy's source, ``download_url``) never follows a symbolic
link, and a put never adopts one: a link, a folder or a FIFO where an object
should be was put there outside jitev, and is an ``IntegrityError``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from stat import S_IMODE, S_ISREG
from typing import BinaryIO

from evidence.errors import (
    InputError,
    IntegrityError,
    NotFound,
    SourceChanged,
    StoreConfigError,
    StoreError,
    WriteOnceViolation,
)
from evidence.models import HEX64, Digests, StoredObject
from evidence.ports import Clock, DigestSource, Leftover, ObjectInfo
from evidence.sizes import STREAM_CHUNK as CHUNK
from storage.objects.local_group import PutGroup, fsync_path
from storage.objects.names import check_key, check_namespace


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.strip())


class LocalStore:
    """``ObjectStore`` over a local directory (see the module docstring)."""

    def __init__(self, root: Path, retention_days: int, clock: Clock) -> None:
        self.root = Path(root)
        self.retention_days = retention_days
        self.clock = clock
        self.description = f"local store {self.root}"
        self.put_parallel = 1  # the disk and the hashing share two cores: one at a time

    # -- paths -----------------------------------------------------------------

    def object_path(self, namespace: str, key: str) -> Path:
        check_namespace(namespace)
        check_key(key)
        return self.root / namespace / "objects" / key[:2] / key

    def _existing(self, namespace: str, key: str) -> Path:
        path = self.object_path(namespace, key)
        if not path.is_file():
            raise self._missing(namespace, key, path)
        return path

    def _missing(self, namespace: str, key: str, path: Path) -> NotFound:
        return NotFound(
            f"no object {key} in namespace {namespace} of the {self.description} "
            f"({path} does not exist): check the key and the team"
        )

    def _reader(self, namespace: str, key: str) -> BinaryIO:
        """The stored object opened for reading, never through a symbolic
        link, and only if it is a regular file: anything else there was put in
        its place outside jitev (opened without blocking, so a FIFO is refused
        too, not waited on)."""
        path = self.object_path(namespace, key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except (FileNotFoundError, NotADirectoryError):
            raise self._missing(namespace, key, path) from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise self._replaced(path, "a symbolic link (jitev never follows one)") from None
            raise StoreError(
                f"cannot read {path}: {exc.strerror}; check that jitev may read the "
                f"storage root {self.root}"
            ) from exc
        if not S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise self._replaced(path, "not a regular file")
        return os.fdopen(fd, "rb")

    @staticmethod
    def _replaced(path: Path, kind: str) -> IntegrityError:
        return IntegrityError(
            f"{path} is {kind} where the stored object should be; do not delete it, report "
            "it to the store's operator"
        )

    def now(self) -> datetime:
        now = self.clock.now()
        if now.tzinfo is None:
            raise ValueError("the clock must return an aware UTC datetime")
        return now

    # -- put -------------------------------------------------------------------

    def put(self, namespace: str, source: DigestSource, length: int | None) -> StoredObject:
        with self.group() as group:
            return group.put(namespace, source, length)

    def group(self, *, fresh: bool = False) -> PutGroup:
        """Puts made durable together (``storage.objects.local_group``); looking
        for the key is free here (``os.link`` does), so ``fresh`` changes nothing."""
        return PutGroup(self)

    def staging_name(self, namespace: str) -> Path:
        """A fresh ``.incoming/<uuid>.part`` name in the namespace (the caller removes it)."""
        incoming = self.root / namespace / ".incoming"
        try:
            incoming.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreConfigError(
                f"cannot create {incoming}: {exc.strerror}; check that the storage root "
                f"{self.root} exists and is writable by jitev"
            ) from exc
        return incoming / f"{uuid.uuid4().hex}.part"

    @contextlib.contextmanager
    def _staging(self, namespace: str) -> Iterator[Path]:
        """A fresh staging name, removed afterwards."""
        temp = self.staging_name(namespace)
        try:
            yield temp
        finally:
            temp.unlink(missing_ok=True)

    def receive(
        self, source: DigestSource, temp: Path, length: int | None, *, sync: bool
    ) -> Digests:
        """Stream ``source`` into the new file ``temp`` (fsynced if ``sync``)."""
        written = 0
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create {temp}: {exc.strerror}; check the disk") from exc
        with os.fdopen(fd, "wb") as out:
            while chunk := source.read(CHUNK):
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise StoreError(
                        f"cannot write {temp}: {exc.strerror}; free disk space under "
                        f"{self.root} and run again (nothing was stored)"
                    ) from exc
                written += len(chunk)
            out.flush()
            os.fchmod(out.fileno(), 0o444)  # read-only from here on: nothing writes it again
            if sync:
                os.fsync(out.fileno())
        if length is not None and written != length:
            raise SourceChanged(
                f"the source gave {written} bytes where {length} were expected: it changed "
                "while it was read; nothing was stored, make sure it is not being written "
                "and run again"
            )
        digests = source.digests()
        if digests.size != written:
            raise IntegrityError(
                f"{digests.size} bytes were digested but {written} written to {temp}: "
                "nothing was stored; run again"
            )
        return digests

    def place(self, namespace: str, temp: Path, digests: Digests) -> StoredObject:
        """Link the synced ``temp`` into place (or adopt what is there), with its metadata."""
        path = self.object_path(namespace, digests.blake3)
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(temp, 0o444)
        adopted = False
        try:
            os.link(temp, path)  # never replaces: EEXIST if the content is there already
        except FileExistsError:
            adopted = True
        else:
            fsync_path(path.parent, directory=True)
        if adopted:
            existing = path.lstat()  # a link there is not adopted, nor followed
            if not S_ISREG(existing.st_mode):
                raise self._replaced(path, "not a regular file")
            size = existing.st_size
            if size != digests.size:
                raise IntegrityError(
                    f"{path} already exists with {size} bytes but the content with this "
                    f"BLAKE3 has {digests.size}: the stored object is damaged; do not "
                    "delete it, report it to the auditor"
                )
        sidecar = self.sidecar(path)
        if sidecar.exists():
            meta = self._read_sidecar(sidecar)
            self._check_meta(path, meta, digests)
        else:  # a first write, or a crash between the object and its sidecar
            until = (self.now() + timedelta(days=self.retention_days)).replace(microsecond=0)
            self._write_once(
                sidecar,
                json.dumps(
                    {
                        "size": digests.size,
                        "blake3": digests.blake3,
                        "sha256": digests.sha256,
                        "retention_until": until.isoformat(),
                    },
                    sort_keys=True,
                ).encode(),
            )
        info = self.stat(namespace, digests.blake3)
        now = self.now()
        if info.retention_until is None or info.retention_until <= now:  # adopted, run out
            self.extend_retention(
                namespace,
                digests.blake3,
                (now + timedelta(days=self.retention_days)).replace(microsecond=0),
            )
            info = self.stat(namespace, digests.blake3)
        if (info.size, info.blake3, info.sha256) != (digests.size, digests.blake3, digests.sha256):
            raise IntegrityError(
                f"{path} does not match what was written (size {info.size}, sha256 "
                f"{info.sha256}): run again; if it persists, report it to the auditor"
            )
        return StoredObject(
            namespace=namespace,
            key=digests.blake3,
            size=digests.size,
            blake3=digests.blake3,
            sha256=digests.sha256,
            retention_until=info.retention_until,
            adopted=adopted,
        )

    # -- copy ------------------------------------------------------------------

    def copy(self, namespace: str, key: str, target: str) -> StoredObject:
        check_namespace(target)
        if target == namespace:
            raise InputError(
                f"cannot copy {namespace}/{key} to its own namespace {target}: a hand-off "
                "goes to another team; give the receiving team"
            )
        path = self.object_path(namespace, key)
        with self._reader(namespace, key) as src:
            digests = self._source_digests(path, key, os.fstat(src.fileno()).st_size)
            with self._staging(target) as temp:
                self._copy_bytes(src, path, temp, digests.size)
                return self.place(target, temp, digests)

    def _source_digests(self, path: Path, key: str, actual: int) -> Digests:
        """The digests of a stored object of ``actual`` bytes, from its
        metadata, checked against its key and size."""
        sidecar = self.sidecar(path)
        meta = self._read_sidecar(sidecar) if sidecar.exists() else {}
        size, blake3, sha256 = meta.get("size"), meta.get("blake3"), meta.get("sha256")
        if (
            blake3 != key
            or not isinstance(sha256, str)
            or not HEX64.match(sha256)
            or not isinstance(size, int)
            or size != actual
        ):
            raise IntegrityError(
                f"{path} ({actual} bytes) has no valid digest metadata (size {size!r}, "
                f"blake3 {blake3!r}, sha256 {sha256!r} in {sidecar}): nothing was copied; "
                "do not delete it, report it to the auditor"
            )
        return Digests(size=size, blake3=key, sha256=sha256)

    def _copy_bytes(self, src: BinaryIO, path: Path, temp: Path, size: int) -> None:
        """Copy ``src`` (the object at ``path``) into the new file ``temp`` (a
        copy of its own, never a link) and fsync."""
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create {temp}: {exc.strerror}; check the disk") from exc
        with os.fdopen(fd, "wb") as out:
            try:
                copied = self._copy_range(src.fileno(), out.fileno(), size)
                if copied is None:  # no copy_file_range here (or across these file systems)
                    shutil.copyfileobj(src, out, CHUNK)
                    out.flush()
                    copied = os.fstat(out.fileno()).st_size
                os.fsync(out.fileno())
            except OSError as exc:
                raise StoreError(
                    f"cannot copy {path} to {temp}: {exc.strerror or exc}; free disk space "
                    f"under {self.root} and run again (nothing was copied)"
                ) from exc
        if copied != size:
            raise IntegrityError(
                f"{size} bytes were expected from {path} but {copied} were copied to {temp}: "
                "nothing was copied; run again, and if it persists report it to the auditor"
            )

    @staticmethod
    def _copy_range(src: int, dst: int, size: int) -> int | None:
        """Copy in the kernel with ``copy_file_range``; None if it is not supported."""
        copy_file_range = getattr(os, "copy_file_range", None)
        if copy_file_range is None:
            return None
        copied = 0
        while True:
            try:
                n = copy_file_range(src, dst, max(size - copied, CHUNK))
            except OSError as exc:
                unsupported = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL}
                if copied == 0 and exc.errno in unsupported:
                    return None
                raise
            if n == 0:  # the end; 0 at once from a non-empty file: the file system cannot
                return copied if copied or size == 0 else None
            copied += n

    @staticmethod
    def sidecar(path: Path) -> Path:
        return path.with_name(path.name + ".json")

    @staticmethod
    def _read_sidecar(sidecar: Path) -> dict[str, object]:
        try:
            meta = json.loads(sidecar.read_bytes())
        except (OSError, ValueError) as exc:
            raise IntegrityError(
                f"cannot read the metadata {sidecar}: {exc}; do not delete it, report "
                "it to the auditor"
            ) from exc
        if not isinstance(meta, dict):
            raise IntegrityError(f"the metadata {sidecar} is not a JSON object: report it")
        return meta

    @staticmethod
    def _check_meta(path: Path, meta: dict[str, object], digests: Digests) -> None:
        expected = {"size": digests.size, "blake3": digests.blake3, "sha256": digests.sha256}
        wrong = [f"{k} {meta.get(k)!r} != {v!r}" for k, v in expected.items() if meta.get(k) != v]
        if wrong:
            raise IntegrityError(
                f"{path} is stored with other digests ({'; '.join(wrong)}): the stored "
                "object or its metadata is damaged; do not delete it, report it to the auditor"
            )

    @staticmethod
    def _write_once(path: Path, data: bytes) -> None:
        """Write ``path`` atomically; a concurrent writer that got there first wins."""
        temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
            fsync_path(path.parent, directory=True)
        finally:
            temp.unlink()

    # -- reads -----------------------------------------------------------------

    def stat(self, namespace: str, key: str) -> ObjectInfo:
        path = self._existing(namespace, key)
        st = path.stat()
        size = st.st_size
        sidecar = self.sidecar(path)
        blake3: str | None = None
        sha256: str | None = None
        until: datetime | None = None
        if sidecar.exists():
            meta = self._read_sidecar(sidecar)
            blake3 = str(meta["blake3"]) if "blake3" in meta else None
            sha256 = str(meta["sha256"]) if "sha256" in meta else None
            if "retention_until" in meta:
                until = _parse_time(str(meta["retention_until"]))
        extensions = self._retention_log(path)
        if extensions.exists():
            for line in extensions.read_text().splitlines():
                if line.strip():
                    later = _parse_time(line)
                    until = later if until is None else max(until, later)
        return ObjectInfo(
            namespace=namespace,
            key=key,
            size=size,
            blake3=blake3,
            sha256=sha256,
            retention_until=until,
            legal_hold=self._hold(path).exists(),
            writable=bool(S_IMODE(st.st_mode) & 0o222),
        )

    def exists(self, namespace: str, key: str) -> bool:
        return self.object_path(namespace, key).is_file()

    def open(self, namespace: str, key: str) -> Iterator[bytes]:
        path = self.object_path(namespace, key)
        handle = self._reader(namespace, key)  # opened now, so a missing object fails here

        def chunks() -> Iterator[bytes]:
            with handle:
                while True:
                    try:
                        chunk = handle.read(CHUNK)
                    except OSError as exc:
                        raise StoreError(
                            f"cannot read {path}: {exc.strerror}; check the disk under {self.root}"
                        ) from exc
                    if not chunk:
                        return
                    yield chunk

        return chunks()

    def download_url(self, namespace: str, key: str, expires: timedelta) -> str:
        # A file:// URL does not expire; access is governed by the file system.
        self._reader(namespace, key).close()  # a regular file: never a link's target
        return self.object_path(namespace, key).resolve().as_uri()

    # -- protection ------------------------------------------------------------

    @staticmethod
    def _hold(path: Path) -> Path:
        return path.with_name(path.name + ".hold")

    @staticmethod
    def _retention_log(path: Path) -> Path:
        return path.with_name(path.name + ".retention")

    def set_legal_hold(self, namespace: str, key: str, on: bool) -> None:
        hold = self._hold(self._existing(namespace, key))
        if on:
            hold.touch(mode=0o444, exist_ok=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                hold.unlink()
        fsync_path(hold.parent, directory=True)

    def extend_retention(self, namespace: str, key: str, until: datetime) -> None:
        if until.tzinfo is None:
            raise InputError(f"retention date {until} has no time zone: give a UTC date")
        info = self.stat(namespace, key)
        current = info.retention_until
        if current is not None and until < current:
            raise WriteOnceViolation(
                f"the retention of {namespace}/{key} runs until {current.isoformat()} and "
                f"cannot be shortened to {until.isoformat()}: give a later date"
            )
        if current is not None and until == current:
            return
        log = self._retention_log(self.object_path(namespace, key))
        with log.open("a") as out:
            out.write(until.isoformat() + "\n")
            out.flush()
            os.fsync(out.fileno())

    def delete(self, namespace: str, key: str) -> None:
        path = self._existing(namespace, key)
        raise WriteOnceViolation(
            f"refusing to delete {key} ({path}): objects in the {self.description} are "
            "write-once and are never deleted by jitev; record a custody event instead"
        )

    # -- crash leftovers -------------------------------------------------------

    def leftovers(self, namespace: str) -> list[Leftover]:
        """The regular files in the namespace's ``.incoming``: puts a crash
        interrupted (or one in progress: the caller's grace period tells)."""
        incoming = self.root / check_namespace(namespace) / ".incoming"
        found = []
        try:
            entries = list(os.scandir(incoming))
        except FileNotFoundError:
            return []
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if S_ISREG(st.st_mode):
                modified = datetime.fromtimestamp(st.st_mtime, UTC)
                found.append(
                    Leftover(
                        namespace, f".incoming/{entry.name}", "temp file", st.st_size, modified
                    )
                )
        return sorted(found, key=lambda lo: (lo.modified, lo.name))

    def remove_leftover(self, leftover: Leftover) -> None:
        folder, _, name = leftover.name.partition("/")
        if folder != ".incoming" or not name or "/" in name or name in (".", ".."):
            raise InputError(f"{leftover.name} is not a temp file of the {self.description}")
        with contextlib.suppress(FileNotFoundError):
            (self.root / check_namespace(leftover.namespace) / ".incoming" / name).unlink()
