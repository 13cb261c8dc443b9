"""Errors as answers: what the services raise on purpose becomes an HTTP
status with the message (JSON ``{"error", "kind"}`` on ``/api``, the error
page elsewhere). A page that needs a login sends the browser to it."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from app.web.bounds import BodyStalled, BodyTooLarge, TooManyUploads, UploadsBusy
from app.web.templating import render
from evidence.errors import (
    Ambiguous,
    CatalogError,
    ConsentMissing,
    Denied,
    IllegalTransition,
    InputError,
    IntegrityError,
    JitevError,
    NotFound,
    NotSignedIn,
    StoreError,
    StoreUnavailable,
    TooManyAttempts,
)

log = logging.getLogger("jitev.web")

# Most specific first.
STATUS: list[tuple[type[JitevError], int]] = [
    (NotSignedIn, 401),
    (TooManyAttempts, 429),
    (TooManyUploads, 429),
    (UploadsBusy, 503),
    (BodyStalled, 408),
    (BodyTooLarge, 413),
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


def facts(exc: JitevError) -> dict[str, object]:
    """An error's structured facts for an API client, beside its message:
    the input ``field`` it is about, the ``transfer`` and its ``state``, the
    ``consents`` that must be given, the ``cases`` to choose from."""
    found: dict[str, object] = {}
    if isinstance(exc, InputError) and exc.field:
        found["field"] = exc.field
    if isinstance(exc, IllegalTransition):
        found.update(transfer=exc.transfer_id, state=exc.state)
    if isinstance(exc, Ambiguous):
        found["cases"] = list(exc.cases)
    if isinstance(exc, ConsentMissing):
        found["consents"] = [c._asdict() for c in exc.consents]
    return found


def page_message(exc: JitevError) -> str:
    """The message for a person on a page: the fix in the pages' terms."""
    if isinstance(exc, ConsentMissing):
        return f"{exc}\n(a lead of the originating team gives it on the exhibit's page)"
    return str(exc)


def install(app: FastAPI) -> None:
    @app.exception_handler(JitevError)
    async def jitev_error(request: Request, exc: JitevError) -> Response:
        status = status_of(exc)
        headers = {}
        if isinstance(exc, TooManyAttempts | UploadsBusy):
            headers["Retry-After"] = str(exc.retry_after)
        if request.url.path.startswith("/api/"):
            body = {"error": str(exc), "kind": type(exc).__name__, **facts(exc)}
            return JSONResponse(body, status_code=status, headers=headers)
        if isinstance(exc, NotSignedIn):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return render(
            request,
            "error.html",
            {"message": page_message(exc), "status": status},
            status=status,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        """A request that does not fit the API's schema: on the API, the same
        ``{"error", "kind"}`` answer as every other error, naming each field."""
        if not request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        return JSONResponse(
            {"error": validation_message(exc), "kind": "ValidationError"}, status_code=422
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        """No such route, method not allowed...: JSON on the API too. An
        error of ours while FastAPI read the body is answered as itself."""
        if isinstance(exc.__cause__, JitevError):
            return await jitev_error(request, exc.__cause__)
        if not request.url.path.startswith("/api/"):
            return await http_exception_handler(request, exc)
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no API route {request.url.path}: the routes are listed at /api/v1/docs"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}: see /api/v1/docs"
        return JSONResponse(
            {"error": message, "kind": "HTTPError"},
            status_code=exc.status_code,
            headers=exc.headers,
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


def validation_message(exc: RequestValidationError) -> str:
    """``query handling: String should match pattern '^H[0-3]$'; ...``"""
    parts = []
    for error in exc.errors():
        where = " ".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'not valid')}" if where else error.get("msg", ""))
    return "the request is not valid: " + "; ".join(parts)
