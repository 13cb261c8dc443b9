"""``jitev serve``: one FastAPI application with the JSON API (``/api/v1``,
schema at ``/api/v1/openapi.json``) and the server-rendered pages.

``create_app(wiring)`` builds it on the same wiring as the CLI. Errors the
services raise on purpose become clear answers (``app.web.errors``): JSON on
the API, a page with the message on the pages; never a traceback. What a
request may cost the server is bounded (``app.web.bounds``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from app.jobs import Jobs
from app.web import api, errors, pages
from app.web.bounds import BodyGuard, Uploads
from app.web.context import WebContext
from app.web.reports import Reports
from config.settings import WebSettings
from config.wiring import Wiring
from evidence.ports import PasswordHasher
from storage.passwords import Argon2Hasher

STATIC = Path(__file__).parent / "static"


def server_options(web: WebSettings) -> dict[str, Any]:
    """How uvicorn serves the app (``jitev serve``, and the tests' server)."""
    return {
        # Forwarded headers from [web] trusted_proxies only (uvicorn's own
        # default believes them from 127.0.0.1, whoever connects there).
        "proxy_headers": bool(web.trusted_proxies),
        "forwarded_allow_ips": web.trusted_proxies,
        "limit_concurrency": web.max_connections,
        "timeout_keep_alive": 5,  # seconds an idle connection is kept between requests
        "h11_max_incomplete_event_size": 16 * 1024,  # a request's head, at most (400 above)
    }


def create_app(wiring: Wiring, hasher: PasswordHasher | None = None) -> FastAPI:
    # Jobs are flow runs on Prefect; on the embedded default this process serves
    # the deployments that run them, from its first submission to its shutdown.
    jobs = Jobs(wiring.settings, serve=True)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        jobs.close()

    app = FastAPI(
        lifespan=lifespan,
        title="jitev",
        summary="Evidence workflow for EU Joint Investigation Teams",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    web = wiring.settings.web
    uploads = Uploads(web.max_uploads, web.max_uploads_per_person)
    app.state.jitev = WebContext(wiring, hasher or Argon2Hasher(), jobs, Reports(), uploads)
    app.include_router(api.router)
    app.include_router(pages.router)
    raw = (api.upload, api.upload_batch)
    # the router's own routes: FastAPI 0.150 no longer copies them into app.routes
    streamed = [r for r in api.router.routes if isinstance(r, APIRoute) and r.endpoint in raw]
    app.add_middleware(BodyGuard, idle=web.upload_idle_seconds, uploads=streamed)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    errors.install(app)
    return app
