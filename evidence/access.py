"""Who is at the keyboard: passwords, sessions, API tokens and the access log.

The rules of signing in live here; the web layer only carries cookies and
headers to them.

- **Passwords** are hashed by a ``PasswordHasher`` (argon2id in
  ``storage.passwords``) and never stored or logged in clear. A person sets
  their own; an admin sets anyone's.
- **Failed logins are rate-limited** from the access log itself, so the limit
  holds across restarts and server processes: after ``MAX_FAILURES`` failures
  for one name, or ``MAX_CLIENT_FAILURES`` from one client address, within
  ``FAILURE_WINDOW``, further attempts are refused until the window passes.
  Refused attempts are logged too.
- **Sessions** (browsers) and **API tokens** (machines) are random secrets
  shown once; only their SHA-256 is stored, so a copy of the database opens
  nothing. A session ends at logout or after ``SESSION_LIFETIME``; a token
  when it is revoked.
- **The access log** is a hash chain of its own (``ACCESS_LOG``), built and
  verified by ``evidence.ledger`` like a case's custody ledger: logins,
  failures, logouts, password changes, tokens issued and revoked. Exhibit
  downloads are custody events (ACCESSED) in the case's own ledger.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from evidence import policy
from evidence.errors import Denied, InputError, NotFound, NotSignedIn, TooManyAttempts
from evidence.models import ApiToken, Person, Session
from evidence.policy import Right
from evidence.ports import Catalog, EventDraft, PasswordHasher

ACCESS_LOG = "jitev-access"  # the chain id of the access log
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # argon2 would hash anything; a megabyte "password" is an attack
MAX_FAILURES = 5
MAX_CLIENT_FAILURES = 20
FAILURE_WINDOW = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)
TOKEN_PREFIX = "jitev_"


class AccessAction(StrEnum):
    LOGGED_IN = "LOGGED_IN"
    LOGIN_FAILED = "LOGIN_FAILED"
    LOGIN_REFUSED = "LOGIN_REFUSED"  # rate limit: the password was not even checked
    LOGGED_OUT = "LOGGED_OUT"
    PASSWORD_SET = "PASSWORD_SET"
    TOKEN_ISSUED = "TOKEN_ISSUED"
    TOKEN_REVOKED = "TOKEN_REVOKED"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _log(catalog: Catalog, action: AccessAction, actor: str, team: str, **details: Any) -> None:
    catalog.append_access(EventDraft(action.value, actor, team, None, details))


# -- passwords -----------------------------------------------------------------------


def set_password(
    catalog: Catalog,
    hasher: PasswordHasher,
    actor: Person | None,
    name: str,
    password: str,
    *,
    keep: str | None = None,
) -> None:
    """Set ``name``'s password: the person themselves, or an admin.
    ``actor=None`` is the machine's operator at the console (``jitev people
    passwd`` run by whoever holds the server's database). Every open session
    of the person ends (a reset is often because of a leak), but ``keep``:
    the session the person changes it from."""
    person = catalog.person(name)
    if actor is not None and actor.name != name:
        policy.decide(actor, Right.MANAGE_PEOPLE).require()
    if len(password) < MIN_PASSWORD:
        raise InputError(
            f"the password for {name} is too short: use at least {MIN_PASSWORD} characters "
            "(a passphrase of four or more words is easy to remember)"
        )
    if len(password) > MAX_PASSWORD:
        raise InputError(f"the password for {name} is longer than {MAX_PASSWORD} characters")
    catalog.set_password(name, hasher.hash(password))
    catalog.end_sessions(name, keep)
    by = actor.name if actor else "console"
    _log(catalog, AccessAction.PASSWORD_SET, person.name, person.team, by=by)


# -- logging in and out ----------------------------------------------------------------


def _refusal(catalog: Catalog, name: str, client: str, now: datetime) -> TooManyAttempts | None:
    since = now - FAILURE_WINDOW
    failures = catalog.access_events(since=since, action=AccessAction.LOGIN_FAILED.value)
    by_name = [e for e in failures if e.actor == name]
    by_client = [e for e in failures if e.details.get("client") == client]
    for found, limit, what in (
        (by_name, MAX_FAILURES, f"for {name}"),
        (by_client, MAX_CLIENT_FAILURES, f"from {client}"),
    ):
        if len(found) >= limit:
            wait = int((found[-limit].at + FAILURE_WINDOW - now).total_seconds()) + 1
            return TooManyAttempts(
                f"too many failed logins {what}: try again in {max(wait, 1) // 60 + 1} minutes, "
                "or ask an admin to reset the password",
                retry_after=max(wait, 1),
            )
    return None


def _attempt(
    catalog: Catalog,
    hasher: PasswordHasher,
    name: str,
    team: str,
    password: str,
    *,
    client: str,
    now: datetime,
) -> bool:
    """One password check under the rate limit: over the limit it is refused
    (``TooManyAttempts``, logged LOGIN_REFUSED) without checking; a wrong
    password (or a name without one) is logged LOGIN_FAILED. The hash work is
    the same whether the name exists or not, so timing tells no names apart."""
    refused = _refusal(catalog, name, client, now)
    if refused is not None:
        _log(catalog, AccessAction.LOGIN_REFUSED, name, team, client=client)
        raise refused
    stored = catalog.password_hash(name) if len(password) <= MAX_PASSWORD else None
    checked = hasher.verify(stored or _dummy_hash(hasher), password[:MAX_PASSWORD])
    if stored is None or not checked:
        _log(catalog, AccessAction.LOGIN_FAILED, name, team, client=client)
        return False
    return True


_DUMMIES: dict[int, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """A hash of a random password (one per hasher), to verify against for
    unknown names."""
    if id(hasher) not in _DUMMIES:
        _DUMMIES[id(hasher)] = hasher.hash(secrets.token_urlsafe(16))
    return _DUMMIES[id(hasher)]


def login(
    catalog: Catalog,
    hasher: PasswordHasher,
    name: str,
    password: str,
    *,
    client: str,
    now: datetime,
) -> tuple[Person, str, Session]:
    """Check the password and open a session: (person, cookie secret, session).
    A wrong name and a wrong password get the same answer."""
    name = name.strip()[:200]
    if not name or not password:
        raise InputError("give your name and password")
    try:
        person: Person | None = catalog.person(name)
    except NotFound:
        person = None
    team = person.team if person else ""
    if not _attempt(catalog, hasher, name, team, password, client=client, now=now) or not person:
        raise Denied("login failed: unknown name or wrong password (an admin sets passwords)")
    secret = secrets.token_urlsafe(32)
    session = Session(
        digest(secret), person.name, secrets.token_urlsafe(32), now, now + SESSION_LIFETIME
    )
    catalog.add_session(session)
    _log(catalog, AccessAction.LOGGED_IN, person.name, person.team, client=client)
    return person, secret, session


def change_password(
    catalog: Catalog,
    hasher: PasswordHasher,
    person: Person,
    current: str,
    new: str,
    *,
    session: Session | None,
    client: str,
    now: datetime,
) -> None:
    """A person changes their own password, proving the current one first. A
    wrong current password counts as a failed login (the same rate limit), so
    a stolen session cannot guess it; the person's other sessions end."""
    if not _attempt(catalog, hasher, person.name, person.team, current, client=client, now=now):
        raise Denied("the current password is wrong: nothing was changed")
    keep = session.digest if session else None
    set_password(catalog, hasher, person, person.name, new, keep=keep)


