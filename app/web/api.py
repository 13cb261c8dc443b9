"""The JSON API under ``/api/v1``: the same services as the CLI, with the
caller from ``app.web.security``. No rule lives here: every route asks
``evidence`` (which asks ``evidence.policy``) and maps its errors to HTTP in
``app.web.errors``."""

from __future__ import annotations

import queue
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from app.web import security
from app.web.security import Caller
from evidence import access, disclosure, handoffs, services
from evidence.errors import InputError
from evidence.manifest import from_fields
from evidence.models import Exhibit, Handling, HandlingCode, parse_purpose
from evidence.policy import Right

router = APIRouter(prefix="/api/v1")
Who = Annotated[Caller, Depends(security.caller)]
Text = Annotated[str, Field(max_length=2000)]


def _w(request: Request) -> Any:
    return security.wiring(request)


# -- signing in ---------------------------------------------------------------------------


class Login(BaseModel):
    name: Annotated[str, Field(max_length=200)]
    password: Annotated[str, Field(max_length=access.MAX_PASSWORD)]


@router.post("/session", tags=["signing in"])
def log_in(body: Login, request: Request, response: Response) -> dict[str, Any]:
    """Log in with a password: sets the session cookie; the answer carries
    the CSRF token to send as ``X-CSRF-Token`` on every state-changing call."""
    w = _w(request)
    person, secret, session = access.login(
        w.catalog,
        request.app.state.hasher,
        body.name,
        body.password,
        client=security.client(request),
        now=w.clock.now(),
    )
    security.set_session_cookie(request, response, secret)
    return {"person": person.as_dict(), "csrf": session.csrf}


@router.delete("/session", tags=["signing in"])
def log_out(who: Who, request: Request, response: Response) -> dict[str, Any]:
    """End the session (a browser's; API tokens are revoked instead)."""
    if who.session is None:
        raise InputError("an API token has no session: revoke it with DELETE /api/v1/tokens/ID")
    w = _w(request)
    access.logout(w.catalog, who.secret, client=security.client(request), now=w.clock.now())
    security.clear_session_cookie(response)
    return {"logged_out": who.person.name}


@router.get("/me", tags=["signing in"])
def me(who: Who) -> dict[str, Any]:
    return {**who.person.as_dict(), "csrf": who.csrf or None}


class NewPassword(BaseModel):
    current: Annotated[str, Field(max_length=access.MAX_PASSWORD)]
    new: Annotated[str, Field(max_length=access.MAX_PASSWORD)]


@router.post("/me/password", tags=["signing in"])
def change_password(body: NewPassword, who: Who, request: Request) -> dict[str, Any]:
    """Change your own password (the current one first); your other sessions end."""
    w = _w(request)
    access.change_password(
        w.catalog,
        request.app.state.hasher,
        who.person,
        body.current,
        body.new,
        session=who.session,
        client=security.client(request),
        now=w.clock.now(),
    )
    return {"password_changed": who.person.name}


class NewToken(BaseModel):
    label: Annotated[str, Field(min_length=1, max_length=200)]


@router.get("/tokens", tags=["signing in"])
def tokens(who: Who, request: Request) -> list[dict[str, Any]]:
    return [t.as_dict() for t in _w(request).catalog.tokens(who.person.name)]


@router.post("/tokens", status_code=201, tags=["signing in"])
def create_token(body: NewToken, who: Who, request: Request) -> dict[str, Any]:
    """A new API token: its secret is in this answer only, and stored hashed."""
    w = _w(request)
    token, secret = access.issue_token(w.catalog, who.person, body.label, w.clock.now())
    return {**token.as_dict(), "secret": secret}


@router.delete("/tokens/{token_id}", tags=["signing in"])
def revoke_token(token_id: str, who: Who, request: Request) -> dict[str, Any]:
    w = _w(request)
    return access.revoke_token(w.catalog, who.person, token_id, w.clock.now()).as_dict()


