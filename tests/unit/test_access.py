"""The rules of signing in (``evidence.access``) on a real catalog (SQLite,
and PostgreSQL with JITEV_TEST_PG_URL): passwords, the login rate limit,
sessions, API tokens and the hash-chained access log. Time is the catalog's
step clock (``tests.fixtures_sql.StepClock``), passed on as ``now``."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from evidence import access, verified
from evidence.access import (
    ACCESS_LOG,
    FAILURE_WINDOW,
    MAX_CLIENT_FAILURES,
    MAX_FAILURES,
    SESSION_LIFETIME,
    AccessAction,
)
from evidence.errors import Denied, InputError, NotFound, NotSignedIn, TooManyAttempts
from evidence.findings import Report
from evidence.ledger import verify
from evidence.models import CustodyEvent, Person, Session
from evidence.paging import MAX_LIMIT
from evidence.verified import LookFacts
from storage.passwords import Argon2Hasher
from storage.sql.catalog import SqlCatalog
from storage.sql.tables import access_events, api_tokens, credentials, web_sessions
from storage.verified import FileVerifiedHeads
from tests.fixtures_sql import START, StepClock, register_people

PASSWORD = "a long enough passphrase"
PETROVA = "Insp. Petrova"  # BG investigator
IVANOV = "Insp. Ivanov"  # BG investigator
KELLER = "Aud. Keller"  # FR auditor
HORVAT = "Adm. Horvat"  # FR admin
HERE = "10.0.0.1"


class FakeHasher:
    """A fast stand-in for argon2 (the rules do not depend on the hash)."""

    def hash(self, password: str) -> str:
        return "fake$" + hashlib.sha256(password.encode()).hexdigest()

    def verify(self, hashed: str, password: str) -> bool:
        return hashed == self.hash(password)


HASHER = FakeHasher()


@pytest.fixture
def people(catalog: SqlCatalog) -> dict[str, Person]:
    """The people of config/jit.example.toml, each with PASSWORD."""
    register_people(catalog)
    found = {p.name: p for p in catalog.people()}
    for name in found:
        access.set_password(catalog, HASHER, None, name, PASSWORD)
    return found


def actions(catalog: SqlCatalog, actor: str | None = None) -> list[str]:
    return [e.action for e in catalog.access_events(actor=actor)]


def login(
    catalog: SqlCatalog, clock: StepClock, name: str, password: str = PASSWORD, client: str = HERE
) -> tuple[Person, str, Session]:
    return access.login(catalog, HASHER, name, password, client=client, now=clock.now())


# -- passwords --------------------------------------------------------------------------------


def test_a_reset_ends_every_session_of_the_person(
    catalog: SqlCatalog, clock: StepClock, people: dict[str, Person]
) -> None:
    _, first, _ = login(catalog, clock, "Insp. Petrova")
    _, second, _ = login(catalog, clock, "Insp. Petrova")
    _, other, _ = login(catalog, clock, "Insp. Ivanov")
    admin = people["Adm. Horvat"]
    access.set_password(catalog, HASHER, admin, "Insp. Petrova", "a new long passphrase")
    for secret in (first, second):
        with pytest.raises(NotSignedIn):
            access.session_of(catalog, secret, clock.now())
    assert access.session_of(catalog, other, clock.now())[0].name == "Insp. Ivanov"


def test_a_person_changes_their_password_with_the_current_one(
    catalog: SqlCatalog, clock: StepClock, people: dict[str, Person]
) -> None:
    petrova = people["Insp. Petrova"]
    _, here, session = login(catalog, clock, petrova.name)
    _, elsewhere, _ = login(catalog, clock, petrova.name)
    with pytest.raises(Denied, match="current password is wrong"):
        access.change_password(
            catalog, HASHER, petrova, "a guess", "another long passphrase",
            session=session, client=HERE, now=clock.now(),
        )  # fmt: skip
    assert actions(catalog, petrova.name)[-1] == "LOGIN_FAILED"  # counts towards the limit
    access.change_password(
        catalog, HASHER, petrova, PASSWORD, "another long passphrase",
        session=session, client=HERE, now=clock.now(),
    )  # fmt: skip
    assert access.session_of(catalog, here, clock.now())[0] == petrova  # kept
    with pytest.raises(NotSignedIn):
        access.session_of(catalog, elsewhere, clock.now())
    with pytest.raises(Denied):
        login(catalog, clock, petrova.name)  # the old password
    assert login(catalog, clock, petrova.name, "another long passphrase")[0] == petrova
    assert "PASSWORD_SET" in actions(catalog, petrova.name)


def test_guessing_the_current_password_hits_the_login_limit(
    catalog: SqlCatalog, clock: StepClock, people: dict[str, Person]
) -> None:
    petrova = people["Insp. Petrova"]
    _, _, session = login(catalog, clock, petrova.name)
    for attempt in range(MAX_FAILURES):
        with pytest.raises(Denied):
            access.change_password(
                catalog, HASHER, petrova, f"guess {attempt}", "another long passphrase",
                session=session, client=HERE, now=clock.now(),
            )  # fmt: skip
    with pytest.raises(TooManyAttempts):
        access.change_password(
            catalog, HASHER, petrova, PASSWORD, "another long passphrase",
            session=session, client=HERE, now=clock.now(),
        )  # fmt: skip


def test_a_password_is_stored_hashed_and_its_setting_logged(
    catalog: SqlCatalog, people: dict[str, Person]
) -> None:
    access.set_password(catalog, HASHER, people[PETROVA], PETROVA, "her own new passphrase")
    stored = catalog.password_hash(PETROVA)
    assert stored == HASHER.hash("her own new passphrase")
    with catalog.engine.connect() as conn:
        rows = conn.execute(select(credentials.c.password_hash)).scalars().all()
    assert all("passphrase" not in r for r in rows)
    last = catalog.access_events(action=AccessAction.PASSWORD_SET.value)[-1]
    assert (last.actor, last.team, last.details) == (PETROVA, "BG", {"by": PETROVA})


def test_only_an_admin_sets_someone_elses_password(
    catalog: SqlCatalog, people: dict[str, Person]
) -> None:
    with pytest.raises(Denied, match="manage_people"):
        access.set_password(catalog, HASHER, people[IVANOV], PETROVA, "chosen by a colleague")
    assert catalog.password_hash(PETROVA) == HASHER.hash(PASSWORD)
    access.set_password(catalog, HASHER, people[HORVAT], PETROVA, "reset by the admin")
    assert catalog.password_hash(PETROVA) == HASHER.hash("reset by the admin")
    assert catalog.access_events(actor=PETROVA)[-1].details == {"by": HORVAT}


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "too short"), ("x" * (access.MAX_PASSWORD + 1), "longer than")],
)
def test_a_password_too_short_or_too_long_is_refused(
    catalog: SqlCatalog, people: dict[str, Person], password: str, message: str
) -> None:
    before = actions(catalog)
    with pytest.raises(InputError, match=message):
        access.set_password(catalog, HASHER, None, PETROVA, password)
    assert catalog.password_hash(PETROVA) == HASHER.hash(PASSWORD)
    assert actions(catalog) == before


def test_a_password_for_an_unknown_person_is_refused(
    catalog: SqlCatalog, people: dict[str, Person]
) -> None:
    with pytest.raises(NotFound):
        access.set_password(catalog, HASHER, None, "Insp. Nobody", PASSWORD)


def test_argon2_hashes_and_verifies(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    hasher = Argon2Hasher()
    access.set_password(catalog, hasher, None, PETROVA, PASSWORD)
    stored = catalog.password_hash(PETROVA)
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
    person, _, _ = access.login(catalog, hasher, PETROVA, PASSWORD, client=HERE, now=clock.now())
    assert person.name == PETROVA
    with pytest.raises(Denied, match="login failed"):
        access.login(catalog, hasher, PETROVA, PASSWORD + "!", client=HERE, now=clock.now())
    assert hasher.verify("not an argon2 hash", PASSWORD) is False


# -- logging in -------------------------------------------------------------------------------


def test_login_opens_a_session_stored_by_its_digest(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    now = clock.now()
    person, secret, session = access.login(
        catalog, HASHER, f"  {PETROVA} ", PASSWORD, client=HERE, now=now
    )
    assert person == people[PETROVA]
    assert session.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert session.csrf != secret and len(session.csrf) >= 32
    assert session.expires_at == now + SESSION_LIFETIME
    assert catalog.session(session.digest) == session
    with catalog.engine.connect() as conn:
        stored = [str(v) for r in conn.execute(select(web_sessions)) for v in r]
    assert secret not in " ".join(stored)
    [event] = catalog.access_events(action=AccessAction.LOGGED_IN.value)
    assert (event.actor, event.team, event.details) == (PETROVA, "BG", {"client": HERE})


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    with pytest.raises(Denied) as wrong:
        login(catalog, clock, PETROVA, "not her password")
    with pytest.raises(Denied) as unknown:
        login(catalog, clock, "Insp. Nobody")
    assert str(wrong.value) == str(unknown.value)
    assert type(wrong.value) is Denied and type(unknown.value) is Denied
    failed = catalog.access_events(action=AccessAction.LOGIN_FAILED.value)
    assert [(e.actor, e.team) for e in failed] == [(PETROVA, "BG"), ("Insp. Nobody", "")]
    assert all("not her password" not in str(e.details) for e in catalog.access_events())


def test_a_person_without_a_password_cannot_log_in(catalog: SqlCatalog, clock: StepClock) -> None:
    register_people(catalog)  # no passwords set
    with pytest.raises(Denied, match="login failed"):
        login(catalog, clock, PETROVA)
    assert actions(catalog) == ["LOGIN_FAILED"]


@pytest.mark.parametrize(("name", "password"), [("", PASSWORD), ("   ", PASSWORD), (PETROVA, "")])
def test_a_login_needs_a_name_and_a_password(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock, name: str, password: str
) -> None:
    before = actions(catalog)
    with pytest.raises(InputError, match="name and password"):
        login(catalog, clock, name, password)
    assert actions(catalog) == before


# -- the rate limit ---------------------------------------------------------------------------


def test_after_max_failures_even_the_right_password_is_refused_until_the_window_passes(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    for _ in range(MAX_FAILURES):
        with pytest.raises(Denied, match="login failed"):
            login(catalog, clock, PETROVA, "a wrong guess")
    with pytest.raises(
        TooManyAttempts, match="too many failed logins for Insp. Petrova"
    ) as refused:
        login(catalog, clock, PETROVA)
    assert 0 < refused.value.retry_after <= FAILURE_WINDOW.total_seconds() + 1
    assert actions(catalog, PETROVA)[-MAX_FAILURES - 1 :] == ["LOGIN_FAILED"] * MAX_FAILURES + [
        "LOGIN_REFUSED"
    ]
    assert "LOGGED_IN" not in actions(catalog, PETROVA)

    # Another name is not affected, and the window passes.
    login(catalog, clock, IVANOV)
    later = clock.now() + FAILURE_WINDOW
    person, _, _ = access.login(catalog, HASHER, PETROVA, PASSWORD, client=HERE, now=later)
    assert person.name == PETROVA


def test_refused_attempts_do_not_lengthen_the_wait(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    for _ in range(MAX_FAILURES):
        with pytest.raises(Denied):
            login(catalog, clock, PETROVA, "a wrong guess")
    for _ in range(3):
        with pytest.raises(TooManyAttempts):
            login(catalog, clock, PETROVA)
    later = clock.now() + FAILURE_WINDOW
    assert (
        access.login(catalog, HASHER, PETROVA, PASSWORD, client=HERE, now=later)[0].name == PETROVA
    )


def test_one_fewer_failure_than_the_limit_still_lets_the_person_in(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    for _ in range(MAX_FAILURES - 1):
        with pytest.raises(Denied):
            login(catalog, clock, PETROVA, "a wrong guess")
    assert login(catalog, clock, PETROVA)[0].name == PETROVA


def test_many_failures_from_one_address_are_refused_for_every_name(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    names = [f"guess {i}" for i in range(MAX_CLIENT_FAILURES)]
    for name in names:  # each name fails once only: the per-name limit is not reached
        with pytest.raises(Denied):
            login(catalog, clock, name, "a wrong guess")
    with pytest.raises(TooManyAttempts, match=f"from {HERE}"):
        login(catalog, clock, PETROVA)
    assert login(catalog, clock, PETROVA, client="10.0.0.2")[0].name == PETROVA


# -- sessions ---------------------------------------------------------------------------------


def test_a_session_ends_after_its_lifetime(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    start = clock.now()
    _, secret, _ = access.login(catalog, HASHER, PETROVA, PASSWORD, client=HERE, now=start)
    person, _ = access.session_of(catalog, secret, start + SESSION_LIFETIME - timedelta(seconds=1))
    assert person.name == PETROVA
    with pytest.raises(NotSignedIn, match="log in again"):
        access.session_of(catalog, secret, start + SESSION_LIFETIME)
    with pytest.raises(NotSignedIn):
        access.logout(catalog, secret, client=HERE, now=start + SESSION_LIFETIME)


def test_logout_ends_the_session_and_is_logged(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    _, secret, session = login(catalog, clock, PETROVA)
    _, other, _ = login(catalog, clock, PETROVA)  # a second browser
    access.logout(catalog, secret, client=HERE, now=clock.now())
    assert catalog.session(session.digest) is None
    with pytest.raises(NotSignedIn):
        access.session_of(catalog, secret, clock.now())
    with pytest.raises(NotSignedIn):
        access.logout(catalog, secret, client=HERE, now=clock.now())
    assert access.session_of(catalog, other, clock.now())[0].name == PETROVA
    assert actions(catalog, PETROVA)[-1] == "LOGGED_OUT"
    assert actions(catalog, PETROVA).count("LOGGED_OUT") == 1


def test_an_unknown_session_secret_is_not_signed_in(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    _, secret, _ = login(catalog, clock, PETROVA)
    for wrong in ("", secret + "x", secret[:-1]):
        with pytest.raises(NotSignedIn):
            access.session_of(catalog, wrong, clock.now())


# -- API tokens -------------------------------------------------------------------------------


def test_a_token_is_stored_as_a_digest_and_names_its_person(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    token, secret = access.issue_token(catalog, people[PETROVA], " BG case system ", clock.now())
    assert secret.startswith(f"jitev_{token.id}_")
    assert token.label == "BG case system" and token.digest == access.digest(secret)
    assert access.token_person(catalog, secret) == people[PETROVA]
    with catalog.engine.connect() as conn:
        stored = [str(v) for r in conn.execute(select(api_tokens)) for v in r]
    assert secret not in " ".join(stored)
    assert catalog.tokens(PETROVA) == [token] and catalog.tokens(IVANOV) == []
    [event] = catalog.access_events(action=AccessAction.TOKEN_ISSUED.value)
    assert event.details == {"token": token.id, "label": "BG case system"}


@pytest.mark.parametrize("label", ["", "   ", "x" * 201])
def test_a_token_needs_a_label(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock, label: str
) -> None:
    with pytest.raises(InputError, match="name the token"):
        access.issue_token(catalog, people[PETROVA], label, clock.now())
    assert catalog.tokens() == []


def test_a_session_secret_or_a_made_up_secret_is_no_token(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    _, session_secret, _ = login(catalog, clock, PETROVA)
    _, secret = access.issue_token(catalog, people[PETROVA], "script", clock.now())
    for wrong in (session_secret, secret + "x", "jitev_", f"Bearer {secret}"):
        with pytest.raises(NotSignedIn):
            access.token_person(catalog, wrong)


def test_the_owner_revokes_a_token_once(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    token, secret = access.issue_token(catalog, people[PETROVA], "script", clock.now())
    now = clock.now()
    revoked = access.revoke_token(catalog, people[PETROVA], token.id, now)
    assert revoked.revoked_at == now
    with pytest.raises(NotSignedIn, match="revoked"):
        access.token_person(catalog, secret)
    with pytest.raises(InputError, match="already revoked"):
        access.revoke_token(catalog, people[PETROVA], token.id, clock.now())
    assert actions(catalog).count("TOKEN_REVOKED") == 1


def test_only_the_owner_or_an_admin_revokes_a_token(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    token, secret = access.issue_token(catalog, people[PETROVA], "script", clock.now())
    for other in (IVANOV, KELLER, "Cdt. Laurent"):
        with pytest.raises(Denied, match="manage_people"):
            access.revoke_token(catalog, people[other], token.id, clock.now())
    assert access.token_person(catalog, secret).name == PETROVA
    access.revoke_token(catalog, people[HORVAT], token.id, clock.now())
    with pytest.raises(NotSignedIn):
        access.token_person(catalog, secret)
    [event] = catalog.access_events(action=AccessAction.TOKEN_REVOKED.value)
    assert (event.actor, event.team) == (PETROVA, "BG")
    assert event.details == {"token": token.id, "by": HORVAT}


def test_an_unknown_token_is_not_found(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock
) -> None:
    with pytest.raises(NotFound, match="no API token"):
        access.revoke_token(catalog, people[HORVAT], "deadbeef", clock.now())


# -- the access log ---------------------------------------------------------------------------


def read_log(
    catalog: SqlCatalog, person: Person, heads: FileVerifiedHeads, **filters: Any
) -> tuple[Report[LookFacts], list[CustodyEvent]]:
    """The access log's check and every event of its filtered list."""
    check, page = verified.access_log(catalog, heads, person, None, MAX_LIMIT, START, **filters)
    return check, list(page.items)


