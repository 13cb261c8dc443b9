"""What one request may cost the server, whoever sends it.

- **A body that stalls** is given up on: no byte for ``[web]
  upload_idle_seconds`` while the application waits for one, and the request
  ends with 408 (``BodyGuard``, for every request).
- **A body is small** (``MAX_BODY``: JSON and forms), but an upload's file:
  it is refused with 413 before more is read than that (an upload has its
  own limit, ``[web] max_upload_mib``).
- **Uploads are bounded**: each holds a worker thread and a staging object
  until its last byte has arrived, so at most ``[web] max_uploads`` run at
  once, ``max_uploads_per_person`` of them one person's, on threads of their
  own: however many there are, the threads every other request needs stay
  free. One over a bound is refused at once, before its body is read: 429 for
  the person's bound, 503 for the server's, with ``Retry-After``.

Whatever is refused records nothing. An answer given before the request's
body was read to its end (these, a 401...) closes the connection: the rest
of the body is never read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import anyio
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from evidence.errors import InputError, JitevError
from evidence.sizes import MiB

MAX_BODY = 4 * MiB  # a JSON or form body: 10,000 exhibit references fit in a third of it
RETRY_SECONDS = 10  # the Retry-After of a refused upload: about how long a slot takes to free
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")  # content types of forms


class UploadsBusy(JitevError):
    """The server has ``[web] max_uploads`` uploads in progress (503)."""

    def __init__(self, message: str, *, retry_after: int = RETRY_SECONDS) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # seconds


class TooManyUploads(UploadsBusy):
    """The person has ``[web] max_uploads_per_person`` uploads in progress (429)."""


class BodyStalled(InputError):
    """No byte of a request's body arrived for ``[web] upload_idle_seconds`` (408)."""


class BodyTooLarge(InputError):
    """A request's body (not an upload's) is over ``MAX_BODY`` (413)."""


class BodyGuard:
    """ASGI middleware: every request's body arrives without stalling, and
    is at most ``MAX_BODY`` bytes, but the raw body of an upload (one of the
    ``uploads`` routes, not sent as a form). It only watches what the
    application asks for: a body never read costs nothing, and the errors are
    raised where the application reads it. Once the answer has begun, the
    rest of the body no longer matters (a download listening for the client
    to leave waits as long as it takes); if it is not all in, the answer
    closes the connection."""

    def __init__(self, app: ASGIApp, *, idle: float, uploads: Sequence[BaseRoute]) -> None:
        self.app = app
        self.idle = idle
        self.uploads = uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = f"{scope['method']} {scope['path']}"
        headers = Headers(scope=scope)
        raw = not headers.get("content-type", "").startswith(FORMS) and any(
            route.matches(scope)[0] is Match.FULL for route in self.uploads
        )
        declared = headers.get("content-length", "")
        if not raw and declared.isdigit() and int(declared) > MAX_BODY:
            receive = _refusing(_too_large(endpoint, int(declared)))
        got = 0
        body = (declared.isdigit() and int(declared) > 0) or "transfer-encoding" in headers
        ended = not body
        answering = False

        async def answer(message: Message) -> None:
            nonlocal answering
            if message["type"] == "http.response.start" and not ended:
                closing = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": closing}
            answering = True
            await send(message)

        async def guarded() -> Message:
            nonlocal got, ended
            if ended or answering:  # what follows is the disconnect, whenever it comes
                return await receive()
            try:
                with anyio.fail_after(self.idle):
                    message = await receive()
            except TimeoutError:
                if answering:
                    return await receive()
                raise BodyStalled(
                    f"{endpoint}: no bytes of the request's body arrived for {self.idle:g} s "
                    f"after {got:,} bytes ([web] upload_idle_seconds): nothing was recorded; "
                    "send it again over a steady connection"
                ) from None
            got += len(message.get("body", b""))
            ended = message["type"] != "http.request" or not message.get("more_body", False)
            if not raw and got > MAX_BODY:
                raise _too_large(endpoint, got)
            return message

        await self.app(scope, guarded, answer)


def _refusing(error: BodyTooLarge) -> Receive:
    """A ``receive`` that raises ``error`` when the body is read."""

    async def refuse() -> Message:
        raise error

    return refuse


def _too_large(endpoint: str, size: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"{endpoint}: a body of at least {size:,} bytes, over the {MAX_BODY:,} this server "
        "accepts but for an upload's file: send less (name fewer exhibits at a time)"
    )


class Uploads:
    """The uploads in progress, by person, and the threads they run on (as
    many as ``total``: a slot never waits for a thread). Used from the event
    loop only, so the counts need no lock."""

    def __init__(self, total: int, per_person: int) -> None:
        self.total = total
        self.per_person = per_person
        self._held: Counter[str] = Counter()
        self._threads = anyio.CapacityLimiter(total)

    def held(self, person: str | None = None) -> int:
        """Uploads in progress: the person's, or everyone's."""
        return self._held[person] if person is not None else sum(self._held.values())

    @contextmanager
    def slot(self, person: str, endpoint: str) -> Iterator[anyio.CapacityLimiter]:
        """A place for one upload of ``person`` to ``endpoint`` while the
        block runs, with the limiter of the upload threads to run it on; or
        ``TooManyUploads`` / ``UploadsBusy`` at once."""
        if self.held(person) >= self.per_person:
            raise TooManyUploads(
                f"{endpoint}: {person} has {self.held(person)} uploads in progress, the most "
                f"one person may have at once ([web] max_uploads_per_person): send this file "
                f"when one has finished (in {RETRY_SECONDS} s or so); nothing was recorded"
            )
        if self.held() >= self.total:
            raise UploadsBusy(
                f"{endpoint}: the server has {self.held()} uploads in progress, its limit "
                f"([web] max_uploads): send this file again in {RETRY_SECONDS} s or so; "
                "nothing was recorded"
            )
        self._held[person] += 1
        try:
            yield self._threads
        finally:
            self._held[person] -= 1
            if not self._held[person]:
                del self._held[person]
