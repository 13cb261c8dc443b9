"""The commands in client mode, continued (``remote_commands`` says how
they answer): ``jitev case list``, ``ledger verify``, ``audit run|list|show``
and ``jobs list|show|retry`` through a jitev server's API.

A case's verification, its fixity audits and a person's jobs are the API's
``/cases/{id}/verification``, ``/cases/{id}/audits`` (``POST /audits`` runs
one, a job) and ``/jobs``; without ``--case``, a command does each case of
the person's team (``GET /cases``), as it does in direct mode."""

from __future__ import annotations

from typing import Any

import typer

from app import render
from app.cli import remote_values as rv
from app.cli.common import console, print_json
from app.cli.remote_commands import Json, follow, listed, part, wait_for
from app.client import Login, Server

JOBS_SHOWN = 50  # the latest jobs a list shows, as in direct mode (app.jobs.PAGE)


def _cases(server: Server, case: str | None) -> list[str]:
    """The case named, or every case of the person's team."""
    if case is not None:
        return [case]
    return [str(c["id"]) for c in listed(server, "/cases")]


def case_list(server: Server, login: Login, as_json: bool = False) -> None:
    found = list(listed(server, "/cases"))
    if as_json:
        print_json(found)
    else:
        render.cases(console, [rv.rebuilt(server.url, "case", rv.case, c) for c in found])


def ledger_verify(
    server: Server,
    login: Login,
    case: str | None = None,
    objects: bool = False,
    as_json: bool = False,
) -> None:
    """Each case's chain, catalog rows (and, with ``objects``, stored copies)
    verified by the server; exits 1 when anything does not match."""
    reports = [
        server.get(f"/cases/{part(c)}/verification", objects=objects or None)
        for c in _cases(server, case)
    ]
    if as_json:
        print_json(reports)
    else:
        if not reports:
            console.print("No cases yet.")
        for r in reports:
            render.report(console, rv.rebuilt(server.url, "report", rv.report, r))
    if not all(r.get("ok") for r in reports):
        raise typer.Exit(1)


# -- fixity audits ---------------------------------------------------------------------------


def _audit(server: Server, case: str, which: str) -> Json:
    found: Json = server.get(f"/cases/{part(case)}/audits/{part(which)}")
    return found


def _show_audit(server: Server, found: Json) -> None:
    event = rv.rebuilt(server.url, "custody event", rv.event, found["event"])
    failures = [rv.rebuilt(server.url, "custody event", rv.event, f) for f in found["failures"]]
    render.fixity_audit(console, event, failures)


def audit_run(
    server: Server,
    login: Login,
    case: str | None = None,
    everything: bool = False,
    wait: bool = False,
    as_json: bool = False,
) -> None:
    """POST /audits: refused at once to who may not audit, run by a job;
    with ``wait``, each case's audit as the direct command answers it."""
    job = server.post("/audits", {"case": case, "all_copies": everything})
    done = follow(server, job, wait, as_json)
    if not wait:
        return
    rows = done["result"] if isinstance(done["result"], list) else [done["result"]]
    audits = []
    for row in (r for r in rows if isinstance(r, dict) and "seq" in r):
        found = _audit(server, str(row["case"]), str(row["seq"]))
        failures = found["failures"]
        audits.append(
            {"case": row["case"], "ok": not failures, "event": found["event"], "failures": failures}
        )
    if as_json:
        print_json(audits)
    else:
        if not audits:
            console.print("No cases yet.")
        for a in audits:
            _show_audit(server, a)
    if not all(a["ok"] for a in audits):
        raise typer.Exit(1)


def audit_list(
    server: Server, login: Login, case: str | None = None, as_json: bool = False
) -> None:
    found = [e for c in _cases(server, case) for e in listed(server, f"/cases/{part(c)}/audits")]
    if as_json:
        print_json(found)
    else:
        events = [rv.rebuilt(server.url, "custody event", rv.event, e) for e in found]
        render.fixity_audits(console, events)


def audit_show(server: Server, login: Login, which: str, case: str, as_json: bool = False) -> None:
    found = _audit(server, case, which)
    if as_json:
        print_json({"event": found["event"], "failures": found["failures"]})
    else:
        _show_audit(server, found)
    if found["failures"]:
        raise typer.Exit(1)


# -- jobs ------------------------------------------------------------------------------------


def _job_line(server: Server, job: Json) -> None:
    render.job(console, rv.rebuilt(server.url, "job", rv.job, job))


def jobs_list(server: Server, login: Login, kind: str | None = None, as_json: bool = False) -> None:
    """Your latest jobs at the server, newest first (the first page of the list)."""
    answer: Any = server.get("/jobs", kind=kind, limit=JOBS_SHOWN)
    found = answer["items"] if isinstance(answer, dict) else answer[:JOBS_SHOWN]
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("No jobs yet.")
    for job in found:
        _job_line(server, job)


def jobs_show(
    server: Server, login: Login, job_id: str, wait: bool = False, as_json: bool = False
) -> None:
    job = server.get(f"/jobs/{part(job_id)}")
    if wait:
        job = wait_for(server, job)
    if as_json:
        print_json(job)
        return
    _job_line(server, job)
    render.job_result(console, rv.rebuilt(server.url, "job", rv.job, job))
    if job["state"] in ("FAILED", "CRASHED") and not wait:
        raise typer.Exit(1)


def jobs_retry(server: Server, login: Login, job_id: str, as_json: bool = False) -> None:
    job = server.post(f"/jobs/{part(job_id)}/retry")
    if as_json:
        print_json(job)
    else:
        _job_line(server, job)