def test_the_access_log_is_a_hash_chain_read_by_auditors_and_admins(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock, tmp_path: Path
) -> None:
    heads = FileVerifiedHeads(tmp_path)
    _, secret, _ = login(catalog, clock, PETROVA)
    with pytest.raises(Denied):
        login(catalog, clock, IVANOV, "wrong")
    token, _ = access.issue_token(catalog, people[PETROVA], "script", clock.now())
    access.revoke_token(catalog, people[PETROVA], token.id, clock.now())
    access.logout(catalog, secret, client=HERE, now=clock.now())

    check, events = read_log(catalog, people[KELLER], heads)
    assert check.ok
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.case_id == ACCESS_LOG and e.exhibit is None for e in events)
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:], strict=False))
    assert {a.value for a in AccessAction} - {"LOGIN_REFUSED"} <= {e.action for e in events}
    assert read_log(catalog, people[HORVAT], heads)[0].ok

    _, only = read_log(catalog, people[KELLER], heads, action="LOGGED_OUT")
    assert [(e.action, e.actor) for e in only] == [("LOGGED_OUT", PETROVA)]
    _, by_ivanov = read_log(catalog, people[KELLER], heads, actor=IVANOV)
    assert [e.action for e in by_ivanov] == ["PASSWORD_SET", "LOGIN_FAILED"]

    for name in (PETROVA, "Cdt. Laurent", "Pr. Dubois"):
        with pytest.raises(Denied, match="read_access_log"):
            read_log(catalog, people[name], heads)


def test_an_edited_access_log_fails_its_check(
    catalog: SqlCatalog, people: dict[str, Person], clock: StepClock, tmp_path: Path
) -> None:
    with pytest.raises(Denied):
        login(catalog, clock, IVANOV, "wrong")
    login(catalog, clock, PETROVA)
    with catalog.engine.begin() as conn:  # someone hides a failed login
        conn.execute(
            update(access_events)
            .where(access_events.c.action == "LOGIN_FAILED")
            .values(action="LOGGED_IN")
        )
    check, _ = read_log(catalog, people[KELLER], FileVerifiedHeads(tmp_path))
    assert not check.ok
    assert not verify(ACCESS_LOG, catalog.access_events()).ok