# -- cases and exhibits ----------------------------------------------------------------------


@router.get("/cases", tags=["exhibits"])
def cases(who: Who, request: Request) -> list[dict[str, Any]]:
    """The cases of the caller's team."""
    return [c.as_dict() for c in handoffs.member_cases(_w(request).catalog, who.person, None)]


def exhibit_filter(
    exhibits: list[Exhibit], status: str | None, handling: str | None
) -> list[Exhibit]:
    return [
        ex
        for ex in exhibits
        if (status is None or ex.status.value == status)
        and (handling is None or ex.handling.code.value == handling)
    ]


@router.get("/exhibits", tags=["exhibits"])
def exhibits(
    who: Who,
    request: Request,
    case: str | None = None,
    team: Annotated[str | None, Query(description="Originating team")] = None,
    status: Annotated[str | None, Query(pattern="^(stored|quarantined)$")] = None,
    handling: Annotated[str | None, Query(pattern="^H[0-3]$")] = None,
) -> list[dict[str, Any]]:
    """The exhibits the caller may view, filtered."""
    found = handoffs.visible_exhibits(_w(request).catalog, who.person, case, team)
    return [ex.as_dict() for ex in exhibit_filter(found, status, handling)]


class BodyReader:
    """The request body as a blocking ``read()`` for the store, called from a
    worker thread: the chunks are pulled from the server's receive stream as
    they arrive, one hand-over to the event loop per read (not per network
    chunk), never the whole file; exactly ``length`` bytes are required."""

    def __init__(self, stream: AsyncIterator[bytes], length: int, name: str) -> None:
        self._stream = stream
        self._length = length
        self._name = name
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
                    f"upload {self._name}: more bytes than its Content-Length {self._length}; "
                    "nothing was recorded"
                )
            if self._done and self._got < self._length:
                raise InputError(
                    f"upload {self._name} ended after {self._got} of {self._length} bytes "
                    "(connection lost?): nothing was recorded; upload it again"
                )
            parts += more
        data = b"".join(parts)
        out, self._buffer = data[:want], data[want:]
        return out


def _length(request: Request, name: str) -> int:
    limit = _w(request).settings.web.max_upload_mib * 1024 * 1024
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


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    "/cases/{case_id}/exhibits", status_code=201, tags=["exhibits"], openapi_extra=UPLOAD_BODY
)
async def upload(
    case_id: str,
    who: Who,
    request: Request,
    name: Annotated[str, Query(min_length=1, max_length=255, description="The file's name")],
    title: Annotated[str | None, Query(max_length=500)] = None,
    description: Annotated[str, Query(max_length=2000)] = "",
    seized_at: Annotated[str | None, Query(description="ISO 8601 with offset")] = None,
    seized_by: Annotated[str, Query(max_length=200)] = "",
    seized_from: Annotated[str, Query(max_length=200)] = "",
    declared_hash: Annotated[
        str | None, Query(description="ALGORITHM:HEX, e.g. sha1:3f78…")
    ] = None,
    handling: Annotated[str, Query(pattern="^H[0-3]$")] = "H0",
    handling_note: Annotated[str, Query(max_length=500)] = "",
) -> dict[str, Any]:
    """Ingest one file, sent as the raw request body (``application/octet-stream``)
    with its ``Content-Length``: streamed once through BLAKE3 + SHA-256 into
    write-once storage, then recorded with its INGESTED custody event."""
    metadata = from_fields(
        {
            "title": title,
            "description": description,
            "seized_at": seized_at,
            "seized_by": seized_by,
            "seized_from": seized_from,
            "declared_hash": declared_hash,
            "handling": handling,
            "handling_note": handling_note,
        }
    )
    length = _length(request, name)
    w = _w(request)
    body = BodyReader(request.stream().__aiter__(), length, name)
    outcome = await anyio.to_thread.run_sync(
        lambda: services.ingest_upload(
            w.store,
            w.catalog,
            case_id=case_id,
            actor=who.person.name,
            name=name,
            length=length,
            body=body,
            metadata=metadata,
        )
    )
    return outcome.as_dict()


