"""``SqlCatalog``: the catalog and custody ledger on SQLite (default) or
PostgreSQL, implementing ``evidence.ports.Catalog``.

Every write runs in one database transaction; a failure leaves nothing of it.
Writes to a case's chain hold the case's chain lock (see
``storage.sql.transaction``), so events of one case are appended one at a
time whatever the number of processes and machines.

Do not call a writing method of the catalog while a ``transaction()`` block is
open in the same thread: on SQLite it would wait for the block's own lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from types import TracebackType
from typing import Self

from sqlalchemy import Connection, Engine, exists, func, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite

from evidence.errors import Ambiguous, InputError, NotFound
from evidence.ledger import link
from evidence.models import (
    ApiToken,
    Bundle,
    Case,
    CustodyEvent,
    Exhibit,
    Holding,
    Person,
    Session,
    Transfer,
    TransferState,
)
from evidence.paging import Cursor, Page
from evidence.ports import Clock, EventDraft, FinishedItem, IngestRun
from evidence.receipts import fingerprint
from evidence.tlog.check import StoredCheckpoint
from evidence.tlog.merkle import Frontier
from storage.sql import access, pages, records, tlog, transfers
from storage.sql import engine as db
from storage.sql import migrate as alembic_migrate
from storage.sql.search import SqlSearch
from storage.sql.tables import (
    bundles,
    case_teams,
    cases,
    custody_events,
    exhibits,
    ingest_run_items,
    ingest_runs,
    people,
    team_keys,
    teams,
)
from storage.sql.transaction import SqlCaseTransaction, exhibits_by_blake3


def _no_case(case_id: str) -> NotFound:
    return NotFound(f"no case {case_id} in the catalog: list the cases with `jitev case list`")


class SqlCatalog(SqlSearch):
    def __init__(self, url: str, clock: Clock) -> None:
        parsed = db.parse_url(url)
        self.url = db.mask(parsed)  # password masked: safe to print
        self._clock = clock
        self._engine = db.make_engine(parsed)
        self._postgres = self._engine.dialect.name == "postgresql"

    def __repr__(self) -> str:
        return f"SqlCatalog({self.url!r})"

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for tests, benchmarks and maintenance)."""
        return self._engine

    def close(self) -> None:
        """Close the pooled connections."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- connections -------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with db.db_errors(self.url), db.connect(self._engine, self.url) as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it holds the database write lock
        from its first statement (BEGIN IMMEDIATE)."""
        with db.db_errors(self.url), db.connect(self._engine, self.url) as conn:
            db.write_options(conn)
            with conn.begin():
                yield conn

    def migrate(self) -> None:
        """Create or upgrade the tables (Alembic ``upgrade head``); a no-op when
        the database is at head. Safe to run from several processes at once."""
        with self._write() as conn:
            alembic_migrate.upgrade(conn)

    def schema_revision(self) -> str | None:
        """The Alembic revision of the database (``None`` before ``migrate``)."""
        with self._read() as conn:
            return alembic_migrate.current(conn)

    # -- cases -------------------------------------------------------------------

    def _load_case(self, conn: Connection, case_id: str, *, lock: bool = False) -> Case:
        query = select(cases).where(cases.c.id == case_id)
        if lock and self._postgres:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise _no_case(case_id)
        team_rows = conn.execute(
            select(teams)
            .join(case_teams, case_teams.c.team_code == teams.c.code)
            .where(case_teams.c.case_id == case_id)
            .order_by(case_teams.c.position)
        ).all()
        return records.case_from_rows(row, team_rows)

    def _upsert_teams(self, conn: Connection, case: Case) -> None:
        rows = [
            {"code": t.code, "member_state": t.member_state, "name": t.name} for t in case.teams
        ]
        dialect = postgresql if self._postgres else sqlite
        stmt = dialect.insert(teams).values(rows)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[teams.c.code],
                set_={"member_state": stmt.excluded.member_state, "name": stmt.excluded.name},
            )
        )

    def add_case(self, case: Case, opening: EventDraft) -> CustodyEvent:
        exists_msg = (
            f"case {case.id} already exists: pick another id, or see it with `jitev case list`"
        )
        with self._write() as conn:
            if conn.execute(select(exists().where(cases.c.id == case.id))).scalar():
                raise InputError(exists_msg)
            now = self._clock.now()
            try:
                conn.execute(
                    insert(cases).values(
                        id=case.id,
                        title=case.title,
                        agreement_ref=case.agreement_ref,
                        lead_team=case.lead_team,
                        created_at=now,
                    )
                )
            except sa_exc.IntegrityError as e:  # a concurrent add_case of the same id won
                raise InputError(exists_msg) from e
            self._upsert_teams(conn, case)
            conn.execute(
                insert(case_teams),
                [
                    {"case_id": case.id, "team_code": t.code, "position": i}
                    for i, t in enumerate(case.teams)
                ],
            )
            event = link(case.id, None, opening, now)
            conn.execute(insert(custody_events).values(records.event_values(event)))
            tlog.add(conn, case.id, Frontier().append(bytes.fromhex(event.hash)))
        return event

    def case(self, case_id: str) -> Case:
        with self._read() as conn:
            return self._load_case(conn, case_id)

    def cases(self) -> list[Case]:
        with self._read() as conn:
            ids = conn.execute(select(cases.c.id).order_by(cases.c.id)).scalars().all()
            return [self._load_case(conn, case_id) for case_id in ids]

    @contextmanager
    def transaction(self, case_id: str) -> Iterator[SqlCaseTransaction]:
        with self._write() as conn:
            tx = SqlCaseTransaction(conn, self._load_case(conn, case_id, lock=True), self._clock)
            try:
                yield tx
                tx.flush()  # the appends it still keeps, before the commit
            finally:
                tx.close()

    # -- exhibits ----------------------------------------------------------------

    def exhibit(self, reference: str, case_id: str | None = None) -> Exhibit:
        with self._read() as conn:
            query = select(exhibits).where(exhibits.c.reference == reference)
            if case_id is not None:
                query = query.where(exhibits.c.case_id == case_id)
            rows = conn.execute(query.order_by(exhibits.c.case_id)).all()
            if case_id is not None and not rows:
                self._load_case(conn, case_id)  # NotFound for an unknown case
                raise NotFound(
                    f"no exhibit {reference} in case {case_id}: list them with "
                    f"`jitev exhibits list --case {case_id}`"
                )
        if not rows:
            raise NotFound(
                f"no exhibit {reference} in any case: list them with `jitev exhibits list`"
            )
        if len(rows) > 1:
            cases = tuple(r.case_id for r in rows)
            raise Ambiguous(
                f"exhibit {reference} exists in cases {', '.join(cases)}: say which case",
                cases=cases,
            )
        return records.exhibit_from_row(rows[0])

    def exhibits(self, case_id: str | None = None, team: str | None = None) -> list[Exhibit]:
        query = select(exhibits)
        if case_id is not None:
            query = query.where(exhibits.c.case_id == case_id)
        if team is not None:
            query = query.where(exhibits.c.team == team)
        # BG-EX-0002 before BG-EX-0010, and BG-EX-9999 before BG-EX-10000
        query = query.order_by(
            exhibits.c.case_id,
            exhibits.c.team,
            func.length(exhibits.c.reference),
            exhibits.c.reference,
        )
        with self._read() as conn:
            if case_id is not None:
                self._load_case(conn, case_id)
            return [records.exhibit_from_row(r) for r in conn.execute(query)]

    def exhibits_by_blake3(self, case_id: str, digests: Collection[str]) -> dict[str, Exhibit]:
        with self._read() as conn:
            return exhibits_by_blake3(conn, case_id, digests)

    # -- custody events ----------------------------------------------------------

    def events(
        self,
        case_id: str,
        exhibit: str | None = None,
        action: str | None = None,
        *,
        after: int = 0,
    ) -> Iterator[CustodyEvent]:
        """In stored sequence order, read in pages (memory stays bounded, and
        no connection is held between pages)."""
        self.case(case_id)  # NotFound now, not at the first next()
        return pages.stream_events(self._read, case_id, exhibit, action, after)

    def event_page(
        self,
        case_id: str,
        cursor: Cursor | None,
        limit: int,
        *,
        exhibit: str | None = None,
        action: str | None = None,
        actor: str | None = None,
    ) -> Page[CustodyEvent]:
        with self._read() as conn:
            self._load_case(conn, case_id)
            return pages.event_page(
                conn, case_id, cursor, limit, exhibit=exhibit, action=action, actor=actor
            )

    # -- ingest runs -------------------------------------------------------------

    def start_run(self, case_id: str, team: str, actor: str, fingerprint: str) -> IngestRun:
        """Resume the unfinished run of the same files (same fingerprint) by the
        same team in the case, or start a new one."""
        with self._write() as conn:
            case = self._load_case(conn, case_id, lock=True)
            case.team(team)
            run_id = conn.execute(
                select(ingest_runs.c.id)
                .where(
                    ingest_runs.c.case_id == case_id,
                    ingest_runs.c.team == team,
                    ingest_runs.c.fingerprint == fingerprint,
                    ingest_runs.c.finished_at.is_(None),
                )
                .order_by(ingest_runs.c.started_at.desc())
                .limit(1)
            ).scalar()
            if run_id is not None:
                done = self._run_items(conn, run_id)
                return IngestRun(run_id, case_id, team, actor, resumed=True, done=done)
            run_id = uuid.uuid4().hex
            conn.execute(
                insert(ingest_runs).values(
                    id=run_id,
                    case_id=case_id,
                    team=team,
                    actor=actor,
                    fingerprint=fingerprint,
                    started_at=self._clock.now(),
                )
            )
            return IngestRun(run_id, case_id, team, actor, resumed=False, done={})

    @staticmethod
    def _run_items(conn: Connection, run_id: str) -> dict[str, str]:
        rows = conn.execute(
            select(ingest_run_items.c.source, ingest_run_items.c.reference)
            .where(ingest_run_items.c.run_id == run_id)
            .order_by(ingest_run_items.c.source)
        ).all()
        return {r.source: r.reference for r in rows}

    def _check_run(self, conn: Connection, run_id: str) -> None:
        if conn.execute(select(exists().where(ingest_runs.c.id == run_id))).scalar():
            return
        raise NotFound(f"no ingest run {run_id}: start the ingest again to get a new run")

    def run_items(self, run_id: str, sources: Collection[str] | None = None) -> dict[str, str]:
        """Source path -> exhibit reference of everything the run committed."""
        with self._read() as conn:
            self._check_run(conn, run_id)
            if sources is None:
                return self._run_items(conn, run_id)
            found: dict[str, str] = {}
            items = ingest_run_items.c
            for part in records.in_parts(sorted(set(sources))):
                rows = conn.execute(
                    select(items.source, items.reference).where(
                        items.run_id == run_id, items.source.in_(part)
                    )
                )
                found.update((r.source, r.reference) for r in rows)
            return found

    def finished_items(self, case_id: str, team: str, fingerprint: str) -> dict[str, FinishedItem]:
        items = ingest_run_items.c
        with self._read() as conn:
            rows = conn.execute(
                select(items.source, items.reference, items.identity)
                .join(ingest_runs, ingest_runs.c.id == items.run_id)
                .where(
                    ingest_runs.c.case_id == case_id,
                    ingest_runs.c.team == team,
                    ingest_runs.c.fingerprint == fingerprint,
                    ingest_runs.c.finished_at.is_not(None),
                )
                .order_by(ingest_runs.c.finished_at)  # the latest run's last
            )
            return {r.source: FinishedItem(r.reference, r.identity) for r in rows}

    def finish_run(self, run_id: str) -> None:
        with self._write() as conn:
            self._check_run(conn, run_id)
            conn.execute(
                update(ingest_runs)
                .where(ingest_runs.c.id == run_id, ingest_runs.c.finished_at.is_(None))
                .values(finished_at=self._clock.now())
            )

    # -- people and team keys ----------------------------------------------------

    def add_person(self, person: Person, added_by: str) -> None:
        taken = f"there is already a person called {person.name}: see `jitev people list`"
        with self._write() as conn:
            if conn.execute(select(exists().where(people.c.name == person.name))).scalar():
                raise InputError(taken)
            try:
                conn.execute(
                    insert(people).values(
                        name=person.name,
                        team=person.team,
                        roles=",".join(sorted(person.roles)),
                        added_by=added_by,
                        added_at=self._clock.now(),
                    )
                )
            except sa_exc.IntegrityError as e:  # a concurrent add of the same name
                raise InputError(taken) from e

    def person(self, name: str) -> Person:
        with self._read() as conn:
            row = conn.execute(select(people).where(people.c.name == name)).first()
        if row is None:
            raise NotFound(
                f"no person called {name!r}: see `jitev people list`, or ask an admin to "
                "add them with `jitev people add`"
            )
        return records.person_from_row(row)

    def people(self) -> list[Person]:
        with self._read() as conn:
            rows = conn.execute(select(people).order_by(people.c.team, people.c.name)).all()
        return [records.person_from_row(r) for r in rows]

    def add_team_key(self, team: str, public_key: str) -> None:
        with self._write() as conn:
            known = conn.execute(
                select(team_keys.c.public_key).where(team_keys.c.team == team)
            ).scalar()
            if known == public_key:
                return
            if known is not None:
                raise InputError(
                    f"team {team} already has a registered public key ({fingerprint(known)[:16]}…) "
                    "and jitev never replaces one silently: use the key file that belongs to it"
                )
            conn.execute(
                insert(team_keys).values(
                    team=team,
                    public_key=public_key,
                    fingerprint=fingerprint(public_key),
                    added_at=self._clock.now(),
                )
            )

    def team_key(self, team: str) -> str | None:
        with self._read() as conn:
            key = conn.execute(
                select(team_keys.c.public_key).where(team_keys.c.team == team)
            ).scalar()
        return None if key is None else str(key)

    # -- hand-offs ---------------------------------------------------------------

    def holdings(self, case_id: str) -> dict[str, list[Holding]]:
        with self._read() as conn:
            self._load_case(conn, case_id)
            return transfers.holdings(conn, case_id)

    def transfer(self, transfer_id: str) -> Transfer:
        with self._read() as conn:
            return transfers.load_transfer(conn, transfer_id)

    def transfers(self, case_id: str | None = None) -> list[Transfer]:
        with self._read() as conn:
            if case_id is not None:
                self._load_case(conn, case_id)
            return transfers.load_transfers(conn, case_id=case_id)

    def transfer_page(
        self,
        case_ids: Sequence[str],
        visible: Callable[[Transfer], bool],
        cursor: Cursor | None,
        limit: int,
        state: TransferState | None = None,
    ) -> Page[Transfer]:
        with self._read() as conn:
            return pages.transfer_page(conn, case_ids, visible, cursor, limit, state)

    # -- disclosure bundles --------------------------------------------------------

    def bundle(self, bundle_id: str) -> Bundle:
        with self._read() as conn:
            row = conn.execute(select(bundles).where(bundles.c.id == bundle_id)).first()
        if row is None:
            raise NotFound(f"no bundle {bundle_id}: list them with `jitev bundle list`")
        return records.bundle_from_row(row)

    def bundles(self, case_id: str | None = None) -> list[Bundle]:
        query = select(bundles).order_by(bundles.c.case_id, bundles.c.team, bundles.c.number)
        if case_id is not None:
            query = query.where(bundles.c.case_id == case_id)
        with self._read() as conn:
            if case_id is not None:
                self._load_case(conn, case_id)
            return [records.bundle_from_row(r) for r in conn.execute(query)]

    # -- signing in (evidence.access) ----------------------------------------------

    def set_password(self, name: str, hashed: str) -> None:
        with self._write() as conn:
            access.set_password(conn, name, hashed, self._clock.now())

    def password_hash(self, name: str) -> str | None:
        with self._read() as conn:
            return access.password_hash(conn, name)

    def add_session(self, session: Session) -> None:
        with self._write() as conn:
            access.add_session(conn, session)

    def session(self, digest: str) -> Session | None:
        with self._read() as conn:
            return access.session(conn, digest)

    def end_session(self, digest: str, at: datetime) -> None:
        with self._write() as conn:
            access.end_session(conn, digest, at)

    def end_sessions(self, person: str, keep: str | None = None) -> None:
        with self._write() as conn:
            access.end_sessions(conn, person, self._clock.now(), keep)

    def add_token(self, token: ApiToken) -> None:
        with self._write() as conn:
            access.add_token(conn, token)

    def token(self, token_id: str) -> ApiToken:
        with self._read() as conn:
            return access.token(conn, token_id)

    def token_by_digest(self, digest: str) -> ApiToken | None:
        with self._read() as conn:
            return access.token_by_digest(conn, digest)

    def tokens(self, person: str | None = None) -> list[ApiToken]:
        with self._read() as conn:
            return access.tokens(conn, person)

    def revoke_token(self, token_id: str, at: datetime) -> None:
        with self._write() as conn:
            access.revoke_token(conn, token_id, at)

    def append_access(self, draft: EventDraft) -> CustodyEvent:
        with self._write() as conn:
            return access.append(conn, draft, self._clock.now(), self._postgres)

    def access_events(
        self,
        *,
        since: datetime | None = None,
        action: str | None = None,
        actor: str | None = None,
        after: int = 0,
    ) -> list[CustodyEvent]:
        with self._read() as conn:
            return access.events(conn, since, action, actor, after)

    def access_page(
        self, cursor: Cursor | None, limit: int, *, action: str | None, actor: str | None
    ) -> Page[CustodyEvent]:
        with self._read() as conn:
            return pages.access_page(conn, cursor, limit, action=action, actor=actor)

    # -- the transparency log (evidence.tlog) ------------------------------------------

    def tree_size(self, case_id: str) -> int:
        with self._read() as conn:
            self._load_case(conn, case_id)
            return tlog.size(conn, case_id)

    def tree_nodes(
        self, case_id: str, wanted: set[tuple[int, int]]
    ) -> dict[tuple[int, int], bytes]:
        with self._read() as conn:
            found = tlog.fetch(conn, case_id, wanted)
        if len(found) == len(set(wanted)):
            return found
        with self._write() as conn:  # missing nodes: rebuilt from the events
            return tlog.nodes(conn, case_id, wanted)

    def add_checkpoint(self, case_id: str, size: int, root: bytes, note: str) -> str:
        with self._write() as conn:
            return tlog.add_checkpoint(
                conn, case_id, size, root, note, self._clock.now(), self._postgres
            )

    def add_cosignature(self, case_id: str, size: int, witness: str, line: str) -> None:
        with self._write() as conn:
            tlog.add_cosignature(
                conn, case_id, size, witness, line, self._clock.now(), self._postgres
            )

    def checkpoints(self, case_id: str, after: int = 0) -> list[StoredCheckpoint]:
        with self._read() as conn:
            return tlog.stored(conn, case_id, after)

    def witness_sizes(self, case_id: str) -> dict[str, int]:
        with self._read() as conn:
            return tlog.witness_sizes(conn, case_id)
