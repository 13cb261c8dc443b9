"""The JSON API under ``/api/v1``: routes only. Each route takes the caller
(``app.web.security``), calls an action (``app.actions``) or a domain query,
and answers with the model its declaration names (``app.web.schemas``). No
rule lives here: the domain asks ``evidence.policy``, and its errors become
HTTP answers in ``app.web.errors``."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from app import actions
from app import jobs as job_runs
from app.web import calls, security
from app.web import schemas as s
from app.web.context import of, wiring
from app.web.security import Caller
from app.web.streams import (
    PREVIEWABLE,
    BodyReader,
    header_name,
    stream_download,
    upload_length,
)
from config.wiring import Wiring
from evidence import access, audit, disclosure, fixity, selections, verified, visibility
from evidence.errors import InputError
from evidence.models import Transfer
from evidence.policy import Right

router = APIRouter(prefix="/api/v1")
Who = Annotated[Caller, Depends(security.caller)]
Paged = Annotated[s.PageQuery, Depends()]
W = Annotated[Wiring, Depends(wiring)]
Json = dict[str, Any]


# -- signing in ---------------------------------------------------------------------------


@router.post("/session", tags=["signing in"], response_model=s.SessionOut)
def log_in(body: s.Login, request: Request, response: Response, w: W) -> Json:
    """Log in with a password: sets the session cookie; the answer carries
    the CSRF token to send as ``X-CSRF-Token`` on every state-changing call."""
    person, secret, session = access.login(
        w.catalog,
        of(request).hasher,
        body.name,
        body.password,
        client=security.client(request),
        now=w.clock.now(),
    )
    security.set_session_cookie(request, response, secret)
    return {"person": person.as_dict(), "csrf": session.csrf}


@router.delete("/session", tags=["signing in"], response_model=s.LoggedOut)
def log_out(who: Who, request: Request, response: Response, w: W) -> Json:
    """End the session (a browser's; API tokens are revoked instead)."""
    if who.session is None:
        raise InputError("an API token has no session: revoke it with DELETE /api/v1/tokens/ID")
    access.logout(w.catalog, who.secret, client=security.client(request), now=w.clock.now())
    security.clear_session_cookie(response)
    return {"logged_out": who.person.name}


@router.get("/me", tags=["signing in"], response_model=s.MeOut)
def me(who: Who) -> Json:
    return {**who.person.as_dict(), "csrf": who.csrf or None}


@router.post("/me/password", tags=["signing in"], response_model=s.PasswordChanged)
def change_password(body: s.NewPassword, who: Who, request: Request) -> Json:
    """Change your own password (the current one first); your other sessions end."""
    security.change_password(request, body.current, body.new, who)
    return {"password_changed": who.person.name}


@router.get("/tokens", tags=["signing in"], response_model=list[s.TokenOut])
def tokens(who: Who, w: W) -> list[Json]:
    return [t.as_dict() for t in w.catalog.tokens(who.person.name)]


@router.post("/tokens", status_code=201, tags=["signing in"], response_model=s.NewTokenOut)
def create_token(body: s.NewToken, who: Who, w: W) -> Json:
    """A new API token: its secret is in this answer only, and stored hashed."""
    token, secret = access.issue_token(w.catalog, who.person, body.label, w.clock.now())
    return {**token.as_dict(), "secret": secret}


@router.delete("/tokens/{token_id}", tags=["signing in"], response_model=s.TokenOut)
def revoke_token(token_id: str, who: Who, w: W) -> Json:
    return access.revoke_token(w.catalog, who.person, token_id, w.clock.now()).as_dict()


# -- cases and exhibits ----------------------------------------------------------------------


@router.get("/cases", tags=["exhibits"], response_model=list[s.CaseOut])
def cases(who: Who, w: W) -> list[Json]:
    """The cases of the caller's team."""
    return [c.as_dict() for c in visibility.member_cases(w.catalog, who.person, None)]


Filter = Annotated[str | None, Query(max_length=100)]


@router.get("/exhibits", tags=["exhibits"], response_model=s.PageOut[s.ExhibitOut])
def exhibits(
    who: Who,
    w: W,
    page: Paged,
    case: Filter = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Text in reference, title or description")
    ] = None,
    hash: Annotated[
        str | None, Query(max_length=64, description="Hex prefix (4+) of the SHA-256 or BLAKE3")
    ] = None,
    media_type: Annotated[
        str | None, Query(max_length=255, description="image/png, or a type's prefix: image/")
    ] = None,
    team: Annotated[str | None, Query(max_length=100, description="Originating team")] = None,
    status: Annotated[str | None, Query(pattern="^(stored|quarantined)$")] = None,
    handling: Annotated[str | None, Query(pattern="^H[0-3]$")] = None,
    seized_from: Annotated[
        str | None, Query(max_length=40, description="ISO 8601 date, or date-time with offset")
    ] = None,
    seized_to: Annotated[
        str | None, Query(max_length=40, description="ISO 8601; a date: its whole day")
    ] = None,
) -> Json:
    """The exhibits the caller may view that match, a page at a time, in
    case, team and exhibit-number order, with how many match in all."""
    match = s.ExhibitMatch(
        q=q,
        hash=hash,
        media_type=media_type,
        team=team,
        status=status,
        handling=handling,
        seized_from=seized_from,
        seized_to=seized_to,
    ).as_filter(case)
    found = visibility.exhibit_page(w.catalog, who.person, match, page.cursor, page.limit)
    return found.as_dict(lambda ex: ex.as_dict())