@router.get("/exhibits/{reference}", tags=["exhibits"])
def exhibit(reference: str, who: Who, request: Request) -> dict[str, Any]:
    """An exhibit and its continuity (the custody events of the exhibit)."""
    found, events = handoffs.continuity(_w(request).catalog, who.person, reference)
    return {**found.as_dict(), "continuity": [e.as_dict() for e in events]}


@router.get(
    "/exhibits/{reference}/content",
    tags=["exhibits"],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download(reference: str, who: Who, request: Request, inline: bool = False) -> Response:
    """The exhibit's bytes, from the caller's team's copy, hashed on the way;
    recorded as an ACCESSED custody event once they matched the ledger.
    ``inline`` (the preview) only for images and PDFs."""
    w = _w(request)
    ex = handoffs.checked_exhibit(w.catalog, who.person, Right.DOWNLOAD, reference)
    inline = inline and ex.media_type in PREVIEWABLE
    disposition = "inline" if inline else "attachment"
    return stream_download(
        lambda write: handoffs.download(w.store, w.catalog, who.person, reference, write),
        media_type=ex.media_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f'{disposition}; filename="{reference}-{_ascii(ex.original_name)}"',
            "Content-Length": str(ex.size),
            "X-Content-SHA256": ex.sha256,
            "X-Content-BLAKE3": ex.blake3,
            # Served bytes never run as this site's page: no scripts, no sniffing
            # (only images and PDFs are previewed inline; SVG and HTML never are).
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
        },
    )


class NewHandling(BaseModel):
    code: Annotated[str, Field(pattern="^H[0-3]$")]
    note: Text = ""
    purposes: Annotated[
        list[Annotated[str, Field(pattern="^(other_offence|urgent_public_security|outside_jit)$")]],
        Field(max_length=3),
    ] = []


class Consent(BaseModel):
    for_team: Annotated[str, Field(min_length=1, max_length=20)]
    note: Text


class Sensitivity(BaseModel):
    sensitive: bool
    reason: Text = ""


def change_exhibit(w: Any, who: Caller, reference: str, change: BaseModel) -> Any:
    """A lead of the exhibit's originating team changes its handling, gives
    consent to its judicial use, or marks it sensitive: one custody event."""
    ex = w.catalog.exhibit(reference)
    if isinstance(change, NewHandling):
        purposes = tuple(parse_purpose(p) for p in change.purposes)
        handling = Handling(HandlingCode(change.code), change.note.strip(), purposes)
        return handoffs.set_handling(w.catalog, who.person, ex.case_id, reference, handling)
    if isinstance(change, Consent):
        return disclosure.consent_judicial_use(
            w.catalog, who.person, ex.case_id, reference, change.for_team, change.note
        )
    assert isinstance(change, Sensitivity)
    reason = change.reason if change.sensitive else None
    return disclosure.set_sensitive(w.catalog, who.person, ex.case_id, reference, reason)


@router.post("/exhibits/{reference}/handling", tags=["exhibits"])
def set_handling(reference: str, body: NewHandling, who: Who, request: Request) -> dict[str, Any]:
    """Change the handling code and the purposes agreed in advance besides the
    JIT's (a lead of the originating team): a HANDLING_CHANGED custody event."""
    return dict(change_exhibit(_w(request), who, reference, body).as_dict())


@router.post("/exhibits/{reference}/consent", tags=["exhibits"])
def consent(reference: str, body: Consent, who: Who, request: Request) -> dict[str, Any]:
    """Permit the exhibit's use in a team's judicial proceedings (needed for
    H1 exhibits; a lead of the originating team): JUDICIAL_USE_CONSENTED."""
    return dict(change_exhibit(_w(request), who, reference, body).as_dict())


