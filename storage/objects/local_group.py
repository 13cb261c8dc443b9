"""Group commit for the local store: many puts made durable together.

A put in a group streams its source into ``.incoming`` without an fsync of
its own. When the group ends without error it is made durable in this
order, so that nothing is ever placed under its content address before its
bytes are on disk:

1. the bytes of every new object are synced (one ``syncfs`` of the store's
   file system for a group of more than a few files, else an ``fsync`` of
   each);
2. each is made read-only and linked into place (``os.link`` never replaces:
   content that a concurrent writer placed meanwhile is adopted and checked),
   and its metadata sidecar is written;
3. the links, sidecars and directories are synced (again one ``syncfs``, or
   an ``fsync`` of each sidecar and directory).

Only then does the group return, and only then may the caller record the
objects in the ledger. A crash at any point leaves ``.incoming`` leftovers and
maybe placed objects with no ledger entry, which a re-run adopts. An error
inside the group removes every temporary file it made and places nothing.

``syncfs`` (Linux) flushes the whole file system holding the store, so its
cost does not grow with the number of files; since Linux 5.8 it reports
write-back errors like ``fsync`` does. Where it is missing, the group falls
back to one ``fsync`` per file and per directory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Protocol

from evidence.errors import SourceChanged, StoreError
from evidence.models import Digests, StoredObject
from evidence.ports import DigestSource
from storage.objects.names import check_namespace

SYNCFS_FROM = 4  # files in a group from which one syncfs beats an fsync each


def _load_libc() -> object | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()
_SYNCFS = getattr(_LIBC, "syncfs", None)
_RENAMEAT2 = getattr(_LIBC, "renameat2", None)
_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def place_once(temp: Path, path: Path) -> None:
    """Move ``temp`` to ``path`` unless ``path`` exists (``FileExistsError``):
    one ``renameat2(RENAME_NOREPLACE)`` where the kernel and the file system
    have it, else ``os.link`` then unlink (neither ever replaces a file)."""
    if _RENAMEAT2 is not None:
        done = _RENAMEAT2(
            _AT_FDCWD, os.fsencode(temp), _AT_FDCWD, os.fsencode(path), _RENAME_NOREPLACE
        )
        if done == 0:
            return
        code = ctypes.get_errno()
        if code == errno.EEXIST:
            raise FileExistsError(code, os.strerror(code), str(path))
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(path))
    os.link(temp, path)
    temp.unlink()


def fsync_path(path: Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_all(root: Path, files: list[Path], dirs: set[Path]) -> None:
    """Make ``files`` and ``dirs`` (all under ``root``) durable."""
    if _SYNCFS is not None and len(files) >= SYNCFS_FROM:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if _SYNCFS(fd) != 0:
                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code), str(root))
        finally:
            os.close(fd)
        return
    for path in files:
        fsync_path(path)
    for path in sorted(dirs):
        fsync_path(path, directory=True)


class Host(Protocol):
    """What a group needs of its store (``LocalStore``)."""

    root: Path
    description: str
    retention_days: int

    def now(self) -> datetime: ...

    def staging_name(self, namespace: str) -> Path: ...

    def receive(
        self, source: DigestSource, temp: Path, length: int | None, *, sync: bool
    ) -> Digests: ...

    def object_path(self, namespace: str, key: str) -> Path: ...

    def sidecar(self, path: Path) -> Path: ...

    def place(self, namespace: str, temp: Path, digests: Digests) -> StoredObject: ...

    def extend_retention(self, namespace: str, key: str, until: datetime) -> None: ...


@dataclass(frozen=True, slots=True)
class _Pending:
    temp: Path
    path: Path
    stored: StoredObject


class PutGroup:
    """The puts of one group (see the module docstring): ``put`` returns the
    object it will be, which is stored once the ``with`` block has exited
    without error."""

    def __init__(self, store: Host) -> None:
        self._store = store
        self._pending: dict[Path, _Pending] = {}
        self._temps: list[Path] = []

    def __enter__(self) -> PutGroup:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if kind is None and self._pending:
                self._commit()
        finally:
            for temp in self._temps:
                temp.unlink(missing_ok=True)

    def put(self, namespace: str, source: DigestSource, length: int | None) -> StoredObject:
        store = self._store
        check_namespace(namespace)
        temp = store.staging_name(namespace)
        self._temps.append(temp)
        try:
            digests = store.receive(source, temp, length, sync=False)
        except SourceChanged:
            temp.unlink(missing_ok=True)
            raise
        path = store.object_path(namespace, digests.blake3)
        same = self._pending.get(path)
        if same is not None:  # the same content twice in the group
            temp.unlink()
            return replace(same.stored, adopted=True)
        if path.exists():  # stored before: adopted and checked now, as a single put is
            return store.place(namespace, temp, digests)
        until = (store.now() + timedelta(days=store.retention_days)).replace(microsecond=0)
        stored = StoredObject(
            namespace=namespace,
            key=digests.blake3,
            size=digests.size,
            blake3=digests.blake3,
            sha256=digests.sha256,
            retention_until=until,
            adopted=False,
        )
        self._pending[path] = _Pending(temp, path, stored)
        return stored

    def _commit(self) -> None:
        store, pending = self._store, list(self._pending.values())
        try:
            sync_all(store.root, [p.temp for p in pending], set())
        except OSError as exc:
            raise StoreError(
                f"cannot make {len(pending)} new objects durable in the {store.description}: "
                f"{exc.strerror or exc}; check the disk and run again (nothing was recorded)"
            ) from exc
        written: list[Path] = []
        dirs: set[Path] = set()
        for item in pending:
            parent = item.path.parent
            if not parent.is_dir():
                parent.mkdir(parents=True, exist_ok=True)
                dirs.add(parent.parent)
            dirs.add(parent)
            try:
                place_once(item.temp, item.path)  # read-only already (receive)
            except FileExistsError:  # a concurrent writer placed the same content meanwhile
                self._adopted(item)
                continue
            written.append(self._sidecar(item))
        try:
            sync_all(store.root, [p.path for p in pending] + written, dirs)
        except OSError as exc:
            raise StoreError(
                f"cannot make {len(pending)} new objects durable in the {store.description}: "
                f"{exc.strerror or exc}; check the disk and run again (nothing was recorded)"
            ) from exc

    def _sidecar(self, item: _Pending) -> Path:
        """Write the object's metadata sidecar (made durable with the group)."""
        stored, sidecar = item.stored, self._store.sidecar(item.path)
        assert stored.retention_until is not None
        data = json.dumps(
            {
                "size": stored.size,
                "blake3": stored.blake3,
                "sha256": stored.sha256,
                "retention_until": stored.retention_until.isoformat(),
            },
            sort_keys=True,
        ).encode()
        temp = sidecar.with_name(f".{sidecar.name}.{uuid.uuid4().hex}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            place_once(temp, sidecar)
        finally:
            temp.unlink(missing_ok=True)
        return sidecar

    def _adopted(self, item: _Pending) -> None:
        """The content was placed by another writer between our check and our
        link: check it as any adopted object, and make sure its retention runs
        at least as long as the one this group promised."""
        stored = item.stored
        digests = Digests(size=stored.size, blake3=stored.blake3, sha256=stored.sha256)
        placed = self._store.place(stored.namespace, item.temp, digests)
        promised: datetime | None = stored.retention_until
        if promised and (placed.retention_until is None or placed.retention_until < promised):
            self._store.extend_retention(stored.namespace, stored.key, promised)