@router.post("/selections", status_code=201, tags=["disclosure"], response_model=s.SelectionOut)
def create_selection(body: s.NewSelection, who: Who, w: W) -> Json:
    """Freeze the exhibits of the case that your team holds and that match,
    for a bundle (a prosecutor): "all N matching" as one id. The references
    are those matching now; what matches later is not added."""
    made = actions.select_for_bundle(w, who.person, body.as_filter(body.case))
    return {**made.as_dict(), "sample": selections.sample(w.catalog, made)}


@router.get("/selections/{selection_id}", tags=["disclosure"], response_model=s.SelectionOut)
def selection(selection_id: str, who: Who, w: W) -> Json:
    """A selection you made: its count and its first references."""
    found = selections.checked_selection(w.catalog, who.person, selection_id)
    return {**found.as_dict(), "sample": selections.sample(w.catalog, found)}


UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    "/cases/{case_id}/exhibits",
    status_code=201,
    tags=["exhibits"],
    openapi_extra=UPLOAD_BODY,
    response_model=s.OutcomeOut,
)
async def upload(
    case_id: str,
    who: Who,
    request: Request,
    w: W,
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
) -> Json:
    """Ingest one file, sent as the raw request body (``application/octet-stream``)
    with its ``Content-Length``: streamed once through BLAKE3 + SHA-256 into
    write-once storage, then recorded with its INGESTED custody event. Over
    the bounds of concurrent uploads, 429 (yours) or 503 (the server's) with
    ``Retry-After``; no bytes for ``[web] upload_idle_seconds``, 408."""
    fields: dict[str, str | None] = {
        "title": title,
        "description": description,
        "seized_at": seized_at,
        "seized_by": seized_by,
        "seized_from": seized_from,
        "declared_hash": declared_hash,
        "handling": handling,
        "handling_note": handling_note,
    }
    web = w.settings.web
    length = upload_length(request, name, web.max_upload_mib)
    endpoint = f"POST {request.url.path}"
    with of(request).uploads.slot(who.person.name, endpoint) as threads:
        stream = request.stream().__aiter__()
        body = BodyReader(stream, length, f"upload {name} to {endpoint}")
        outcome = await anyio.to_thread.run_sync(
            lambda: actions.upload(
                w, who.person, case_id=case_id, name=name, length=length, body=body, fields=fields
            ),
            limiter=threads,
        )
    return outcome.as_dict()


BATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-jitev-batch": {"schema": {"type": "string", "format": "binary"}}
        },
    }
}


@router.post(
    "/cases/{case_id}/uploads",
    status_code=201,
    tags=["exhibits"],
    openapi_extra=BATCH_BODY,
    response_model=list[s.OutcomeOut],
)
async def upload_batch(case_id: str, who: Who, request: Request, w: W) -> list[Json]:
    """Ingest many files sent as one body in the batch format of
    ``evidence.uploads`` (what ``jitev ingest`` sends in client mode): each
    file's header gives its relative path, size, metadata and the BLAKE3 and
    SHA-256 the sender computed; a file whose bytes give other digests is
    ``changed`` and not recorded. Groups of files are committed as they
    arrive: a batch cut off keeps what was committed."""
    endpoint = f"POST {request.url.path}"
    length = upload_length(request, "batch", w.settings.web.max_upload_mib)
    with of(request).uploads.slot(who.person.name, endpoint) as threads:
        body = BodyReader(request.stream().__aiter__(), length, f"upload batch to {endpoint}")
        outcomes = await anyio.to_thread.run_sync(
            lambda: actions.upload_batch(w, who.person, case_id=case_id, body=body, what=endpoint),
            limiter=threads,
        )
    return [o.as_dict() for o in outcomes]


@router.post(
    "/cases/{case_id}/exhibits/known", tags=["exhibits"], response_model=list[s.ExhibitOut]
)
def known(case_id: str, body: s.Contents, who: Who, w: W) -> list[Json]:
    """Which of these contents (BLAKE3) your team has already ingested in the
    case: what a resumed upload does not send again."""
    return [ex.as_dict() for ex in actions.known(w, who.person, case_id, body.blake3)]


CaseQuery = Annotated[
    str | None, Query(description="The case, for a reference more than one case uses")
]


@router.get("/exhibits/{reference}", tags=["exhibits"], response_model=s.ExhibitContinuityOut)
def exhibit(reference: str, who: Who, w: W, case: CaseQuery = None) -> Json:
    """An exhibit, the teams that hold it, and its continuity (the custody
    events of the exhibit)."""
    found, events = visibility.continuity(w.catalog, who.person, reference, case)
    holders = w.catalog.holdings(found.case_id).get(found.reference, [])
    return {
        **found.as_dict(),
        "holders": [h.as_dict() for h in holders],
        "continuity": [e.as_dict() for e in events],
    }


