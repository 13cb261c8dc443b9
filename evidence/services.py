"""Use cases over the ports: open a case, plan an ingest, store files, commit
exhibits with their custody events, show continuity, verify a case.

The order of an ingest is always: **store → verify → commit**. ``store_file``
streams the file once through the digests into the store, which checks what
it stored; only then ``commit`` writes the exhibit and its INGESTED event in
one transaction. A crash in between leaves a stored object and no ledger
entry; the re-run adopts the object (same content, same key).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any

from blake3 import blake3

from evidence import manifest as manifests
from evidence import policy
from evidence.errors import InputError, JitevError, SourceChanged
from evidence.hashing import CHUNK, HashingReader, MultiHash
from evidence.ledger import Verification, verify
from evidence.mediatype import sniff
from evidence.models import (
    Action,
    Case,
    CustodyEvent,
    Digests,
    Exhibit,
    ExhibitMetadata,
    ExhibitStatus,
    Handling,
    StoredObject,
    exhibit_reference,
)
from evidence.policy import Right
from evidence.ports import ByteStream, Catalog, EventDraft, IngestRun, ObjectStore
from evidence.sources import SourceFile, discover, open_once


def open_case(catalog: Catalog, case: Case, actor: str) -> CustodyEvent:
    """Open a case as ``actor``: an admin, or a lead of one of its teams."""
    policy.decide(catalog.person(actor), Right.OPEN_CASE, case=case).require()
    return catalog.add_case(
        case,
        EventDraft(
            action=Action.CASE_OPENED,
            actor=actor,
            team=case.lead_team,
            details={
                "title": case.title,
                "agreement": case.agreement_ref,
                "teams": [t.code for t in case.teams],
                "lead_team": case.lead_team,
            },
        ),
    )


# -- planning: everything is checked before anything is stored ---------------


@dataclass(frozen=True, slots=True)
class PlannedFile:
    source: SourceFile
    metadata: ExhibitMetadata


@dataclass(frozen=True, slots=True)
class IngestPlan:
    case: Case
    team: str
    actor: str
    files: list[PlannedFile]
    skipped: list[tuple[str, str]]
    fingerprint: str

    @property
    def total_bytes(self) -> int:
        return sum(p.source.size for p in self.files)


def plan_ingest(
    catalog: Catalog,
    *,
    case_id: str,
    team: str,
    actor: str,
    paths: list[str],
    defaults: ExhibitMetadata,
    manifest: str | None = None,
) -> IngestPlan:
    if not actor.strip():
        raise InputError('say who is ingesting: --as "Insp. Petrova"')
    case = catalog.case(case_id)
    case.team(team)
    policy.decide(catalog.person(actor), Right.INGEST, case=case, team=team).require()
    found = discover(paths)
    relatives = [f.relative for f in found.files]
    described = manifests.load(Path(manifest), relatives) if manifest else {}
    if defaults.declared is not None and len(found.files) != 1:
        raise InputError(
            f"a declared hash on the command line is for one file, but {len(found.files)} "
            "files were given: put per-file hashes in a manifest (--manifest)"
        )
    files = []
    for source in found.files:
        meta = manifests.merge(defaults, described.get(source.relative))
        if meta.title is None:
            meta = replace(meta, title=PurePosixPath(source.relative).name)
        files.append(PlannedFile(source, meta))
    fingerprint = blake3(
        json.dumps([case_id, team, sorted(os.path.abspath(p) for p in paths)]).encode()
    ).hexdigest()
    return IngestPlan(case, team, actor, files, found.skipped, fingerprint)


MIN_BATCH = 50


def batches(
    files: list[PlannedFile], *, max_files: int, max_bytes: int, workers: int
) -> list[list[PlannedFile]]:
    """Group files into tasks: at most ``max_files`` files or about ``max_bytes``
    per batch, and enough batches to keep ``workers`` busy (never fewer than
    ``MIN_BATCH`` files a batch, for small files). A file bigger than
    ``max_bytes`` gets a batch of its own."""
    if not files:
        return []
    # Spread work over the workers, but keep small ingests in one batch so
    # their exhibit numbers follow the order the files were given in.
    limit_files = max(1, min(max_files, max(MIN_BATCH, -(-len(files) // max(1, workers)))))
    limit_bytes = max(1, max_bytes)
    result: list[list[PlannedFile]] = []
    current: list[PlannedFile] = []
    size = 0
    for f in files:
        if current and (len(current) >= limit_files or size + f.source.size > limit_bytes):
            result.append(current)
            current, size = [], 0
        current.append(f)
        size += f.source.size
    result.append(current)
    return result


# -- store, then commit --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    planned: PlannedFile
    stored: StoredObject
    digests: Digests
    media_type: str


@dataclass(frozen=True, slots=True)
class Unreadable:
    planned: PlannedFile
    reason: str
    stored: StoredObject | None  # bytes that did reach the store before the change was seen


def store_stream(
    store: ObjectStore,
    namespace: str,
    planned: PlannedFile,
    handle: ByteStream,
    on_bytes: Callable[[int], None] | None = None,
) -> Stored:
    """Stream ``handle``'s bytes once through the digests into the store."""
    declared = planned.metadata.declared
    reader = HashingReader(
        handle,
        [declared.algorithm] if declared else [],
        on_read=on_bytes,
        threaded=planned.source.size > CHUNK,
    )
    try:
        stored = store.put(namespace, reader, planned.source.size)
    finally:
        reader.close()
    return Stored(planned, stored, reader.digests(), sniff(reader.head))


