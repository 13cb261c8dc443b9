"""Ingest: plan, store, commit, always **store → verify → commit**: files
are streamed once through the digests into the store in groups made durable
together (``ObjectStore.group``); only then ``commit`` writes the group's
exhibits and events in one transaction. A crash in between leaves stored
objects and no ledger entry; the re-run adopts them (same content, same key).
``plan_ingest`` checks everything a person can get wrong before a byte is
stored. Each file ends as an ``Outcome``; an ``IngestResult`` is what a run
returns; progress goes to a ``Progress`` passed in (the CLI's bar).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from time import perf_counter
from typing import Any

from blake3 import blake3

from evidence import manifest as manifests
from evidence import policy
from evidence.errors import InputError, SourceChanged, SourceUnreadable
from evidence.hashing import CHUNK, HashingReader
from evidence.mediatype import sniff
from evidence.models import (
    Action,
    Case,
    Digests,
    Exhibit,
    ExhibitMetadata,
    ExhibitStatus,
    Handling,
    StoredObject,
    exhibit_reference,
)
from evidence.outcomes import IngestResult, Outcome, OutcomeStatus
from evidence.policy import Right
from evidence.ports import (
    ByteStream,
    CaseTransaction,
    Catalog,
    EventDraft,
    FinishedItem,
    IngestRun,
    ObjectStore,
    ObjectWriter,
)
from evidence.sources import Skipped, SourceFile, discover, open_once

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
    skipped: list[Skipped]
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
        raise InputError("say who is ingesting (a registered person)", field="actor")
    case = catalog.case(case_id)
    case.team(team)
    policy.decide(catalog.person(actor), Right.INGEST, case=case, team=team).require()
    files, skipped = plan_files(paths, defaults, manifest)
    fingerprint = blake3(
        json.dumps([case_id, team, sorted(os.path.abspath(p) for p in paths)]).encode()
    ).hexdigest()
    return IngestPlan(case, team, actor, files, skipped, fingerprint)


def plan_files(
    paths: list[str], defaults: ExhibitMetadata, manifest: str | None
) -> tuple[list[PlannedFile], list[Skipped]]:
    """The files under ``paths`` and each one's metadata (the manifest's
    over ``defaults``; the file's name for a missing title), checked before
    anything is read: a direct ingest plans with it, and so does the CLI in
    client mode before it sends a byte."""
    found = discover(paths)
    relatives = [f.relative for f in found.files]
    described = manifests.load(Path(manifest), relatives) if manifest else {}
    if defaults.declared is not None and len(found.files) != 1:
        raise InputError(
            f"a declared hash given for the whole ingest is for one file, but "
            f"{len(found.files)} files were given: put per-file hashes in a manifest",
            field="declared_hash",
        )
    files = []
    for source in found.files:
        meta = manifests.merge(defaults, described.get(source.relative))
        if meta.title is None:
            meta = replace(meta, title=PurePosixPath(source.relative).name)
        files.append(PlannedFile(source, meta))
    return files, found.skipped


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
    """A file not recorded: it changed while it was read (``CHANGED``), or it
    could not be read (``UNREADABLE``: nothing reached the store)."""

    planned: PlannedFile
    reason: str
    stored: StoredObject | None  # bytes that did reach the store before the change was seen
    status: OutcomeStatus = OutcomeStatus.CHANGED


def store_stream(
    store: ObjectWriter,
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
    store: ObjectWriter,
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
    except SourceUnreadable as exc:  # the store dropped what it had begun to write
        return Unreadable(planned, str(exc), None, OutcomeStatus.UNREADABLE)
    assert stored is not None
    return stored


def _stored_details(item: Stored, run: IngestRun) -> dict[str, Any]:
    meta = item.planned.metadata
    details: dict[str, Any] = {
        "source": item.planned.source.relative,
        "title": meta.title or item.planned.source.relative,
        "description": meta.description,
        "seized_at": meta.seized_at.isoformat() if meta.seized_at else None,
        "seized_by": meta.seized_by,
        "seized_from": meta.seized_from,
        "size": item.digests.size,
        "blake3": item.digests.blake3,
        "sha256": item.digests.sha256,
        "media_type": item.media_type,
        "store": f"{item.stored.namespace}/{item.stored.key}",
        "run": run.id,
    }
    if item.stored.retention_until:
        details["retention_until"] = item.stored.retention_until.isoformat()
    if item.planned.source.raw_name:  # the name as the seized file system held it
        details["source_bytes"] = item.planned.source.raw_name
    if meta.declared:
        details["declared"] = {"algorithm": meta.declared.algorithm, "value": meta.declared.value}
    details["handling"] = (meta.handling or Handling()).as_dict()
    return details


def _duplicate(
    tx: CaseTransaction,
    plan: IngestPlan,
    run: IngestRun,
    item: Stored,
    reference: str,
    media_type: str,
) -> Outcome:
    """DUPLICATE_SEEN of content already exhibit ``reference``."""
    d, details = item.digests, _stored_details(item, run)
    event = tx.append(EventDraft(Action.DUPLICATE_SEEN, plan.actor, plan.team, reference, details))
    return Outcome(
        item.planned.source.relative,
        OutcomeStatus.DUPLICATE,
        reference,
        d.size,
        d.blake3,
        d.sha256,
        media_type,
        f"same content as {reference}",
        event.seq,
    )


def commit(
    catalog: Catalog, plan: IngestPlan, run: IngestRun, items: Iterable[Stored | Unreadable]
) -> list[Outcome]:
    """Commit a group's exhibits and their custody events in one transaction,
    with one query for the contents already known, one counter update for
    the group's exhibit numbers, and one insert each for the exhibits and the
    run's items. Files are recorded in the order given: new contents get
    their numbers in that order, and a second file of the same content is a
    duplicate of the first."""
    team, actor = plan.team, plan.actor
    items = list(items)
    outcomes: list[Outcome] = []
    with catalog.transaction(plan.case.id) as tx:
        stored = [i for i in items if isinstance(i, Stored)]
        known = tx.exhibits_by_blake3({i.digests.blake3 for i in stored})
        firsts: dict[str, Stored] = {}
        for i in stored:
            if i.digests.blake3 not in known:
                firsts.setdefault(i.digests.blake3, i)
        numbers = tx.next_exhibit_numbers(team, len(firsts)) if firsts else range(0)
        references = {b3: exhibit_reference(team, n) for b3, n in zip(firsts, numbers, strict=True)}
        new: list[Exhibit] = []
        done: dict[str, str] = {}
        for item in items:
            source = item.planned.source.relative
            if isinstance(item, Unreadable) and item.status is OutcomeStatus.UNREADABLE:
                outcomes.append(Outcome(source, item.status, message=item.reason))
                continue  # nothing was read or stored: nothing to account for
            if isinstance(item, Unreadable):
                details: dict[str, Any] = {"source": source, "reason": item.reason, "run": run.id}
                if item.stored:
                    details["store"] = f"{item.stored.namespace}/{item.stored.key}"
                event = tx.append(EventDraft(Action.SOURCE_CHANGED, actor, team, None, details))
                outcomes.append(
                    Outcome(source, OutcomeStatus.CHANGED, message=item.reason, seq=event.seq)
                )
                continue
            b3 = item.digests.blake3
            if firsts.get(b3) is not item:  # already an exhibit, in the case or in this group
                first = known.get(b3)
                reference = first.reference if first else references[b3]
                media_type = first.media_type if first else firsts[b3].media_type
                outcomes.append(_duplicate(tx, plan, run, item, reference, media_type))
                done[source] = reference
                continue
            made, outcome = _new_exhibit(tx, plan, run, item, references[b3])
            new.append(made)
            done[source] = made.reference
            outcomes.append(outcome)
        tx.add_exhibits(new)
        if done:
            identities = {i.planned.source.relative: _identity(plan, i.planned) for i in stored}
            tx.mark_done(run.id, done, identities)
    return outcomes


def _new_exhibit(
    tx: CaseTransaction, plan: IngestPlan, run: IngestRun, item: Stored, reference: str
) -> tuple[Exhibit, Outcome]:
    """INGESTED (and HASH_MISMATCH for a wrong declared hash): exhibit, outcome."""
    team, actor, source = plan.team, plan.actor, item.planned.source.relative
    meta, d = item.planned.metadata, item.digests
    event = tx.append(
        EventDraft(Action.INGESTED, actor, team, reference, _stored_details(item, run))
    )
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
    exhibit = Exhibit(
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
    outcome = Outcome(
        source,
        OutcomeStatus(status.value),
        reference,
        d.size,
        d.blake3,
        d.sha256,
        item.media_type,
        message,
        event.seq,
    )
    return exhibit, outcome


class Progress:
    """Where an ingest reports its progress (the CLI's bar): override what you
    need. Silent by default. It is passed in (to the flow, then to each
    batch), never looked up; Prefect stores it as a placeholder, never its
    contents (``__slots__``: not serializable)."""

    __slots__ = ()

    def planned(self, plan: IngestPlan, run: IngestRun) -> None:
        """The run is about to start; ``run.done`` is what it committed before."""

    def read(self, n: int) -> None:
        """``n`` more bytes were read and hashed."""

    def committed(self, outcome: Outcome) -> None:
        """One more file has its outcome recorded."""


def _store_all(
    group: ObjectWriter, team: str, files: list[PlannedFile], progress: Progress, parallel: int
) -> list[Stored | Unreadable]:
    """Store the files of a group, ``parallel`` at once (in their order)."""
    if parallel <= 1 or len(files) <= 1:
        return [store_file(group, team, p, progress.read) for p in files]
    with ThreadPoolExecutor(min(parallel, len(files)), thread_name_prefix="jitev-put") as pool:
        return list(pool.map(lambda p: store_file(group, team, p, progress.read), files))


STAGES = ("discover", "read_hash_store", "sync", "commit", "publish")  # IngestResult.seconds


def ingest_batch(
    store: ObjectStore,
    catalog: Catalog,
    plan: IngestPlan,
    run: IngestRun,
    files: list[PlannedFile],
    *,
    commit_every: int,
    progress: Progress | None = None,
    seconds: dict[str, float] | None = None,
) -> list[Outcome]:
    """Store the batch's files in groups of ``commit_every``: each group is
    made durable in the store together (group commit), then committed in one
    transaction. Files already committed by this run (a retry, or a resumed
    run) are skipped. The time of each stage is added to ``seconds``."""
    progress = progress or Progress()
    spent = seconds if seconds is not None else {}
    done = catalog.run_items(run.id, [f.source.relative for f in files])  # a task's retry
    outcomes: list[Outcome] = []
    pending: list[PlannedFile] = []

    def flush() -> None:
        start = perf_counter()
        # Durable together when the block ends; a resumed run may find its objects there.
        with store.group(fresh=not run.resumed) as group:
            items = _store_all(group, plan.team, pending, progress, store.put_parallel)
            stored = perf_counter()
        synced = perf_counter()
        pending.clear()
        committed = commit(catalog, plan, run, items)
        for stage, took in (
            ("read_hash_store", stored - start),
            ("sync", synced - stored),
            ("commit", perf_counter() - synced),
        ):
            spent[stage] = spent.get(stage, 0.0) + took
        for outcome in committed:
            progress.committed(outcome)
        outcomes.extend(committed)

    for planned in files:
        if planned.source.relative in done:
            continue
        pending.append(planned)
        if len(pending) >= commit_every:
            flush()
    if pending:
        flush()
    return outcomes


# -- a run ---------------------------------------------------------------------


def pending(plan: IngestPlan, run: IngestRun, skip: Collection[str] = ()) -> list[PlannedFile]:
    """The files of the plan that the run has not committed yet, but ``skip``."""
    return [
        f for f in plan.files if f.source.relative not in run.done and f.source.relative not in skip
    ]


def _identity(plan: IngestPlan, planned: PlannedFile) -> str:
    """What must be the same for a file not to be read again: the file
    (``SourceFile.identity``), who ingests it and the metadata given for it
    (flags or manifest). Another person, or another description, is another
    act of custody: the file is read and recorded again."""
    if not planned.source.identity:
        return ""
    given = blake3(repr((plan.actor, planned.metadata)).encode()).hexdigest()[:32]
    return f"{planned.source.identity}:{given}"


def unchanged(
    plan: IngestPlan, run: IngestRun, before: Mapping[str, FinishedItem]
) -> list[Outcome]:
    """Files a finished run of the same command committed that are still the
    same (``_identity``): not read again, nothing recorded; ``--reread`` reads them."""
    kept = []
    for f in plan.files:
        item = before.get(f.source.relative)
        if f.source.relative in run.done or item is None or not item.identity:
            continue
        if item.identity == _identity(plan, f):
            kept.append(
                Outcome(
                    f.source.relative,
                    OutcomeStatus.UNCHANGED,
                    item.reference,
                    f.source.size,
                    message=f"already {item.reference}, the same file since: not read again",
                )
            )
    return kept


def finish(
    catalog: Catalog, plan: IngestPlan, run: IngestRun, outcomes: list[Outcome]
) -> IngestResult:
    """End the run unless a file changed while read (then the command resumes
    it). A run with unreadable files ends: nothing of them was stored, and the
    same command, run again, reads them (and only them) again."""
    if all(o.status is not OutcomeStatus.CHANGED for o in outcomes):
        catalog.finish_run(run.id)
    return IngestResult(
        case=plan.case.id,
        team=plan.team,
        run=run.id,
        resumed=run.resumed,
        already_done=len(plan.files) - len(pending(plan, run)),
        outcomes=tuple(outcomes),
        skipped=tuple(plan.skipped),
    )
