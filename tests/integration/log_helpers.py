"""A case whose ledger is a witnessed transparency log, built in this process
through the real services (``evidence.setup``, ``ingest``, ``transfers``,
``handling``) with real witnesses (``storage.witnesses.local_witness``, each
with its own state folder outside the catalog), published after every action
as jitev does; and the plain-SQL tampering a test then does behind jitev's
back (rewriting events with correct BLAKE3 hashes, restoring old rows)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from config.jit import load as load_jit
from evidence import audit, handling, ledger, setup, transfers
from evidence import ingest as ingesting
from evidence.audit import CaseFacts
from evidence.findings import Finding, Report
from evidence.manifest import from_fields
from evidence.models import Action, Bundle, CustodyEvent, Handling, HandlingCode, Person, Purpose
from evidence.ports import EventDraft
from evidence.tlog.notes import NOTE_SIGNATURE, VerifierKey
from evidence.tlog.policy import Policy
from evidence.tlog.publish import Publication, publish
from storage.keys import KeyRing, TeamSigner
from storage.objects.local import LocalStore
from storage.sql import records
from storage.sql.catalog import SqlCatalog
from storage.sql.tables import custody_events, metadata
from storage.witnesses import LocalWitness, local_witness
from tests.fixtures_sql import JIT_EXAMPLE, StepClock

CASE = "DANUBE"
DEPLOYMENT = "jitev.local"
ORIGIN = f"{DEPLOYMENT}/{CASE}"
TLOG_TABLES = ("cosignatures", "checkpoints", "tree_nodes")
# What `build` records, and the sizes it publishes a checkpoint at:
#   1 CASE_OPENED, 2-4 TEAM_KEY_REGISTERED, 5 LOG_POLICY_SET         -> 5
#   6-8 INGESTED BG-EX-0001..3                                        -> 8
#   9-10 TRANSFER_REQUESTED (0001, 0002 to FR)                        -> 10
#   11-12 TRANSFER_APPROVED                                           -> 12
#   13-14 DISPATCHED                                                  -> 14
#   15-16 RECEIVED                                                    -> 16
#   17 HANDLING_CHANGED BG-EX-0003                                    -> 17
PUBLISHED = (5, 8, 10, 12, 14, 16, 17)
TEAMS = ("BG", "ME", "FR")
EVENTS = PUBLISHED[-1]
Rows = dict[str, list[dict[str, Any]]]  # table name -> its rows


def witnesses_in(folder: Path, teams: list[str], log_public_key: str) -> list[LocalWitness]:
    """Each team's witness with its key and state in ``folder/<TEAM>``, named as
    ``config.wiring`` names the embedded ones."""
    return [
        LocalWitness(
            team,
            local_witness(
                folder / team,
                team,
                f"{DEPLOYMENT}/witness/{team}",
                f"{DEPLOYMENT}/",
                log_public_key,
            ),
        )
        for team in teams
    ]


@dataclass
class LogCase:
    catalog: SqlCatalog
    store: LocalStore
    clock: StepClock
    keys: KeyRing
    witnesses: list[LocalWitness]
    policy: Policy
    root: Path
    transfer: str = ""
    publications: list[Publication] = field(default_factory=list)

    @property
    def log_key(self) -> TeamSigner:
        return self.keys.log.load()

    def person(self, name: str) -> Person:
        return self.catalog.person(name)

    def publish(self) -> Publication:
        made = publish(self.catalog, CASE, ORIGIN, self.log_key, list(self.witnesses), self.policy)
        self.publications.append(made)
        return made

    def verify(self) -> Report[CaseFacts]:
        return audit.verify_case(self.catalog, CASE, witnesses=self.witnesses)

    def ingest(self, *names: str, team: str = "BG", actor: str = "Insp. Petrova") -> list[str]:
        """Ingest new small files; their references."""
        folder = self.root / "seized" / f"batch-{len(list(self.root.glob('seized/*')))}"
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_text(f"{name}: seized {folder.name}\n")
        fields = {
            "description": "Seized at Kapitan Andreevo",
            "seized_at": "2026-03-14T06:10:00+02:00",
            "seized_by": "Insp. Petrova",
            "seized_from": "Van CA 4471 KX",
        }
        plan = ingesting.plan_ingest(
            self.catalog,
            case_id=CASE,
            team=team,
            actor=actor,
            paths=[str(folder)],
            defaults=from_fields(fields),
        )
        run = self.catalog.start_run(CASE, team, actor, plan.fingerprint)
        outcomes = ingesting.ingest_batch(
            self.store, self.catalog, plan, run, plan.files, commit_every=64
        )
        self.catalog.finish_run(run.id)
        return [o.reference for o in outcomes if o.reference]

    def set_handling(self, reference: str, code: HandlingCode) -> None:
        handling.set_handling(
            self.catalog, self.person("Cmsr. Georgiev"), CASE, reference, Handling(code)
        )

    def record_bundle(self, references: list[str]) -> Bundle:
        """Record a disclosure bundle of FR as ``disclosure.create_bundle``
        records one (its BUNDLE_SEALED event, then its DISCLOSED events and
        its row in one transaction), without building its ZIP or asking the
        witnesses in between: these tests are about the rows."""
        person = self.person("Pr. Dubois")
        head = list(self.catalog.events(CASE))[-1]
        with self.catalog.transaction(CASE) as tx:
            bundle_id = tx.next_bundle_id(person.team)
            seal = {"bundle": bundle_id, "root_digest": "d" * 64}
            tx.append(EventDraft(Action.BUNDLE_SEALED, person.name, person.team, None, seal))
            bundle = Bundle(
                id=bundle_id,
                case_id=CASE,
                team=person.team,
                prosecutor=person.name,
                created_at=head.at,
                ledger_head=head.seq,
                root_digest="d" * 64,
                size=4096,
                blake3="b" * 64,
                sha256="5" * 64,
                exhibits=tuple(references),
                sensitive=(),
                sensitive_key=None,
            )
            details: dict[str, Any] = {
                "bundle": bundle_id,
                "root_digest": bundle.root_digest,
                "size": bundle.size,
                "blake3": bundle.blake3,
                "sha256": bundle.sha256,
                "store": f"bundles/{bundle.blake3}",
            }
            for number, reference in enumerate(references, start=1):
                tx.append(
                    EventDraft(
                        Action.DISCLOSED,
                        person.name,
                        person.team,
                        reference,
                        {**details, "schedule_number": number},
                    )
                )
            tx.add_bundle(bundle)
        return bundle


def build(catalog: SqlCatalog, clock: StepClock, root: Path) -> LogCase:
    """Case DANUBE of ``config/jit.example.toml`` (BG, ME, FR; FR leads), its
    log policy registered and a checkpoint published after every action (at
    the sizes of ``PUBLISHED``), each cosigned by the three teams' witnesses."""
    jit = load_jit(JIT_EXAMPLE)
    admin = next(p for p in jit.people if p.name == "Adm. Horvat")
    setup.add_person(catalog, None, admin)
    for person in jit.people:
        if person != admin:
            setup.add_person(catalog, admin.name, person)
    setup.open_case(catalog, jit.case, admin.name)
    keys = KeyRing(root / "keys")
    for team in jit.case.teams:
        setup.register_team_key(catalog, admin, CASE, team.code, keys.generate(team.code))
    log_key = keys.log.load_or_create()
    witnesses = witnesses_in(
        root / "witnesses", [t.code for t in jit.case.teams], log_key.public_key
    )
    key = VerifierKey(ORIGIN, NOTE_SIGNATURE, bytes.fromhex(log_key.public_key))
    policy = Policy.every_team(key, {w.name: w.key for w in witnesses})
    setup.register_log_policy(catalog, admin, CASE, ORIGIN, policy)
    store = LocalStore(root / "objects", retention_days=1, clock=clock)
    case = LogCase(catalog, store, clock, keys, witnesses, policy, root)
    case.publish()
    refs = case.ingest("chat.txt", "invoice.txt", "ledger.txt")
    case.publish()
    laurent = case.person("Cdt. Laurent")
    made = transfers.request_transfer(
        catalog,
        case.person("Insp. Petrova"),
        case_id=CASE,
        references=refs[:2],
        to_team="FR",
        purpose=Purpose.JIT,
        note="For the FR financial investigation",
    )
    case.transfer = made.id
    case.publish()
    transfers.decide(catalog, laurent, made.id, approve=True, reason="Within the JIT's purposes")
    case.publish()
    transfers.dispatch(store, catalog, laurent, made.id)
    case.publish()
    transfers.receive(store, catalog, keys.signer("FR"), clock, case.person("Lt. Moreau"), made.id)
    case.publish()
    case.set_handling(refs[2], HandlingCode.H1)
    case.publish()
    sizes = tuple(p.size for p in case.publications)
    assert sizes == PUBLISHED and all(p.published for p in case.publications), sizes
    return case


