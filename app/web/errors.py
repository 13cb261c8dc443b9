"""Errors as answers: what the services raise on purpose becomes an HTTP
status with the message (JSON ``{"error", "kind"}`` on ``/api``, the error
page elsewhere). A page that needs a login sends the browser to it."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.web.templating import render
from evidence.access import NotSignedIn, TooManyAttempts
from evidence.errors import (
    CatalogError,
    Denied,
    IllegalTransition,
    InputError,
    IntegrityError,
    JitevError,
    NotFound,
    StoreError,
    StoreUnavailable,
)

log = logging.getLogger("jitev.web")

# Most specific first.
STATUS: list[tuple[type[JitevError], int]] = [
    (NotSignedIn, 401),
    (TooManyAttempts, 429),
    (Denied, 403),
    (NotFound, 404),
    (IllegalTransition, 409),
    (InputError, 400),
    (IntegrityError, 500),
    (StoreUnavailable, 503),
    (StoreError, 500),
    (CatalogError, 503),
]


def status_of(exc: JitevError) -> int:
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def install(app: FastAPI) -> None:
    @app.exception_handler(JitevError)
    async def jitev_error(request: Request, exc: JitevError) -> Response:
        status = status_of(exc)
        headers = {}
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        if request.url.path.startswith("/api/"):
            body = {"error": str(exc), "kind": type(exc).__name__}
            return JSONResponse(body, status_code=status, headers=headers)
        if isinstance(exc, NotSignedIn):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return render(
            request,
            "error.html",
            {"message": str(exc), "status": status},
            status=status,
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        """A bug, not a user mistake: logged with its trace by the server,
        answered with a plain message."""
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        message = "internal error: the server logged it; please report the time and page to the administrator"
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message, "kind": "InternalError"}, status_code=500)
        return render(request, "error.html", {"message": message, "status": 500}, status=500)
