"""The server-rendered pages. Each page gathers what the services let the
caller see (every rule is ``evidence.policy``'s, asked through the
services, or ``policy.carries`` for the page itself) and renders a template.
Forms post back here with the session's CSRF token; uploads go straight to
the API from ``static/upload.js``."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from app import actions
from app import jobs as job_runs
from app.jobs import Jobs
from app.web import calls, security
from app.web import schemas as s
from app.web.context import of, wiring
from app.web.errors import page_message
from app.web.security import Caller
from app.web.streams import PREVIEWABLE
from app.web.templating import render
from config.wiring import Wiring
from evidence import access, audit, disclosure, fixity, policy, selections, verified, visibility
from evidence.errors import Denied, InputError, JitevError, TooManyAttempts
from evidence.handling import use_of
from evidence.models import HandlingCode, Purpose, Role, TransferState
from evidence.paging import DEFAULT_LIMIT, MAX_LIMIT, Cursor
from evidence.policy import Right
from evidence.search import ExhibitFilter

router = APIRouter(include_in_schema=False)
Who = Annotated[Caller, Depends(security.caller)]
W = Annotated[Wiring, Depends(wiring)]
Field = Annotated[str, Form()]
M = TypeVar("M", bound=BaseModel)


def _back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _safe_next(target: str) -> str:
    """Only a path of this site (never another host) after a login."""
    ours = target.startswith("/") and not target.startswith(("//", "/\\"))
    return target if ours and target.isprintable() else "/"


# -- signing in -----------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", {"next": _safe_next(next)})


@router.post("/login")
def login(
    request: Request, w: W, name: Field, password: Field, next: Annotated[str, Form()] = "/"
) -> Response:
    try:
        _person, secret, _session = access.login(
            w.catalog,
            of(request).hasher,
            name,
            password,
            client=security.client(request),
            now=w.clock.now(),
        )
    except (Denied, InputError) as exc:
        status = 429 if isinstance(exc, TooManyAttempts) else 401
        context = {"next": _safe_next(next), "error": str(exc), "name": name}
        return render(request, "login.html", context, status=status)
    response = _back(_safe_next(next))
    security.set_session_cookie(request, response, secret)
    return response


@router.post("/logout")
def logout(who: Who, request: Request, w: W) -> Response:
    access.logout(w.catalog, who.secret, client=security.client(request), now=w.clock.now())
    response = _back("/login")
    security.clear_session_cookie(response)
    return response


HOME = [  # the first page of a role
    (Role.LEAD, "/handoffs"),
    (Role.INVESTIGATOR, "/upload"),
    (Role.PROSECUTOR, "/bundles"),
    (Role.AUDITOR, "/ledger"),
    (Role.ADMIN, "/account"),
]


@router.get("/")
def home(who: Who) -> Response:
    return _back(next(path for role, path in HOME if who.person.has(role)))


# -- exhibits ---------------------------------------------------------------------------------


@router.get("/upload")
def upload_page(who: Who, request: Request, w: W) -> Response:
    policy.carries(who.person, Right.INGEST).require()
    cases = [
        c
        for c in visibility.member_cases(w.catalog, who.person, None)
        if policy.decide(who.person, Right.INGEST, case=c, team=who.person.team).allowed
    ]
    limit = w.settings.web.max_upload_mib * 1024 * 1024
    context = {"cases": cases, "codes": list(HandlingCode), "max_upload": limit}
    return render(request, "upload.html", context)


EXHIBIT_FILTERS = (
    "q",
    "hash",
    "media_type",
    "team",
    "status",
    "handling",
    "seized_from",
    "seized_to",
)


def _match(request: Request, form: Any = None) -> tuple[dict[str, str], ExhibitFilter]:
    """A search's fields as typed (kept in the form and the pager's links),
    and its filter (``case`` included)."""
    given = form if form is not None else request.query_params
    typed = {k: str(given.get(k, "")) for k in ("case", *EXHIBIT_FILTERS)}
    known = {k: v for k, v in typed.items() if k in s.ExhibitMatch.model_fields and v}
    model = _form_model(s.ExhibitMatch, known)
    return typed, model.as_filter(typed["case"] or None)


@router.get("/exhibits")
def exhibits_page(who: Who, request: Request, w: W, cursor: str = "") -> Response:
    """A page of the exhibits the person may view that match the filter."""
    policy.carries(who.person, Right.VIEW).require()
    typed, match = _match(request)
    page = visibility.exhibit_page(
        w.catalog, who.person, match, Cursor.decode(cursor), DEFAULT_LIMIT
    )
    cases = visibility.member_cases(w.catalog, who.person, None)
    context = {
        "exhibits": page,
        "query": typed,
        "cases": cases,
        "teams": sorted({t.code for c in cases for t in c.teams}),
        "codes": list(HandlingCode),
        "filters": typed,
    }
    return render(request, "exhibits.html", context)


@router.get("/exhibits/{reference}")
def exhibit_page(reference: str, who: Who, request: Request, w: W) -> Response:
    exhibit, events = visibility.continuity(w.catalog, who.person, reference)
    case = w.catalog.case(exhibit.case_id)
    holders = [h.team for h in w.catalog.holdings(case.id).get(reference, [])]

    def may(right: Right, **extra: Any) -> bool:
        return policy.decide(
            who.person, right, case=case, exhibit=exhibit, holders=holders, **extra
        ).allowed

    # the teams the person may hand the exhibit to: the other members not holding it yet
    receivers = [t.code for t in case.teams if may(Right.REQUEST, team=t.code)]
    context = {
        "exhibit": exhibit,
        "case": case,
        "events": events,
        "holders": holders,
        "may_download": may(Right.DOWNLOAD),
        "preview": exhibit.media_type in PREVIEWABLE and may(Right.DOWNLOAD),
        "may_request": bool(receivers),
        "may_change": may(Right.SET_HANDLING),
        "use": use_of(events),
        "teams": [t.code for t in case.teams],
        "codes": list(HandlingCode),
        "other_teams": receivers,
        "purposes": list(Purpose),
    }
    return render(request, "exhibit.html", context)


CHANGES: dict[str, type[s.NewHandling | s.Consent | s.Sensitivity]] = {
    "handling": s.NewHandling,
    "consent": s.Consent,
    "sensitivity": s.Sensitivity,
}


@router.post("/exhibits/{reference}/{change}")
async def change_exhibit(reference: str, change: str, who: Who, request: Request, w: W) -> Response:
    if change not in CHANGES:
        raise InputError(f"no change {change!r}: handling, consent or sensitivity")
    form = await request.form()
    fields: dict[str, Any] = {k: str(v) for k, v in form.items() if k != "csrf"}
    if change == "handling":
        fields["purposes"] = [str(p) for p in form.getlist("purposes")]
    if change == "sensitivity":
        fields["sensitive"] = fields.get("sensitive") == "yes"
    calls.change_exhibit(w, who, reference, _form_model(CHANGES[change], fields))
    return _back(f"/exhibits/{reference}")


def _form_model(model: type[M], fields: dict[str, Any]) -> M:
    """A form's fields as the API's model: a form left incomplete is a 400
    that says what is missing, never a 500."""
    try:
        return model(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"the form is incomplete: {problems}") from None


# -- hand-offs --------------------------------------------------------------------------------


@router.get("/handoffs")
def handoffs_page(who: Who, request: Request, w: W, cursor: str = "") -> Response:
    policy.carries(who.person, Right.VIEW).require()
    history = visibility.transfer_page(
        w.catalog, who.person, None, Cursor.decode(cursor), DEFAULT_LIMIT
    )
    requested = visibility.transfer_page(  # what may wait on the person: the oldest first
        w.catalog, who.person, None, None, MAX_LIMIT, TransferState.REQUESTED
    )
    cases = {c.id: c for c in visibility.member_cases(w.catalog, who.person, None)}
    queue = [
        (t, capacities)
        for t in requested.items
        if (capacities := policy.capacities(who.person, cases[t.case_id], t))
    ]
    by_ref = {  # the titles of the queue's exhibits: one query per case, not per exhibit
        ex.reference: ex
        for case_id in {t.case_id for t, _ in queue}
        for ex in w.catalog.exhibits(case_id)
    }
    context = {
        "queue": queue,
        "history": history,
        "query": {},
        "exhibits": by_ref,
        "receivable": [
            t.id
            for t in history.items
            if t.state is TransferState.DISPATCHED and t.to_team == who.person.team
        ],
    }
    return render(request, "handoffs.html", context)


@router.post("/handoffs")
async def request_handoff(who: Who, request: Request, w: W) -> Response:
    form = await request.form()
    fields = {
        "case": str(form.get("case", "")),
        "exhibits": [str(r) for r in form.getlist("exhibits")],
        "to_team": str(form.get("to_team", "")),
        "purpose": str(form.get("purpose", "jit")),
        "legal_basis": str(form.get("legal_basis", "")),
        "note": str(form.get("note", "")),
    }
    calls.file_request(w, who, _form_model(s.NewTransfer, fields))
    return _back("/handoffs")


@router.post("/handoffs/{transfer_id}/{step}")
def handoff_step(
    transfer_id: str,
    step: str,
    who: Who,
    request: Request,
    w: W,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if step == "approve":
        calls.approve(of(request).jobs, w, who, transfer_id, reason)
    elif step == "reject":
        actions.reject(w, who.person, transfer_id, reason)
    elif step == "cancel":
        actions.cancel(w, who.person, transfer_id, reason)
    elif step == "dispatch":
        transfer = actions.check_dispatch(w, who.person, transfer_id)
        job_runs.submit_dispatch(of(request).jobs, who.person, transfer)
    elif step == "receive":
        actions.receive(w, who.person, transfer_id)
    else:
        raise InputError(f"no step {step!r}: approve, reject, cancel, dispatch or receive")
    return _back("/handoffs")


# -- disclosure bundles ------------------------------------------------------------------------


SMALL_CASE = 200  # held exhibits of a case up to which the bundle form lists them to tick


def _bundles_context(
    who: Caller, w: Wiring, jobs: Jobs, cursor: str = "", selection: str = ""
) -> dict[str, Any]:
    cases = visibility.member_cases(w.catalog, who.person, None)
    held = {  # a case's held exhibits to tick when there are few; else choose by filter
        case.id: visibility.exhibit_page(
            w.catalog, who.person, ExhibitFilter(case=case.id), None, SMALL_CASE, Right.DISCLOSE
        )
        for case in cases
    }
    chosen = None
    if selection:
        made = selections.checked_selection(w.catalog, who.person, selection)
        chosen = {"selection": made, "sample": selections.sample(w.catalog, made)}
    return {
        "bundles": disclosure.bundle_page(
            w.catalog, who.person, None, Cursor.decode(cursor), DEFAULT_LIMIT
        ),
        "query": {},
        "held": held,
        "small": SMALL_CASE,
        "chosen": chosen,
        "filters": dict.fromkeys(("case", *EXHIBIT_FILTERS), ""),
        "cases": cases,
        "teams": sorted({t.code for c in cases for t in c.teams}),
        "codes": list(HandlingCode),
        "jobs": jobs.of(who.person.name, "bundle"),
    }


@router.get("/bundles")
def bundles_page(
    who: Who, request: Request, w: W, cursor: str = "", selection: str = ""
) -> Response:
    policy.carries(who.person, Right.DISCLOSE).require()
    context = _bundles_context(who, w, of(request).jobs, cursor, selection)
    return render(request, "bundles.html", context)


def _refused(request: Request, who: Caller, w: Wiring, exc: JitevError, **extra: Any) -> Response:
    """The bundles page again, with the refusal explained (e.g. a missing consent)."""
    context = {**_bundles_context(who, w, of(request).jobs), **extra, "refusal": page_message(exc)}
    return render(request, "bundles.html", context, status=403 if isinstance(exc, Denied) else 400)


@router.post("/bundles/selections")
async def select_for_bundle(who: Who, request: Request, w: W) -> Response:
    """ "All N matching": the selection is made and frozen, then shown with
    its count and first references, to confirm with "Build bundle"."""
    policy.carries(who.person, Right.DISCLOSE).require()
    form = await request.form()
    try:
        typed, match = _match(request, form)
        if not typed["case"]:
            raise InputError("choose the case of the bundle", field="case")
        made = actions.select_for_bundle(w, who.person, match)
    except JitevError as exc:
        return _refused(request, who, w, exc)
    return _back(f"/bundles?selection={made.id}")


@router.post("/bundles")
async def create_bundle(who: Who, request: Request, w: W) -> Response:
    form = await request.form()
    jobs = of(request).jobs
    chosen = [str(r) for r in form.getlist("exhibits")]
    selection = str(form.get("selection", "")) or None
    try:
        if not chosen and selection is None:
            raise InputError("tick the exhibits to disclose, or select them by a filter")
        case = str(form.get("case", ""))
        # Off the event loop: the submission is a blocking call to Prefect.
        job = await run_in_threadpool(
            job_runs.submit_bundle, jobs, w, who.person, case, chosen or None, selection
        )
    except JitevError as exc:  # e.g. a missing consent: explained on the page
        return _refused(request, who, w, exc)
    return _back(f"/jobs/{job.id}")


@router.get("/jobs")
def jobs_page(who: Who, request: Request, cursor: str = "") -> Response:
    """The person's jobs, newest first, as Prefect records them."""
    found = of(request).jobs.page(who.person.name, None, Cursor.decode(cursor), DEFAULT_LIMIT)
    return render(request, "jobs.html", {"jobs": found, "query": {}})