def store_file(
    store: ObjectStore,
    namespace: str,
    planned: PlannedFile,
    on_bytes: Callable[[int], None] | None = None,
) -> Stored | Unreadable:
    """Stream one file once through the digests into the store."""
    stored: Stored | None = None
    try:
        with open_once(planned.source) as handle:  # checks the file did not change on exit
            stored = store_stream(store, namespace, planned, handle, on_bytes)
    except SourceChanged as exc:
        return Unreadable(planned, str(exc), stored.stored if stored else None)
    assert stored is not None
    return stored


@dataclass(frozen=True, slots=True)
class Outcome:
    """The small receipt of one file: what the flow returns, never bytes."""

    source: str
    status: str  # stored | quarantined | duplicate | changed
    reference: str | None = None
    size: int = 0
    blake3: str = ""
    sha256: str = ""
    media_type: str = ""
    message: str = ""
    seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


def _stored_details(item: Stored, run: IngestRun) -> dict[str, Any]:
    meta = item.planned.metadata
    details: dict[str, Any] = {
        "source": item.planned.source.relative,
        "size": item.digests.size,
        "blake3": item.digests.blake3,
        "sha256": item.digests.sha256,
        "media_type": item.media_type,
        "store": f"{item.stored.namespace}/{item.stored.key}",
        "run": run.id,
    }
    if item.stored.retention_until:
        details["retention_until"] = item.stored.retention_until.isoformat()
    if meta.declared:
        details["declared"] = {"algorithm": meta.declared.algorithm, "value": meta.declared.value}
    details["handling"] = (meta.handling or Handling()).as_dict()
    return details


def commit(
    catalog: Catalog, plan: IngestPlan, run: IngestRun, items: Iterable[Stored | Unreadable]
) -> list[Outcome]:
    """Commit exhibits and their custody events in one transaction."""
    team, actor = plan.team, plan.actor
    outcomes: list[Outcome] = []
    with catalog.transaction(plan.case.id) as tx:
        for item in items:
            source = item.planned.source.relative
            if isinstance(item, Unreadable):
                details: dict[str, Any] = {"source": source, "reason": item.reason, "run": run.id}
                if item.stored:
                    details["store"] = f"{item.stored.namespace}/{item.stored.key}"
                event = tx.append(EventDraft(Action.SOURCE_CHANGED, actor, team, None, details))
                outcomes.append(Outcome(source, "changed", message=item.reason, seq=event.seq))
                continue
            d, details = item.digests, _stored_details(item, run)
            existing = tx.exhibit_by_blake3(d.blake3)
            if existing is not None:
                event = tx.append(
                    EventDraft(Action.DUPLICATE_SEEN, actor, team, existing.reference, details)
                )
                tx.mark_done(run.id, source, existing.reference)
                outcomes.append(
                    Outcome(
                        source,
                        "duplicate",
                        existing.reference,
                        d.size,
                        d.blake3,
                        d.sha256,
                        existing.media_type,
                        f"same content as {existing.reference}",
                        event.seq,
                    )
                )
                continue
            meta = item.planned.metadata
            reference = exhibit_reference(team, tx.next_exhibit_number(team))
            event = tx.append(EventDraft(Action.INGESTED, actor, team, reference, details))
            status, message = ExhibitStatus.STORED, ""
            if meta.declared and d.declared[meta.declared.algorithm] != meta.declared.value:
                status = ExhibitStatus.QUARANTINED
                message = (
                    f"declared {meta.declared.algorithm} {meta.declared.value} but the bytes give "
                    f"{d.declared[meta.declared.algorithm]}: exhibit quarantined; check the "
                    "acquisition record with the seizing officer"
                )
                tx.append(
                    EventDraft(
                        Action.HASH_MISMATCH,
                        actor,
                        team,
                        reference,
                        {
                            "algorithm": meta.declared.algorithm,
                            "declared": meta.declared.value,
                            "computed": d.declared[meta.declared.algorithm],
                        },
                    )
                )
            tx.add_exhibit(
                Exhibit(
                    reference=reference,
                    case_id=plan.case.id,
                    team=team,
                    title=meta.title or source,
                    description=meta.description,
                    seized_at=meta.seized_at,
                    seized_by=meta.seized_by,
                    seized_from=meta.seized_from,
                    original_name=PurePosixPath(source).name,
                    relative_path=source,
                    media_type=item.media_type,
                    size=d.size,
                    blake3=d.blake3,
                    sha256=d.sha256,
                    declared=meta.declared,
                    storage_key=item.stored.key,
                    retention_until=item.stored.retention_until,
                    status=status,
                    ingested_at=event.at,
                    ingested_by=actor,
                    handling=meta.handling or Handling(),
                )
            )
            tx.mark_done(run.id, source, reference)
            outcomes.append(
                Outcome(
                    source,
                    status.value,
                    reference,
                    d.size,
                    d.blake3,
                    d.sha256,
                    item.media_type,
                    message,
                    event.seq,
                )
            )
    return outcomes


