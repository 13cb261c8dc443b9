"""A witness's own memory, in a folder of its own (never the catalog):
per log origin, the last checkpoint it cosigned, and the conflicting signed
checkpoints it refused (evidence of a fork or a rollback).

Layout of the folder (``jitev witness serve --dir``, or for the embedded
default ``$JITEV_HOME/witnesses/<TEAM>``)::

    witness.ed25519.pem                its cosigning key, mode 0600
    checkpoints/<sha256(origin)>       the last cosigned checkpoint (a signed note)
    evidence/<sha256(origin)>.<n>      a refused, validly signed checkpoint and why
    .lock                              held while a checkpoint is checked and replaced

``replace`` is a compare-and-set under an exclusive ``flock`` on ``.lock``: the
stored size is read again under the lock, the new note written to a
temporary file, fsynced, renamed over the old one and the folder fsynced. Two
requests, even from two processes, cannot roll the state back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from evidence.errors import StoreError
from evidence.tlog import notes
from evidence.tlog.notes import Checkpoint
from evidence.tlog.witness import Refused


class FileWitnessState:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._checkpoints = self.folder / "checkpoints"
        self._evidence = self.folder / "evidence"

    def _path(self, origin: str) -> Path:
        return self._checkpoints / hashlib.sha256(origin.encode()).hexdigest()

    def latest(self, origin: str) -> str | None:
        return self.latest_by_digest(hashlib.sha256(origin.encode()).hexdigest())

    def latest_by_digest(self, digest: str) -> str | None:
        """By the lowercase hex SHA-256 of the origin (the monitoring URL's)."""
        if len(digest) != 64 or digest.strip("0123456789abcdef"):
            return None
        try:
            return (self._checkpoints / digest).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def replace(self, origin: str, old_size: int, note: str) -> None:
        with self._locked():
            current = self.latest(origin)
            size = Checkpoint.parse(notes.parse(current).text).size if current else 0
            if size != old_size:
                raise Refused(409, "old size is not the size last cosigned", size=size)
            self._write(self._path(origin), note)

    def keep_evidence(self, origin: str, note: str, why: str) -> None:
        with self._locked():
            stem = hashlib.sha256(origin.encode()).hexdigest()
            number = len(list(self._evidence.glob(f"{stem}.*"))) + 1
            self._write(self._evidence / f"{stem}.{number}", f"# {why}\n{note}")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            for folder in (self.folder, self._checkpoints, self._evidence):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            lock = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"the witness state {self.folder} cannot be written: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)  # releases the lock

    @staticmethod
    def _write(path: Path, text: str) -> None:
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            with open(temporary, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError as exc:
            raise StoreError(
                f"the witness state {path} cannot be written: {exc.strerror or exc}"
            ) from None
