"""Who is calling, and may they post this form: the web layer's side of
``evidence.access``.

- A browser carries a session cookie (``jitev_session``: HttpOnly,
  SameSite=Strict, Secure over HTTPS). Every state-changing request it makes
  must also carry the session's CSRF token, in the ``X-CSRF-Token`` header
  (scripts) or the ``csrf`` form field (forms).
- A machine client sends ``Authorization: Bearer jitev_...`` (an API token);
  it has no cookie, so no CSRF token is needed.

What a caller may do is decided by ``evidence.policy`` inside the services,
never here.

The client's address (``client``, for the access log and the limit on failed
logins) and the request's scheme are the connection's own: a proxy's
``X-Forwarded-For`` and ``X-Forwarded-Proto`` replace them only when it is
one of ``[web] trusted_proxies`` (applied by the server, ``jitev serve``,
before the request reaches the application; nothing here reads them).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request, Response

from app.web.bounds import FORMS
from app.web.context import of, wiring
from evidence import access
from evidence.errors import Denied, NotSignedIn
from evidence.models import Person, Session

COOKIE = "jitev_session"
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True, slots=True)
class Caller:
    person: Person
    session: Session | None  # None: an API token
    secret: str  # the cookie's or the token's secret

    @property
    def csrf(self) -> str:
        return self.session.csrf if self.session else ""


def client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _identify(request: Request) -> Caller:
    w = wiring(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotSignedIn("send the API token as 'Authorization: Bearer jitev_...'")
        return Caller(access.token_person(w.catalog, secret.strip()), None, secret.strip())
    cookie = request.cookies.get(COOKIE)
    if not cookie:
        raise NotSignedIn("log in first")
    person, session = access.session_of(w.catalog, cookie, w.clock.now())
    return Caller(person, session, cookie)


async def caller(request: Request) -> Caller:
    """The signed-in caller; for a state-changing request from a browser
    session, only with the session's CSRF token."""
    found = _identify(request)
    if found.session is not None and request.method in UNSAFE:
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(FORMS):
            sent = str((await request.form()).get("csrf", ""))
        if not sent or not hmac.compare_digest(sent, found.session.csrf):
            raise Denied(
                "the form's security token is missing or stale (CSRF check): reload the page "
                "and submit it again"
            )
    request.state.caller = found  # for the page's navigation: identified once per request
    return found


def optional_caller(request: Request) -> Caller | None:
    """The caller ``caller`` found, or whoever the request says it is (pages
    without a login requirement: the login page, error pages), or nobody."""
    found: Caller | None = getattr(request.state, "caller", None)
    if found is not None:
        return found
    try:
        return _identify(request)
    except NotSignedIn:
        return None


def set_session_cookie(request: Request, response: Response, secret: str) -> None:
    secure = wiring(request).settings.web.secure_cookies
    if secure is None:
        secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE,
        secret,
        max_age=int(access.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def change_password(request: Request, current: str, new: str, who: Caller) -> None:
    """The caller changes their own password (the current one first)."""
    w = wiring(request)
    access.change_password(
        w.catalog,
        of(request).hasher,
        who.person,
        current,
        new,
        session=who.session,
        client=client(request),
        now=w.clock.now(),
    )