@router.post("/exhibits/{reference}/sensitivity", tags=["exhibits"])
def sensitivity(reference: str, body: Sensitivity, who: Who, request: Request) -> dict[str, Any]:
    """Keep the exhibit out of defence-facing schedules, with the reason (or
    no longer): SENSITIVITY_SET."""
    return dict(change_exhibit(_w(request), who, reference, body).as_dict())


PREVIEWABLE = {"image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf"}


def _ascii(name: str) -> str:
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)


class _Stopped(Exception):
    """The client went away: the producer stops reading the store."""


def stream_download(fill: Any, *, media_type: str, headers: dict[str, str]) -> StreamingResponse:
    """Stream what ``fill(write)`` writes, produced on its own thread and
    handed over through a small bounded queue (memory stays bounded whatever
    the size). If ``fill`` fails halfway (a hash mismatch) the response is
    cut short, so the client sees a truncated transfer, never a
    complete-looking file; if the client goes away, ``fill`` is stopped
    (and records no ACCESSED event: the bytes were not delivered)."""
    handover: queue.Queue[Any] = queue.Queue(maxsize=8)
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
                if held is not None:
                    yield held
                held = item
            if held is not None:
                yield held
        finally:
            stopped.set()

    return StreamingResponse(body(), media_type=media_type, headers=headers)


# -- hand-offs ------------------------------------------------------------------------------


class NewTransfer(BaseModel):
    case: Annotated[str, Field(max_length=100)]
    exhibits: Annotated[
        list[Annotated[str, Field(max_length=100)]], Field(min_length=1, max_length=1000)
    ]
    to_team: Annotated[str, Field(max_length=20)]
    purpose: Annotated[
        str, Field(pattern="^(jit|other_offence|urgent_public_security|outside_jit)$")
    ] = "jit"
    legal_basis: Text = ""
    note: Text = ""


class Reason(BaseModel):
    reason: Text = ""


def transfer_view(w: Any, transfer: Any) -> dict[str, Any]:
    return {
        **transfer.as_dict(),
        "receipt_check": handoffs.check_receipt(w.catalog, transfer).as_dict(),
    }


@router.get("/transfers", tags=["hand-offs"])
def transfers(who: Who, request: Request, case: str | None = None) -> list[dict[str, Any]]:
    """The hand-offs the caller may see."""
    w = _w(request)
    return [transfer_view(w, t) for t in handoffs.visible_transfers(w.catalog, who.person, case)]


@router.post("/transfers", status_code=201, tags=["hand-offs"])
def request_transfer(body: NewTransfer, who: Who, request: Request) -> dict[str, Any]:
    """Ask to hand exhibits the caller's team holds to another team of the case."""
    w = _w(request)
    return transfer_view(w, file_request(w, who, body))


def file_request(w: Any, who: Caller, body: NewTransfer) -> Any:
    return handoffs.request_transfer(
        w.catalog,
        who.person,
        case_id=body.case,
        references=body.exhibits,
        to_team=body.to_team,
        purpose=parse_purpose(body.purpose),
        legal_basis=body.legal_basis,
        note=body.note,
    )


@router.get("/transfers/{transfer_id}", tags=["hand-offs"])
def transfer(transfer_id: str, who: Who, request: Request) -> dict[str, Any]:
    w = _w(request)
    return transfer_view(w, handoffs.checked_transfer(w.catalog, who.person, transfer_id))


def start_dispatch(request: Request, who: Caller, transfer: Any) -> dict[str, Any]:
    from flows.dispatch import dispatch

    return start_job(request, who, "dispatch", transfer.case_id, dispatch, transfer_id=transfer.id)


def approve_and_dispatch(
    request: Request, who: Caller, transfer_id: str, reason: str
) -> tuple[Any, dict[str, Any] | None]:
    """Approve; the transfer and the dispatch job it started, if any
    (``handoffs.dispatch_due``)."""
    w = _w(request)
    t = handoffs.decide(w.catalog, who.person, transfer_id, approve=True, reason=reason)
    job = (
        start_dispatch(request, who, t) if handoffs.dispatch_due(w.catalog, who.person, t) else None
    )
    return t, job


