"""One pass over the bytes: BLAKE3 + SHA-256 (+ a declared md5/sha1/sha256/
blake3) fed from the same chunks that go to the store.

``HashingReader`` wraps a binary file. Each ``read`` hands the chunk to the
caller (the object store) and, at the same time, to a worker thread that feeds
the digests. Both ``blake3`` and ``hashlib`` release the GIL on large buffers,
so hashing overlaps with the store's write or upload. Memory stays bounded:
at most ``depth`` chunks wait for the hasher.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Protocol, TypeVar

from blake3 import blake3

from evidence.errors import IntegrityError, NotFound, ObjectMissing
from evidence.models import Digests
from evidence.sizes import INGEST_CHUNK

if TYPE_CHECKING:
    from evidence.ports import ByteStream, ObjectInfo, ObjectStore

T = TypeVar("T")

CHUNK = INGEST_CHUNK
HEAD = 8192  # bytes kept for media-type sniffing


class _Hash(Protocol):
    def update(self, data: bytes, /) -> object: ...

    def hexdigest(self) -> str: ...


def _new(algorithm: str) -> _Hash:
    if algorithm == "blake3":
        return blake3(max_threads=1)
    return hashlib.new(algorithm)


class MultiHash:
    """BLAKE3 and SHA-256 always, plus any declared algorithms."""

    def __init__(self, declared: Iterable[str] = ()) -> None:
        self._blake3 = _new("blake3")
        self._sha256 = _new("sha256")
        shared = {"blake3": self._blake3, "sha256": self._sha256}
        self._declared = {a: shared.get(a) or _new(a) for a in declared}
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._blake3.update(chunk)
        self._sha256.update(chunk)
        for algorithm, h in self._declared.items():
            if algorithm not in ("blake3", "sha256"):
                h.update(chunk)

    def digests(self) -> Digests:
        return Digests(
            size=self.size,
            blake3=self._blake3.hexdigest(),
            sha256=self._sha256.hexdigest(),
            declared={a: h.hexdigest() for a, h in self._declared.items()},
        )


class HashingReader:
    """A read-only stream over ``raw`` whose bytes are digested on a worker
    thread as they are handed out. Call ``digests()`` once ``read`` returned
    ``b""``; it waits for the hasher to catch up."""

    def __init__(
        self,
        raw: ByteStream,
        declared: Iterable[str] = (),
        *,
        chunk: int = CHUNK,
        depth: int = 4,
        on_read: Callable[[int], None] | None = None,
        threaded: bool = True,
    ) -> None:
        self._raw = raw
        self._on_read = on_read
        self._chunk = chunk
        self._hash = MultiHash(declared)
        self._queue: queue.Queue[bytes | None] | None = None
        self.head = b""  # the first bytes, for media-type sniffing without a second read
        self._error: BaseException | None = None
        self._eof = False
        self._thread: threading.Thread | None = None
        if threaded:  # small files hash inline: a thread per file would cost more than it saves
            self._queue = queue.Queue(maxsize=depth)
            self._thread = threading.Thread(target=self._work, name="jitev-hasher", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        assert self._queue is not None
        try:
            while (chunk := self._queue.get()) is not None:
                self._hash.update(chunk)
        except BaseException as exc:  # surfaced by digests()
            self._error = exc

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        if self._eof:
            return b""
        want = self._chunk if size is None or size < 0 else size
        data = self._raw.read(want)
        if not data:
            self._eof = True
            self._feed(None)
            return b""
        if len(self.head) < HEAD:
            self.head += data[: HEAD - len(self.head)]
        self._feed(data if self._queue is None else bytes(data))  # the thread keeps its own
        if self._on_read is not None:
            self._on_read(len(data))
        return data

    def _feed(self, chunk: bytes | None) -> None:
        if self._queue is not None:
            self._queue.put(chunk)
        elif chunk is not None:
            self._hash.update(chunk)

    def digests(self) -> Digests:
        if not self._eof:
            raise RuntimeError("digests asked for before the whole stream was read")
        if self._thread is not None:
            self._thread.join()
        if self._error is not None:
            raise self._error
        return self._hash.digests()

    def close(self) -> None:
        if not self._eof:
            self._eof = True
            self._feed(None)
        if self._thread is not None:
            self._thread.join()


def read_back(
    store: ObjectStore, namespace: str, key: str, write: Callable[[bytes], object] | None = None
) -> Digests:
    """The size and digests of a stored object, from its bytes, handing each
    chunk to ``write`` too (a download) in the same pass."""
    return digest_chunks(store.open(namespace, key), write)


def digest_chunks(
    chunks: Iterable[bytes], write: Callable[[bytes], object] | None = None
) -> Digests:
    """The size and digests of ``chunks``, each handed to ``write`` too."""
    digest = MultiHash()
    for chunk in chunks:
        digest.update(chunk)
        if write is not None:
            write(chunk)
    return digest.digests()


def open_recorded(
    store: ObjectStore, namespace: str, key: str, what: str, case_id: str
) -> Iterator[bytes]:
    """``store.open`` of an object the ledger of ``case_id`` records (``what``
    names it: "team FR's copy of BG-EX-0001"). It was stored, so one that is
    not there, or is not what was stored (a link in its place), was removed
    or replaced outside jitev: ``ObjectMissing``, an integrity failure, not
    the store's ``NotFound`` (a mistake in the input)."""
    return _recorded(lambda: store.open(namespace, key), store, namespace, key, what, case_id)


def stat_recorded(
    store: ObjectStore, namespace: str, key: str, what: str, case_id: str
) -> ObjectInfo:
    """``store.stat`` of such an object (``open_recorded``): that it is there,
    before anything is recorded of what will read it."""
    return _recorded(lambda: store.stat(namespace, key), store, namespace, key, what, case_id)


def _recorded(
    call: Callable[[], T], store: ObjectStore, namespace: str, key: str, what: str, case_id: str
) -> T:
    try:
        return call()
    except NotFound:
        problem = (
            f"is missing from the {store.description} (object {namespace}/{key}): it was "
            "stored, so it was removed outside jitev; report it to the store's operator, who "
            "restores it from a backup"
        )
    except IntegrityError as exc:  # something else in its place
        problem = f"was replaced outside jitev: {exc}"
    raise ObjectMissing(f"{what} {problem}", case=case_id)