@router.get("/jobs/{job_id}")
def job_page(job_id: str, who: Who, request: Request) -> Response:
    job = of(request).jobs.get(job_id, who.person.name)
    return render(request, "job.html", {"job": job})


@router.get("/bundles/{bundle_id}")
def bundle_page(bundle_id: str, who: Who, request: Request, w: W) -> Response:
    bundle = disclosure.checked_bundle(w.catalog, who.person, bundle_id)
    content = policy.can_see_bundle(
        who.person, w.catalog.case(bundle.case_id), bundle, content=True
    )
    report = of(request).reports.get(w, bundle) if content.allowed else None
    return render(request, "bundle.html", {"bundle": bundle, "report": report})


# -- audit ------------------------------------------------------------------------------------


@router.get("/ledger")
def ledger_page(
    who: Who,
    request: Request,
    w: W,
    case: str = "",
    action: str = "",
    actor: str = "",
    exhibit: str = "",
    text: str = "",
    cursor: str = "",
) -> Response:
    """Each case's chain and checkpoints verified from the head this server
    verified last (``evidence.verified``): only the events since are checked.
    The full verification is the button (``POST /ledger/verify``)."""
    asked = {"case": case, "action": action, "actor": actor, "exhibit": exhibit, "text": text}
    return render(request, "ledger.html", _ledger_context(who, w, {**asked, "cursor": cursor}))