@router.get(
    "/exhibits/{reference}/content",
    tags=["exhibits"],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def download(
    reference: str, who: Who, w: W, inline: bool = False, case: CaseQuery = None
) -> Response:
    """The exhibit's bytes, from the caller's team's copy, hashed on the way;
    recorded as an ACCESSED custody event once they matched the ledger.
    ``inline`` (the preview) only for images and PDFs."""
    ex = visibility.checked_exhibit(w.catalog, who.person, Right.DOWNLOAD, reference, case)
    inline = inline and ex.media_type in PREVIEWABLE
    disposition = "inline" if inline else "attachment"
    return stream_download(
        lambda write: actions.download_exhibit(w, who.person, reference, write, ex.case_id),
        media_type=ex.media_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f'{disposition}; filename="{reference}-{header_name(ex.original_name)}"',
            "Content-Length": str(ex.size),
            "X-Content-SHA256": ex.sha256,
            "X-Content-BLAKE3": ex.blake3,
            # Served bytes never run as this site's page: no scripts, no sniffing
            # (only images and PDFs are previewed inline; SVG and HTML never are).
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/exhibits/{reference}/handling", tags=["exhibits"], response_model=s.EventOut)
def set_handling(
    reference: str, body: s.NewHandling, who: Who, w: W, case: CaseQuery = None
) -> Json:
    """Change the handling code and the purposes agreed in advance besides the
    JIT's (a lead of the originating team): a HANDLING_CHANGED custody event."""
    return calls.change_exhibit(w, who, reference, body, case).as_dict()


@router.post("/exhibits/{reference}/consent", tags=["exhibits"], response_model=s.EventOut)
def consent(reference: str, body: s.Consent, who: Who, w: W, case: CaseQuery = None) -> Json:
    """Permit the exhibit's use in a team's judicial proceedings (needed for
    H1 exhibits; a lead of the originating team): JUDICIAL_USE_CONSENTED."""
    return calls.change_exhibit(w, who, reference, body, case).as_dict()


@router.post("/exhibits/{reference}/sensitivity", tags=["exhibits"], response_model=s.EventOut)
def sensitivity(
    reference: str, body: s.Sensitivity, who: Who, w: W, case: CaseQuery = None
) -> Json:
    """Keep the exhibit out of defence-facing schedules, with the reason (or
    no longer): SENSITIVITY_SET."""
    return calls.change_exhibit(w, who, reference, body, case).as_dict()


# -- hand-offs ------------------------------------------------------------------------------


def _transfer_view(w: Wiring, transfer: Transfer) -> Json:
    check = actions.receipt_check(w, transfer)
    return {**transfer.as_dict(), "receipt_check": check.as_dict() if check else None}


@router.get("/transfers", tags=["hand-offs"], response_model=s.PageOut[s.TransferOut])
def transfers(who: Who, w: W, page: Paged, case: str | None = None) -> Json:
    """The hand-offs the caller may see, a page at a time, in case and number order."""
    found = visibility.transfer_page(w.catalog, who.person, case, page.cursor, page.limit)
    return found.as_dict(lambda t: _transfer_view(w, t))


@router.post("/transfers", status_code=201, tags=["hand-offs"], response_model=s.TransferOut)
def request_transfer(body: s.NewTransfer, who: Who, w: W) -> Json:
    """Ask to hand exhibits the caller's team holds to another team of the case."""
    return _transfer_view(w, calls.file_request(w, who, body))


@router.get("/transfers/{transfer_id}", tags=["hand-offs"], response_model=s.TransferOut)
def transfer(transfer_id: str, who: Who, w: W) -> Json:
    return _transfer_view(w, visibility.checked_transfer(w.catalog, who.person, transfer_id))


@router.post("/transfers/{transfer_id}/approve", tags=["hand-offs"], response_model=s.ApprovalOut)
def approve(
    transfer_id: str,
    body: s.Reason,
    who: Who,
    request: Request,
    w: W,
    dispatch: Annotated[
        bool, Query(description="Start the dispatch when this is the last approval")
    ] = True,
) -> Json:
    """Approve in every capacity the caller holds. The last approval starts
    the dispatch (a Prefect flow run: see ``job``) when the caller may
    dispatch, unless ``dispatch`` is false."""
    t, job = calls.approve(of(request).jobs, w, who, transfer_id, body.reason, dispatch)
    return {**_transfer_view(w, t), "job": job.as_dict() if job else None}


@router.post("/transfers/{transfer_id}/reject", tags=["hand-offs"], response_model=s.TransferOut)
def reject(transfer_id: str, body: s.Reason, who: Who, w: W) -> Json:
    return _transfer_view(w, actions.reject(w, who.person, transfer_id, body.reason))


@router.post("/transfers/{transfer_id}/cancel", tags=["hand-offs"], response_model=s.TransferOut)
def cancel(transfer_id: str, body: s.Reason, who: Who, w: W) -> Json:
    return _transfer_view(w, actions.cancel(w, who.person, transfer_id, body.reason))


@router.post(
    "/transfers/{transfer_id}/dispatch",
    status_code=202,
    tags=["hand-offs"],
    response_model=s.JobOut,
)
def dispatch(transfer_id: str, who: Who, request: Request, w: W) -> Json:
    """Run (or finish) the dispatch of an approved transfer, as a flow run."""
    t = actions.check_dispatch(w, who.person, transfer_id)
    return job_runs.submit_dispatch(of(request).jobs, who.person, t).as_dict()


@router.post("/transfers/{transfer_id}/receive", tags=["hand-offs"], response_model=s.TransferOut)
def receive(transfer_id: str, who: Who, w: W) -> Json:
    """The receiving team re-reads its copies, then signs its receipt."""
    return _transfer_view(w, actions.receive(w, who.person, transfer_id))


# -- disclosure bundles -----------------------------------------------------------------------


@router.get("/bundles", tags=["disclosure"], response_model=s.PageOut[s.BundleOut])
def bundles(who: Who, w: W, page: Paged, case: str | None = None) -> Json:
    """The bundles the caller may see, a page at a time, in case, team and number order."""
    found = disclosure.bundle_page(w.catalog, who.person, case, page.cursor, page.limit)
    return found.as_dict(lambda b: b.as_dict())


@router.post("/bundles", status_code=202, tags=["disclosure"], response_model=s.JobOut)
def create_bundle(body: s.NewBundle, who: Who, request: Request, w: W) -> Json:
    """Check the bundle now (a refusal, e.g. a missing consent, is answered at
    once), then build it as a Prefect flow run: follow ``/jobs/{id}``."""
    if [bool(body.exhibits), body.all_held, body.selection is not None].count(True) != 1:
        raise InputError("name the exhibits, set all_held, or give a selection", field="exhibits")
    chosen = body.exhibits if body.exhibits else None
    job = job_runs.submit_bundle(of(request).jobs, w, who.person, body.case, chosen, body.selection)
    return job.as_dict()


@router.get("/jobs", tags=["disclosure"], response_model=s.PageOut[s.JobOut])
def jobs(
    who: Who,
    request: Request,
    page: Paged,
    kind: Annotated[
        str | None, Query(max_length=20, description="bundle, dispatch, audit...")
    ] = None,
) -> Json:
    """The caller's jobs (bundle builds, dispatches, audits...), newest first, a
    page at a time, read from Prefect: a restart of the web server loses none."""
    found = of(request).jobs.page(who.person.name, kind, page.cursor, page.limit)
    return found.as_dict(lambda j: j.as_dict())


@router.get("/jobs/{job_id}", tags=["disclosure"], response_model=s.JobOut)
def job(job_id: str, who: Who, request: Request) -> Json:
    return of(request).jobs.get(job_id, who.person.name).as_dict()


@router.post("/jobs/{job_id}/retry", tags=["disclosure"], response_model=s.JobOut)
def retry_job(job_id: str, who: Who, request: Request) -> Json:
    """Run a crashed, failed or cancelled job of yours again (the same flow
    run): it does only what was left, and records nothing twice."""
    return of(request).jobs.retry(job_id, who.person.name).as_dict()


@router.get("/bundles/{bundle_id}", tags=["disclosure"], response_model=s.BundleOut)
def bundle(bundle_id: str, who: Who, w: W) -> Json:
    return disclosure.checked_bundle(w.catalog, who.person, bundle_id).as_dict()


@router.get(
    "/bundles/{bundle_id}/content",
    tags=["disclosure"],
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}, "text/csv": {}}}},
)
def bundle_content(bundle_id: str, who: Who, w: W, sensitive: bool = False) -> Response:
    """The stored bundle ZIP (or its sensitive schedule), checked against its
    recorded digest on the way; an ACCESSED event for each exhibit of a ZIP."""
    b = disclosure.checked_bundle(w.catalog, who.person, bundle_id, content=True)
    if sensitive and b.sensitive_key is None:
        raise InputError(f"bundle {b.id} has no sensitive schedule: nothing was kept out")
    headers = {"Content-Disposition": f'attachment; filename="{actions.bundle_name(b, sensitive)}"'}
    if not sensitive:
        headers["Content-Length"] = str(b.size)
    return stream_download(
        lambda write: actions.download_bundle(w, who.person, b.id, write, sensitive),
        media_type="text/csv" if sensitive else "application/zip",
        headers=headers,
    )


