"""What the web application holds for every request: the wiring (the same as
the CLI's), the password hasher, the flow runs it started (``jobs``), the
verification reports it made (``reports``) and the uploads in progress
(``uploads``)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request

from app.jobs import Jobs
from app.web.bounds import Uploads
from app.web.reports import Reports
from config.wiring import Wiring
from evidence.ports import PasswordHasher


@dataclass(frozen=True)
class WebContext:
    wiring: Wiring
    hasher: PasswordHasher
    jobs: Jobs
    reports: Reports
    uploads: Uploads


def of(request: Request) -> WebContext:
    return of_app(request.app)


def of_app(app: FastAPI) -> WebContext:
    context = app.state.jitev
    assert isinstance(context, WebContext)
    return context


def wiring(request: Request) -> Wiring:
    """The wiring, as a FastAPI dependency."""
    return of(request).wiring
