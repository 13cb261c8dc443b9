"""Bytes over HTTP, in both directions, with bounded memory: an upload's
request body read as a blocking stream for the store (``BodyReader``), and a
download produced on its own thread and streamed out (``stream_download``).
Both hash-checked paths are the domain's; this module only moves chunks (what
a body may cost is ``app.web.bounds``'s)."""

from __future__ import annotations

import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator

import anyio
import anyio.from_thread
from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from evidence.errors import InputError
from evidence.sizes import MiB

Fill = Callable[[Callable[[bytes], None]], object]  # writes a download's bytes with ``write``


class BodyReader:
    """The request body as a blocking ``read()`` for the store, called from a
    worker thread: the chunks are pulled from the server's receive stream as
    they arrive, one hand-over to the event loop per read (not per network
    chunk), never the whole file; exactly ``length`` bytes are required."""

    def __init__(self, stream: AsyncIterator[bytes], length: int, what: str) -> None:
        self._stream = stream
        self._length = length
        self._what = what  # "upload NAME to POST /api/...", for the messages
        self._got = 0
        self._buffer = b""
        self._done = False

    async def _gather(self, want: int) -> list[bytes]:
        parts: list[bytes] = []
        have = 0
        while have < want and not self._done:
            try:
                chunk = await self._stream.__anext__()
            except (StopAsyncIteration, ClientDisconnect):  # the end, or the client left
                self._done = True
                break
            parts.append(chunk)
            have += len(chunk)
        return parts

    def read(self, size: int = -1, /) -> bytes:
        want = self._length if size < 0 else size
        parts = [self._buffer]
        if want > len(self._buffer):
            more = anyio.from_thread.run(self._gather, want - len(self._buffer))
            self._got += sum(len(p) for p in more)
            if self._got > self._length:
                raise InputError(
                    f"{self._what}: more bytes than its Content-Length {self._length}; "
                    "nothing was recorded"
                )
            if self._done and self._got < self._length:
                raise InputError(
                    f"{self._what} ended after {self._got} of {self._length} bytes "
                    "(connection lost?): nothing was recorded; upload it again"
                )
            parts += more
        data = b"".join(parts)
        out, self._buffer = data[:want], data[want:]
        return out


def upload_length(request: Request, name: str, limit_mib: int) -> int:
    """The upload's declared ``Content-Length``: required, and within the limit."""
    limit = limit_mib * MiB
    raw = request.headers.get("content-length")
    if raw is None or not raw.isdigit():
        raise InputError(
            f"upload {name}: send the file with a Content-Length header (chunked uploads "
            "are not accepted)"
        )
    length = int(raw)
    if length > limit:
        raise InputError(
            f"upload {name} is {length:,} bytes, over this server's limit of {limit:,} bytes "
            "([web] max_upload_mib): ingest it with `jitev ingest` on the evidence machine, "
            "or ask the administrator to raise the limit"
        )
    return length


PREVIEWABLE = {"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"}


def header_name(name: str) -> str:
    """A file name safe inside a ``Content-Disposition`` header."""
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)


class _Stopped(Exception):
    """The client went away: the producer stops reading the store."""


def stream_download(fill: Fill, *, media_type: str, headers: dict[str, str]) -> StreamingResponse:
    """Stream what ``fill(write)`` writes, produced on its own thread and
    handed over through a small bounded queue (memory stays bounded whatever
    the size). If ``fill`` fails halfway (a hash mismatch) the response is
    cut short, so the client sees a truncated transfer, never a
    complete-looking file; if the client goes away, ``fill`` is stopped
    (and records no ACCESSED event: the bytes were not delivered)."""
    handover: queue.Queue[bytes | BaseException | object] = queue.Queue(maxsize=8)
    stopped = threading.Event()
    end = object()

    def write(chunk: bytes) -> None:
        while not stopped.is_set():
            try:
                handover.put(bytes(chunk), timeout=0.5)
                return
            except queue.Full:
                continue
        raise _Stopped

    def produce() -> None:
        try:
            fill(write)
        except _Stopped:
            return
        except BaseException as exc:  # noqa: BLE001 - handed to the response, which raises it
            handover.put(exc)
            return
        handover.put(end)

    def body() -> Iterator[bytes]:
        threading.Thread(target=produce, daemon=True, name="download").start()
        # The last chunk is held back until ``fill`` has returned: the hashes
        # are only known at the end, so a client never holds all the
        # Content-Length bytes of a copy that failed its check (nor before
        # the ACCESSED event is recorded).
        held: bytes | None = None
        try:
            while (item := handover.get()) is not end:
                if isinstance(item, BaseException):
                    raise item
                assert isinstance(item, bytes)
                if held is not None:
                    yield held
                held = item
            if held is not None:
                yield held
        finally:
            stopped.set()

    return StreamingResponse(body(), media_type=media_type, headers=headers)