@dataclass
class Progress:
    """Where ingest progress goes (the CLI's progress bar); silent by default."""

    on_plan: Callable[[IngestPlan, IngestRun], None] = field(default=lambda plan, run: None)
    on_bytes: Callable[[int], None] = field(default=lambda n: None)
    on_file: Callable[[Outcome], None] = field(default=lambda o: None)


def ingest_batch(
    store: ObjectStore,
    catalog: Catalog,
    plan: IngestPlan,
    run: IngestRun,
    files: list[PlannedFile],
    *,
    commit_every: int,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Store the batch's files one by one and commit them in groups. Files
    already committed by this run (a retry, or a resumed run) are skipped."""
    progress = progress or Progress()
    done = catalog.run_items(run.id)
    outcomes: list[Outcome] = []
    pending: list[Stored | Unreadable] = []

    def flush() -> None:
        committed = commit(catalog, plan, run, pending)
        pending.clear()
        for outcome in committed:
            progress.on_file(outcome)
        outcomes.extend(committed)

    for planned in files:
        if planned.source.relative in done:
            continue
        pending.append(store_file(store, plan.team, planned, progress.on_bytes))
        if len(pending) >= commit_every:
            flush()
    if pending:
        flush()
    return outcomes


def ingest_upload(
    store: ObjectStore,
    catalog: Catalog,
    *,
    case_id: str,
    actor: str,
    name: str,
    length: int,
    body: ByteStream,
    metadata: ExhibitMetadata,
) -> Outcome:
    """Ingest one file that arrives as a stream (an upload over HTTP) into the
    actor's team: the same checks, one-pass hashing, store → verify → commit
    and custody events as ``jitev ingest``, as a run of one file. ``body``
    must give exactly ``length`` bytes, or it raises and nothing is
    recorded."""
    person = catalog.person(actor)
    case = catalog.case(case_id)
    policy.decide(person, Right.INGEST, case=case, team=person.team).require()
    planned = PlannedFile(SourceFile.uploaded(name, length), metadata)  # title: the name
    plan = IngestPlan(case, person.team, actor, [planned], [], uuid.uuid4().hex)
    stored = store_stream(store, person.team, planned, body)
    run = catalog.start_run(case_id, person.team, actor, plan.fingerprint)
    [outcome] = commit(catalog, plan, run, [stored])
    catalog.finish_run(run.id)
    return outcome


# -- reading and verifying -------------------------------------------------------


def read_back(
    store: ObjectStore,
    namespace: str,
    key: str,
    write: Callable[[bytes], object] | None = None,
) -> tuple[int, str, str]:
    """Size, BLAKE3 and SHA-256 of a stored object, from its bytes, handing
    each chunk to ``write`` too (a download) in the same pass."""
    digest = MultiHash()
    for chunk in store.open(namespace, key):
        digest.update(chunk)
        if write is not None:
            write(chunk)
    found = digest.digests()
    return found.size, found.blake3, found.sha256


@dataclass(frozen=True, slots=True)
class CaseCheck:
    chain: Verification
    exhibits: int
    problems: list[str]  # catalog rows or stored objects that disagree with the ledger

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.chain.as_dict(),
            "ok": self.ok,
            "exhibits": self.exhibits,
            "exhibit_problems": self.problems,
        }


def verify_case(catalog: Catalog, case_id: str, store: ObjectStore | None = None) -> CaseCheck:
    """Recompute the chain; check every exhibit row against its INGESTED event
    (the ledger is the authority); with ``store``, re-read and re-hash every
    stored object too."""
    catalog.case(case_id)
    events = list(catalog.events(case_id))
    chain = verify(case_id, events)
    ingested = {e.exhibit: e.details for e in events if e.action == Action.INGESTED}
    problems: list[str] = []
    exhibits = catalog.exhibits(case_id)
    for ex in exhibits:
        recorded = ingested.get(ex.reference)
        if recorded is None:
            problems.append(f"{ex.reference}: no INGESTED custody event")
            continue
        for name, value in (
            ("size", ex.size),
            ("blake3", ex.blake3),
            ("sha256", ex.sha256),
            ("store", f"{ex.team}/{ex.storage_key}"),
        ):
            if recorded.get(name) != value:
                problems.append(
                    f"{ex.reference}: catalog {name} {value} differs from the ledger's {recorded.get(name)}"
                )
        if store is not None:
            try:
                found = read_back(store, ex.team, ex.storage_key)
            except JitevError as exc:
                problems.append(f"{ex.reference}: stored object cannot be read: {exc}")
                continue
            if found != (ex.size, ex.blake3, ex.sha256):
                problems.append(
                    f"{ex.reference}: stored object {ex.storage_key} does not match its hashes"
                )
    return CaseCheck(chain, len(exhibits), problems)
