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
from evidence import access, audit, disclosure, fixity, policy, visibility
from evidence.errors import Denied, InputError, JitevError, TooManyAttempts
from evidence.handling import use_of
from evidence.models import HandlingCode, Purpose, Role, TransferState
from evidence.policy import Right

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


@router.get("/exhibits")
def exhibits_page(
    who: Who,
    request: Request,
    w: W,
    case: str = "",
    team: str = "",
    status: str = "",
    handling: str = "",
) -> Response:
    policy.carries(who.person, Right.VIEW).require()
    chosen = visibility.visible_exhibits(
        w.catalog,
        who.person,
        case or None,
        team or None,
        status=status or None,
        handling=handling or None,
    )
    cases = visibility.member_cases(w.catalog, who.person, None)
    context = {
        "exhibits": chosen,
        "cases": cases,
        "teams": sorted({t.code for c in cases for t in c.teams}),
        "codes": list(HandlingCode),
        "filters": {"case": case, "team": team, "status": status, "handling": handling},
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
def handoffs_page(who: Who, request: Request, w: W) -> Response:
    policy.carries(who.person, Right.VIEW).require()
    visible = visibility.visible_transfers(w.catalog, who.person, None)
    cases = {c.id: c for c in visibility.member_cases(w.catalog, who.person, None)}
    queue = [
        (t, capacities)
        for t in visible
        if t.state is TransferState.REQUESTED
        and (capacities := policy.capacities(who.person, cases[t.case_id], t))
    ]
    by_ref = {  # the titles of the queue's exhibits: one query per case, not per exhibit
        ex.reference: ex
        for case_id in {t.case_id for t, _ in queue}
        for ex in w.catalog.exhibits(case_id)
    }
    context = {
        "queue": queue,
        "history": visible,
        "exhibits": by_ref,
        "receivable": [
            t.id
            for t in visible
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


def _bundles_context(who: Caller, w: Wiring, jobs: Jobs) -> dict[str, Any]:
    held = {
        case.id: disclosure.held_exhibits(w.catalog, case.id, who.person.team)
        for case in visibility.member_cases(w.catalog, who.person, None)
    }
    return {
        "bundles": disclosure.visible_bundles(w.catalog, who.person, None),
        "held": held,
        "jobs": jobs.of(who.person.name, "bundle"),
    }


@router.get("/bundles")
def bundles_page(who: Who, request: Request, w: W) -> Response:
    policy.carries(who.person, Right.DISCLOSE).require()
    return render(request, "bundles.html", _bundles_context(who, w, of(request).jobs))


@router.post("/bundles")
async def create_bundle(who: Who, request: Request, w: W) -> Response:
    form = await request.form()
    jobs = of(request).jobs
    chosen = [str(r) for r in form.getlist("exhibits")]
    try:
        if not chosen:
            raise InputError("tick the exhibits to disclose")
        case = str(form.get("case", ""))
        # Off the event loop: the submission is a blocking call to Prefect.
        job = await run_in_threadpool(job_runs.submit_bundle, jobs, w, who.person, case, chosen)
    except JitevError as exc:  # e.g. a missing consent: explained on the page
        context = {**_bundles_context(who, w, jobs), "refusal": page_message(exc)}
        return render(
            request, "bundles.html", context, status=403 if isinstance(exc, Denied) else 400
        )
    return _back(f"/jobs/{job.id}")


@router.get("/jobs")
def jobs_page(who: Who, request: Request) -> Response:
    """The person's latest jobs, as Prefect records them."""
    return render(request, "jobs.html", {"jobs": of(request).jobs.of(who.person.name)})


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
) -> Response:
    audits = policy.carries(who.person, Right.AUDIT)
    if not audits.allowed:  # an admin reads the access log here, and nothing else
        policy.carries(who.person, Right.READ_ACCESS_LOG).require()
    auditable = [
        c
        for c in visibility.member_cases(w.catalog, who.person, None)
        if policy.decide(who.person, Right.AUDIT, case=c).allowed
    ]
    checks = [(c, actions.verify_cases(w, who.person, c.id)[0]) for c in auditable]
    fixity_audits = [  # the latest ten of each case, newest first
        (c, e)
        for c in auditable
        for e in reversed(fixity.audits(w.catalog, who.person, c.id)[-10:])
    ]
    events = None
    if case:
        events = audit.search_events(
            w.catalog,
            who.person,
            case,
            exhibit=exhibit or None,
            action=action or None,
            actor=actor or None,
            text=text or None,
        )[-500:]
    log = None
    if policy.carries(who.person, Right.READ_ACCESS_LOG).allowed:
        log = access.read_log(w.catalog, who.person)
    context = {
        "checks": checks,
        "fixity_audits": fixity_audits,
        "events": events,
        "log": (log[0], log[1][-100:]) if log else None,
        "filters": {
            "case": case,
            "action": action,
            "actor": actor,
            "exhibit": exhibit,
            "text": text,
        },
    }
    return render(request, "ledger.html", context)


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
