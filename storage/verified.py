"""The server's record of how far each chain was verified
(``evidence.ports.VerifiedHeads``), in a folder of its own: never the catalog,
so that a database host who rewrites events cannot also move the verified
point past them. The default folder is ``$JITEV_HOME/verified``, beside the
server's keys; each web server (or CLI home) keeps its own, and one that has
none verifies from the first event once.

Layout: ``<sha256(chain)>.json`` per chain, written to a temporary file,
fsynced and renamed into place under an exclusive ``flock`` on ``.lock``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from evidence.errors import StoreError
from evidence.ports import VerifiedHead


class FileVerifiedHeads:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def _path(self, chain: str) -> Path:
        return self.folder / f"{hashlib.sha256(chain.encode()).hexdigest()}.json"

    def get(self, chain: str) -> VerifiedHead | None:
        try:
            raw = json.loads(self._path(chain).read_text(encoding="utf-8"))
            if raw["chain"] != chain:
                return None
            return VerifiedHead(
                chain,
                int(raw["seq"]),
                str(raw["hash"]),
                tuple((int(level), str(h)) for level, h in raw["frontier"]),
                int(raw["checkpoint"]),
                datetime.fromisoformat(raw["verified_at"]),
                datetime.fromisoformat(raw["full_at"]) if raw["full_at"] else None,
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            return None  # unreadable: verified again from the first event

    def put(self, head: VerifiedHead) -> None:
        record: dict[str, Any] = {
            "chain": head.chain,
            "seq": head.seq,
            "hash": head.hash,
            "frontier": [list(pair) for pair in head.frontier],
            "checkpoint": head.checkpoint,
            "verified_at": head.verified_at.isoformat(),
            "full_at": head.full_at.isoformat() if head.full_at else None,
        }
        path = self._path(head.chain)
        with self._locked():
            staged = path.with_suffix(".tmp")
            with staged.open("w", encoding="utf-8") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            staged.replace(path)
            self._sync_folder()

    def drop(self, chain: str) -> None:
        with self._locked():
            self._path(chain).unlink(missing_ok=True)
            self._sync_folder()

    def _sync_folder(self) -> None:
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with (self.folder / ".lock").open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                yield
        except OSError as exc:
            raise StoreError(
                f"cannot write the verified heads in {self.folder}: {exc.strerror or exc}"
            ) from exc