@router.get(
    "/bundles/{bundle_id}/verification", tags=["disclosure"], response_model=s.BundleReportOut
)
def bundle_verification(bundle_id: str, who: Who, request: Request, w: W) -> Json:
    """The offline verification report of the stored bundle (the checks of
    ``jitev bundle verify``), run on a fresh read of the stored ZIP."""
    b = disclosure.checked_bundle(w.catalog, who.person, bundle_id, content=True)
    return of(request).reports.get(w, b).as_dict()


# -- audit ----------------------------------------------------------------------------------


@router.get("/cases/{case_id}/verification", tags=["audit"], response_model=s.CaseReportOut)
def case_verification(
    case_id: str,
    who: Who,
    w: W,
    objects: Annotated[
        bool, Query(description="Also re-read every copy each team holds (slow: every byte).")
    ] = False,
) -> Json:
    """Recompute the case's custody chain and check every exhibit row against
    it; with ``objects``, re-read every stored copy too."""
    return actions.verify_cases(w, who.person, case_id, objects=objects)[0].as_dict()


@router.post("/audits", status_code=202, tags=["audit"], response_model=s.JobOut)
def run_audit(body: s.NewAudit, who: Who, request: Request, w: W) -> Json:
    """A fixity audit of the case's stored copies (or of every case of the
    caller's team), as a Prefect flow run: today's share of them, or all with
    ``all_copies``. Refused at once to who may not audit every case named."""
    jobs = of(request).jobs
    return job_runs.submit_audit(jobs, w, who.person, body.case, body.all_copies).as_dict()