@router.post("/transfers/{transfer_id}/approve", tags=["hand-offs"])
def approve(transfer_id: str, body: Reason, who: Who, request: Request) -> dict[str, Any]:
    """Approve in every capacity the caller holds. The last approval starts
    the dispatch (a Prefect flow run: see ``job``)."""
    t, job = approve_and_dispatch(request, who, transfer_id, body.reason)
    return {**transfer_view(_w(request), t), "job": job}


@router.post("/transfers/{transfer_id}/reject", tags=["hand-offs"])
def reject(transfer_id: str, body: Reason, who: Who, request: Request) -> dict[str, Any]:
    w = _w(request)
    t = handoffs.decide(w.catalog, who.person, transfer_id, approve=False, reason=body.reason)
    return transfer_view(w, t)


@router.post("/transfers/{transfer_id}/cancel", tags=["hand-offs"])
def cancel(transfer_id: str, body: Reason, who: Who, request: Request) -> dict[str, Any]:
    w = _w(request)
    return transfer_view(w, handoffs.cancel(w.catalog, who.person, transfer_id, body.reason))


@router.post("/transfers/{transfer_id}/dispatch", status_code=202, tags=["hand-offs"])
def dispatch(transfer_id: str, who: Who, request: Request) -> dict[str, Any]:
    """Run (or finish) the dispatch of an approved transfer, as a flow run."""
    t = handoffs.check_dispatch(_w(request).catalog, who.person, transfer_id)
    return start_dispatch(request, who, t)


def sign_receipt(w: Any, who: Caller, transfer_id: str) -> Any:
    t = handoffs.checked_transfer(w.catalog, who.person, transfer_id)
    signer = w.keys.signer(t.to_team)
    return handoffs.receive(w.store, w.catalog, signer, w.clock, who.person, transfer_id)


@router.post("/transfers/{transfer_id}/receive", tags=["hand-offs"])
def receive(transfer_id: str, who: Who, request: Request) -> dict[str, Any]:
    """The receiving team re-reads its copies, then signs its receipt."""
    w = _w(request)
    return transfer_view(w, sign_receipt(w, who, transfer_id))


# -- disclosure bundles -----------------------------------------------------------------------


class NewBundle(BaseModel):
    case: Annotated[str, Field(max_length=100)]
    exhibits: Annotated[
        list[Annotated[str, Field(max_length=100)]] | None, Field(max_length=10000)
    ] = None
    all_held: bool = False


@router.get("/bundles", tags=["disclosure"])
def bundles(who: Who, request: Request, case: str | None = None) -> list[dict[str, Any]]:
    return [b.as_dict() for b in disclosure.visible_bundles(_w(request).catalog, who.person, case)]


@router.post("/bundles", status_code=202, tags=["disclosure"])
def create_bundle(body: NewBundle, who: Who, request: Request) -> dict[str, Any]:
    """Check the bundle now (a refusal, e.g. a missing consent, is answered at
    once), then build it as a Prefect flow run: follow ``/jobs/{id}``."""
    if body.all_held == bool(body.exhibits):
        raise InputError("name the exhibits, or set all_held")
    return start_bundle(request, who, body.case, None if body.all_held else body.exhibits)


def start_bundle(request: Request, who: Caller, case_id: str, chosen: list[str] | None) -> Any:
    """Check the plan now, then build the bundle as a flow run (a job)."""
    from flows.bundle import build_bundle

    w = _w(request)
    disclosure.plan_bundle(w.catalog, who.person, case_id, chosen)
    return start_job(
        request, who, "bundle", case_id, build_bundle, case_id=case_id, exhibits=chosen
    )