@router.post("/ledger/verify")
def verify_ledger(who: Who, request: Request, w: W, case: Field) -> Response:
    """The full verification of a case: its whole chain, log, witnesses and
    catalog rows, and its verified head recorded again from the first event."""
    full, _look = actions.verify_fully(w, who.person, case)
    context = {**_ledger_context(who, w, {"case": case}), "full": full}
    return render(request, "ledger.html", context)


FILTERS = ("case", "action", "actor", "exhibit", "text")


def _ledger_context(who: Caller, w: Wiring, asked: dict[str, Any]) -> dict[str, Any]:
    if not policy.carries(who.person, Right.AUDIT).allowed:  # an admin reads the access log
        policy.carries(who.person, Right.READ_ACCESS_LOG).require()
    filters = {k: str(asked.get(k) or "") for k in FILTERS}
    looks = actions.look_ledgers(w, who.person)
    fixity_audits = [  # the latest ten of each case, newest first
        (c, e) for c, _ in looks for e in reversed(fixity.audits(w.catalog, who.person, c.id)[-10:])
    ]
    events = None
    if filters["case"]:
        events = audit.event_page(
            w.catalog,
            who.person,
            filters["case"],
            Cursor.decode(str(asked.get("cursor") or "")),
            DEFAULT_LIMIT,
            **{k: filters[k] or None for k in FILTERS if k != "case"},
        )
    log = None
    if policy.carries(who.person, Right.READ_ACCESS_LOG).allowed:
        log = verified.look_access(w.catalog, w.verified_heads(), who.person, w.clock.now())
    return {
        "checks": looks,
        "fixity_audits": fixity_audits,
        "events": events,
        "log": log,
        "filters": filters,
        "query": filters,
    }


