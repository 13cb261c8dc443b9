"""Jinja2 templates of the pages, with what every page needs: the caller
(for the navigation and the CSRF token of forms). Every value a template
prints shows its control characters (``evidence.shown.visible``, line breaks
kept), before Jinja escapes it for HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from app.web import security
from evidence import policy
from evidence.models import Person
from evidence.policy import Right
from evidence.shown import visible


def _shown(value: Any) -> Any:
    """A printed value: a text with its control characters visible; markup a
    template made (``Markup``) and other values as they are."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value, keep="\n")
    return value


def _pager_query(query: dict[str, Any], cursor: str) -> str:
    """A page link's query: the list's filters (the empty ones left out) and
    the cursor (``_pager.html``)."""
    kept = {k: v for k, v in query.items() if v not in (None, "") and k != "cursor"}
    return urlencode({**kept, "cursor": cursor})


templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.finalize = _shown
templates.env.filters["pager_query"] = _pager_query

# The navigation: a page shows only where the person's roles carry its right.
NAV = [
    ("/upload", "Upload", Right.INGEST),
    ("/exhibits", "Exhibits", Right.VIEW),
    ("/handoffs", "Hand-offs", Right.VIEW),
    ("/bundles", "Bundles", Right.DISCLOSE),
    ("/ledger", "Ledger", Right.AUDIT),
    ("/jobs", "Jobs", Right.VIEW),
]


def navigation(person: Person) -> list[tuple[str, str]]:
    links = [(path, label) for path, label, right in NAV if policy.carries(person, right).allowed]
    if policy.carries(person, Right.READ_ACCESS_LOG).allowed:
        links.append(("/access-log", "Access log"))
    return [*links, ("/account", "Account")]


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    who = security.optional_caller(request)
    base = {
        "person": who.person if who else None,
        "csrf": who.csrf if who else "",
        "nav": navigation(who.person) if who else [],
    }
    return templates.TemplateResponse(
        request, name, {**base, **(context or {})}, status_code=status, headers=headers
    )