@dataclass(frozen=True)
class Template:
    """A case built once (``build``), to be copied into each test's catalog:
    every row, and the folder of its keys, witnesses and objects."""

    rows: Rows
    root: Path
    transfer: str


def template(root: Path) -> Template:
    with SqlCatalog(f"sqlite:///{root / 'template.db'}", StepClock()) as catalog:
        catalog.migrate()
        built = build(catalog, StepClock(), root / "case")
        return Template(snapshot(catalog.engine), root / "case", built.transfer)


def copy_of(made: Template, catalog: SqlCatalog, clock: StepClock, root: Path) -> LogCase:
    """The template's case in ``catalog`` (any backend: its rows are loaded as
    a backup is), with a copy of its folder in ``root``."""
    restore(catalog.engine, made.rows)
    shutil.copytree(made.root, root, dirs_exist_ok=True)
    keys = KeyRing(root / "keys")
    recorded = setup.log_policy(catalog, CASE)
    assert recorded is not None
    witnesses = witnesses_in(root / "witnesses", list(TEAMS), keys.log.load().public_key)
    store = LocalStore(root / "objects", retention_days=1, clock=clock)
    policy = Policy.parse(recorded[1])
    return LogCase(catalog, store, clock, keys, witnesses, policy, root, made.transfer)