@router.get("/access-log")
def access_log_page(
    who: Who, request: Request, w: W, action: str = "", actor: str = "", cursor: str = ""
) -> Response:
    """The access log, a page at a time, with its chain's check (since the
    last verified head; the whole chain with the button)."""
    return _access_log(who, request, w, action, actor, cursor, full=False)


@router.post("/access-log/verify")
def verify_access_log(who: Who, request: Request, w: W) -> Response:
    return _access_log(who, request, w, "", "", "", full=True)


def _access_log(
    who: Caller, request: Request, w: W, action: str, actor: str, cursor: str, *, full: bool
) -> Response:
    check, found = verified.access_log(
        w.catalog,
        w.verified_heads(),
        who.person,
        Cursor.decode(cursor),
        DEFAULT_LIMIT,
        w.clock.now(),
        action=action or None,
        actor=actor or None,
        full=full,
    )
    filters = {"action": action, "actor": actor}
    context = {"check": check, "events": found, "filters": filters, "query": filters}
    return render(request, "access_log.html", context)


# -- account ------------------------------------------------------------------------------------


@router.get("/account")
def account_page(who: Who, request: Request, w: W) -> Response:
    tokens = w.catalog.tokens(who.person.name)
    return render(request, "account.html", {"tokens": tokens})


@router.post("/account/password")
def change_password(
    who: Who, request: Request, w: W, current: Field, new: Field, repeat: Field
) -> Response:
    if new != repeat:
        raise InputError("the two new passwords differ: nothing was changed")
    security.change_password(request, current, new, who)
    context = {"tokens": w.catalog.tokens(who.person.name), "changed": True}
    return render(request, "account.html", context)


@router.post("/account/tokens")
def create_token(who: Who, request: Request, w: W, label: Field) -> Response:
    _token, secret = access.issue_token(w.catalog, who.person, label, w.clock.now())
    tokens = w.catalog.tokens(who.person.name)
    return render(request, "account.html", {"tokens": tokens, "secret": secret}, status=201)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(token_id: str, who: Who, w: W) -> Response:
    access.revoke_token(w.catalog, who.person, token_id, w.clock.now())
    return _back("/account")
