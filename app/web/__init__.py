"""``jitev serve``: one FastAPI application with the JSON API (``/api/v1``,
schema at ``/api/v1/openapi.json``) and the server-rendered pages.

``create_app(wiring)`` builds it on the same wiring as the CLI. Errors the
services raise on purpose become clear answers (``app.web.errors``): JSON on
the API, a page with the message on the pages; never a traceback.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.web import api, errors, pages
from app.web.context import WebContext
from app.web.jobs import Jobs
from app.web.reports import Reports
from config.wiring import Wiring
from evidence.ports import PasswordHasher
from storage.passwords import Argon2Hasher

STATIC = Path(__file__).parent / "static"


def create_app(wiring: Wiring, hasher: PasswordHasher | None = None) -> FastAPI:
    app = FastAPI(
        title="jitev",
        summary="Evidence workflow for EU Joint Investigation Teams",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.jitev = WebContext(wiring, hasher or Argon2Hasher(), Jobs(), Reports())
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    errors.install(app)
    return app