# -- tampering with plain SQL ----------------------------------------------------------


def stored_events(conn: Connection) -> list[CustodyEvent]:
    rows = conn.execute(
        select(custody_events)
        .where(custody_events.c.case_id == CASE)
        .order_by(custody_events.c.seq)
    )
    return [records.event_from_row(row) for row in rows]


def rechain(conn: Connection, events: list[CustodyEvent], start: int) -> None:
    """Store ``events`` (the whole chain, some edited) from event ``start`` on,
    each with a correct ``prev_hash`` and BLAKE3 ``hash``: what someone with
    write access to the database and the code of ``evidence.ledger`` can do."""
    prev = ledger.GENESIS if start == 1 else events[start - 2].hash
    for event in events[start - 1 :]:
        linked = replace(event, prev_hash=prev)
        linked = replace(linked, hash=ledger.event_hash(linked))
        values = records.event_values(linked)
        conn.execute(
            update(custody_events)
            .where(custody_events.c.case_id == CASE, custody_events.c.seq == event.seq)
            .values({k: v for k, v in values.items() if k not in ("case_id", "seq")})
        )
        prev = linked.hash


def rewrite_event(conn: Connection, seq: int, **changes: Any) -> None:
    """Change event ``seq``'s fields and rehash the chain from it on."""
    events = stored_events(conn)
    events[seq - 1] = replace(events[seq - 1], **changes)
    rechain(conn, events, seq)


def swap_events(conn: Connection, a: int, b: int) -> None:
    """Swap what events ``a`` and ``b`` say (their times stay in order) and
    rehash the chain from the first of them."""
    events = stored_events(conn)
    first, second = events[a - 1], events[b - 1]
    said = ("exhibit", "action", "actor", "team", "details")
    events[a - 1] = replace(first, **{f: getattr(second, f) for f in said})
    events[b - 1] = replace(second, **{f: getattr(first, f) for f in said})
    rechain(conn, events, min(a, b))


def append_forged(conn: Connection, draft: EventDraft) -> CustodyEvent:
    """Insert an event after the head, correctly linked and hashed."""
    head = stored_events(conn)[-1]
    forged = ledger.link(CASE, head, draft, head.at)
    conn.execute(insert(custody_events).values(records.event_values(forged)))
    return forged


def delete_events_from(conn: Connection, seq: int) -> None:
    conn.execute(
        delete(custody_events).where(custody_events.c.case_id == CASE, custody_events.c.seq >= seq)
    )


def wipe_log(conn: Connection) -> None:
    """Delete every checkpoint, cosignature and tree node: the catalog forgets
    what it signed (the witnesses do not)."""
    for table in TLOG_TABLES:
        conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 (fixed table names)


def snapshot(engine: Engine) -> Rows:
    """Every row of every table: a backup of the catalog database."""
    with engine.connect() as conn:
        return {
            t.name: [dict(row._mapping) for row in conn.execute(select(t))]
            for t in metadata.sorted_tables
        }


def restore(engine: Engine, rows: Rows) -> None:
    """Put a backup back, as restoring the database from it does."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(delete(table))
        for table in metadata.sorted_tables:
            if rows[table.name]:
                conn.execute(insert(table), rows[table.name])


def named(report: Report[Any], check: str, where: str, kind: str, says: str = "") -> Finding:
    """The one finding of ``check`` about ``where`` of ``kind`` whose message
    holds ``says``; fails listing every finding when there is not exactly one."""
    found = [
        f
        for f in report.findings
        if (f.check, f.where, f.kind) == (check, where, kind) and says in f.message
    ]
    assert len(found) == 1, "\n".join(f"{f.check} {f.kind} {f.text()}" for f in report.findings)
    return found[0]
