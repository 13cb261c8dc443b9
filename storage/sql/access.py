"""Queries of signing in (``evidence.access``): credentials, sessions, API
tokens and the access log's hash chain. Called by ``SqlCatalog`` inside its
own transactions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, literal, select, text, update

from evidence.access import ACCESS_LOG
from evidence.errors import NotFound
from evidence.ledger import format_time, link
from evidence.models import ApiToken, CustodyEvent, Session
from evidence.ports import EventDraft
from storage.sql import records
from storage.sql.tables import access_events, api_tokens, credentials, web_sessions


def set_password(conn: Connection, name: str, hashed: str, at: datetime) -> None:
    done = conn.execute(
        update(credentials)
        .where(credentials.c.person == name)
        .values(password_hash=hashed, set_at=at)
    )
    if done.rowcount == 0:
        conn.execute(insert(credentials).values(person=name, password_hash=hashed, set_at=at))


def password_hash(conn: Connection, name: str) -> str | None:
    return conn.execute(
        select(credentials.c.password_hash).where(credentials.c.person == name)
    ).scalar()


def add_session(conn: Connection, session: Session) -> None:
    conn.execute(
        insert(web_sessions).values(
            digest=session.digest,
            person=session.person,
            csrf=session.csrf,
            created_at=session.created_at,
            expires_at=session.expires_at,
        )
    )


def session(conn: Connection, digest: str) -> Session | None:
    row = conn.execute(
        select(web_sessions).where(
            web_sessions.c.digest == digest, web_sessions.c.ended_at.is_(None)
        )
    ).first()
    if row is None:
        return None
    return Session(row.digest, row.person, row.csrf, row.created_at, row.expires_at)


def end_session(conn: Connection, digest: str, at: datetime) -> None:
    conn.execute(update(web_sessions).where(web_sessions.c.digest == digest).values(ended_at=at))


def end_sessions(conn: Connection, person: str, at: datetime, keep: str | None) -> None:
    query = update(web_sessions).where(
        web_sessions.c.person == person, web_sessions.c.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(web_sessions.c.digest != keep)
    conn.execute(query.values(ended_at=at))


def _token(row: Row[Any]) -> ApiToken:
    return ApiToken(row.id, row.person, row.label, row.digest, row.created_at, row.revoked_at)


def add_token(conn: Connection, token: ApiToken) -> None:
    conn.execute(
        insert(api_tokens).values(
            id=token.id,
            person=token.person,
            label=token.label,
            digest=token.digest,
            created_at=token.created_at,
        )
    )


def token(conn: Connection, token_id: str) -> ApiToken:
    row = conn.execute(select(api_tokens).where(api_tokens.c.id == token_id)).first()
    if row is None:
        raise NotFound(f"no API token {token_id}: the Account page lists your tokens")
    return _token(row)


def token_by_digest(conn: Connection, digest: str) -> ApiToken | None:
    row = conn.execute(select(api_tokens).where(api_tokens.c.digest == digest)).first()
    return None if row is None else _token(row)


def tokens(conn: Connection, person: str | None) -> list[ApiToken]:
    query = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.id)
    if person is not None:
        query = query.where(api_tokens.c.person == person)
    return [_token(r) for r in conn.execute(query)]


def revoke_token(conn: Connection, token_id: str, at: datetime) -> None:
    conn.execute(update(api_tokens).where(api_tokens.c.id == token_id).values(revoked_at=at))


COLUMNS = (literal(ACCESS_LOG).label("case_id"), literal(None).label("exhibit"), access_events)


def append(conn: Connection, draft: EventDraft, now: datetime, postgres: bool) -> CustodyEvent:
    """Link the draft after the access log's head. On PostgreSQL a table lock
    orders concurrent appends (SQLite's write lock already does)."""
    if postgres:
        conn.execute(text("LOCK TABLE access_events IN SHARE ROW EXCLUSIVE MODE"))
    row = conn.execute(select(*COLUMNS).order_by(access_events.c.seq.desc()).limit(1)).first()
    head = None if row is None else records.event_from_row(row)
    at = now if head is None or now >= head.at else head.at
    event = link(ACCESS_LOG, head, draft, at)
    values = records.event_values(event)
    del values["case_id"], values["exhibit"]
    conn.execute(insert(access_events).values(values))
    return event


def events(
    conn: Connection, since: datetime | None, action: str | None, actor: str | None, after: int = 0
) -> list[CustodyEvent]:
    query = select(*COLUMNS).where(access_events.c.seq > after).order_by(access_events.c.seq)
    if action is not None:
        query = query.where(access_events.c.action == action)
    if actor is not None:
        query = query.where(access_events.c.actor == actor)
    if since is not None:  # format_time text sorts as time does
        query = query.where(access_events.c.at >= format_time(since))
    return [records.event_from_row(r) for r in conn.execute(query)]