def session_of(catalog: Catalog, secret: str, now: datetime) -> tuple[Person, Session]:
    session = catalog.session(digest(secret))
    if session is None or session.expires_at <= now:
        raise NotSignedIn("your session has ended: log in again")
    return catalog.person(session.person), session


def logout(catalog: Catalog, secret: str, *, client: str, now: datetime) -> None:
    person, session = session_of(catalog, secret, now)
    catalog.end_session(session.digest, now)
    _log(catalog, AccessAction.LOGGED_OUT, person.name, person.team, client=client)


# -- API tokens ----------------------------------------------------------------------------


def issue_token(
    catalog: Catalog, person: Person, label: str, now: datetime
) -> tuple[ApiToken, str]:
    """A new API token for ``person``: (its record, the secret, shown once)."""
    label = label.strip()
    if not label or len(label) > 200:
        raise InputError("name the token after the system that will use it, e.g. 'BG case system'")
    token_id = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    token = ApiToken(token_id, person.name, label, digest(secret), now)
    catalog.add_token(token)
    _log(catalog, AccessAction.TOKEN_ISSUED, person.name, person.team, token=token_id, label=label)
    return token, secret


def revoke_token(catalog: Catalog, person: Person, token_id: str, now: datetime) -> ApiToken:
    """Revoke a token: its owner, or an admin."""
    token = catalog.token(token_id)
    if token.person != person.name:
        policy.decide(person, Right.MANAGE_PEOPLE).require()
    if token.revoked_at is not None:
        raise InputError(f"token {token_id} was already revoked")
    owner = person if token.person == person.name else catalog.person(token.person)
    catalog.revoke_token(token_id, now)
    _log(
        catalog,
        AccessAction.TOKEN_REVOKED,
        owner.name,
        owner.team,  # the token's owner and team; ``by`` says who revoked it
        token=token_id,
        by=person.name,
    )
    return catalog.token(token_id)


def token_person(catalog: Catalog, secret: str) -> Person:
    token = catalog.token_by_digest(digest(secret)) if secret.startswith(TOKEN_PREFIX) else None
    if token is None or token.revoked_at is not None:
        raise NotSignedIn(
            "the API token is unknown or revoked: create a new one on the Account page"
        )
    return catalog.person(token.person)