def start_job(
    request: Request, who: Caller, kind: str, case_id: str, flow: Any, /, **params: Any
) -> Any:
    """``flow(actor=..., **params)`` as a job that the caller can follow."""
    jobs = request.app.state.jobs
    now = _w(request).clock.now()
    return jobs.start(
        kind, who.person.name, case_id, now, flow, actor=who.person.name, **params
    ).as_dict()


@router.get("/jobs", tags=["disclosure"])
def jobs(who: Who, request: Request) -> list[dict[str, Any]]:
    """The caller's bundle builds and dispatches since the server started."""
    return [j.as_dict() for j in request.app.state.jobs.of(who.person.name)]


@router.get("/jobs/{job_id}", tags=["disclosure"])
def job(job_id: str, who: Who, request: Request) -> dict[str, Any]:
    return request.app.state.jobs.get(job_id, who.person.name).as_dict()


@router.get("/bundles/{bundle_id}", tags=["disclosure"])
def bundle(bundle_id: str, who: Who, request: Request) -> dict[str, Any]:
    return disclosure.checked_bundle(_w(request).catalog, who.person, bundle_id).as_dict()


@router.get(
    "/bundles/{bundle_id}/content",
    tags=["disclosure"],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}, "text/csv": {}}}},
)
def bundle_content(bundle_id: str, who: Who, request: Request, sensitive: bool = False) -> Response:
    """The stored bundle ZIP (or its sensitive schedule), checked against its
    recorded digest on the way."""
    w = _w(request)
    b = disclosure.checked_bundle(w.catalog, who.person, bundle_id, content=True)
    if sensitive and b.sensitive_key is None:
        raise InputError(f"bundle {b.id} has no sensitive schedule: nothing was kept out")
    name = f"{b.id}-sensitive.csv" if sensitive else f"{b.id}.zip"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if not sensitive:
        headers["Content-Length"] = str(b.size)

    def fill(write: Any) -> None:
        disclosure.download_bundle(w.store, b, write, sensitive)
        if not sensitive:  # the exhibits' bytes went out: ACCESSED, as for each exhibit
            disclosure.record_bundle_access(w.catalog, who.person, b)

    return stream_download(
        fill, media_type="text/csv" if sensitive else "application/zip", headers=headers
    )


@router.get("/bundles/{bundle_id}/verification", tags=["disclosure"])
def bundle_verification(bundle_id: str, who: Who, request: Request) -> dict[str, Any]:
    """The offline verification report of the stored bundle (the checks of
    ``jitev bundle verify``), run on a fresh read of the stored ZIP."""
    w = _w(request)
    b = disclosure.checked_bundle(w.catalog, who.person, bundle_id, content=True)
    return request.app.state.reports.get(w, b).as_dict()


# -- audit ----------------------------------------------------------------------------------


@router.get("/cases/{case_id}/verification", tags=["audit"])
def case_verification(case_id: str, who: Who, request: Request) -> dict[str, Any]:
    """Recompute the case's custody chain and check every exhibit row against it."""
    return handoffs.audit_case(_w(request).catalog, who.person, case_id).as_dict()


@router.get("/cases/{case_id}/events", tags=["audit"])
def case_events(
    case_id: str,
    who: Who,
    request: Request,
    exhibit: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 500,
) -> list[dict[str, Any]]:
    """Search a case's custody events (auditors and leads)."""
    found = handoffs.search_events(
        _w(request).catalog,
        who.person,
        case_id,
        exhibit=exhibit,
        action=action,
        actor=actor,
        text=text,
    )
    return [e.as_dict() for e in found[-limit:]]


@router.get("/access-log", tags=["audit"])
def access_log(
    who: Who,
    request: Request,
    action: str | None = None,
    actor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 500,
) -> dict[str, Any]:
    """Logins, logouts, password changes and API tokens, with the chain's check."""
    check, events = access.read_log(_w(request).catalog, who.person, action=action, actor=actor)
    return {"verification": check.as_dict(), "events": [e.as_dict() for e in events[-limit:]]}