@router.get("/cases/{case_id}/audits", tags=["audit"], response_model=list[s.EventOut])
def fixity_audits(case_id: str, who: Who, w: W) -> list[Json]:
    """The case's fixity audits (FIXITY_AUDITED events), oldest first."""
    return [e.as_dict() for e in fixity.audits(w.catalog, who.person, case_id)]


@router.get("/cases/{case_id}/audits/{which}", tags=["audit"], response_model=s.FixityAuditOut)
def fixity_audit(case_id: str, which: str, who: Who, w: W) -> Json:
    """One fixity audit, by its event's sequence number or hash, and its
    FIXITY_FAILED events."""
    event, failures = fixity.audit_event(w.catalog, who.person, case_id, which)
    return {"event": event.as_dict(), "failures": [f.as_dict() for f in failures]}


@router.get("/cases/{case_id}/events", tags=["audit"], response_model=s.PageOut[s.EventOut])
def case_events(
    case_id: str,
    who: Who,
    w: W,
    page: Paged,
    exhibit: str | None = None,
    action: str | None = None,
    actor: str | None = None,
    text: Annotated[str | None, Query(max_length=200)] = None,
) -> Json:
    """Search a case's custody events (auditors and leads), a page at a time in
    seq order (``text`` matches anywhere in an event: it reads the case's events)."""
    found = audit.event_page(
        w.catalog,
        who.person,
        case_id,
        page.cursor,
        page.limit,
        exhibit=exhibit,
        action=action,
        actor=actor,
        text=text,
    )
    return found.as_dict(lambda e: e.as_dict())


@router.get("/access-log", tags=["audit"], response_model=s.AccessLogOut)
def access_log(
    who: Who,
    w: W,
    page: Paged,
    action: str | None = None,
    actor: str | None = None,
    full: Annotated[
        bool, Query(description="Recompute the whole chain, not only what is new")
    ] = False,
) -> Json:
    """Logins, logouts, password changes and API tokens, a page at a time in seq
    order, with the chain's check: the events since the head this server
    verified last, or with ``full`` the whole chain."""
    check, found = verified.access_log(
        w.catalog,
        w.verified_heads(),
        who.person,
        page.cursor,
        page.limit,
        w.clock.now(),
        action=action,
        actor=actor,
        full=full,
    )
    return {"verification": check.as_dict(), **found.as_dict(lambda e: e.as_dict())}
