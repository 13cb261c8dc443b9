"""Disclosure: a prosecutor's bundle of the exhibits their team holds.

Rules (``plan_bundle``), decided before a byte is read:

- the prosecutor needs the ``disclose`` right on every exhibit: their team
  holds it (originated it, or received it by a completed hand-off);
- an **H1** exhibit (no use in judicial proceedings without the originator's
  permission) needs a recorded consent of its originating team's lead for the
  prosecutor's team (``handling.consent_judicial_use``); without it the bundle is
  refused, naming the exhibits and whose consent is missing;
- an exhibit marked **sensitive** (``handling.set_sensitive``, with the reason) never
  enters the bundle: it is listed, with the reason, on a separate sensitive
  schedule (like the UK MG6D; the bundle's schedule is the MG6C), stored
  beside the bundle for the prosecutor and the court, not the defence.

Consents and sensitivity are custody events on the exhibit, decided by a lead
of its originating team (``evidence.handling``).

``create_bundle`` makes a bundle in this order, so that nothing meaningful
in it can be edited without a verifier noticing:

1. the witnesses cosign the log as it stands; if the policy's quorum is not
   met the bundle is refused, nothing recorded (a bundle carries a checkpoint
   every member team's witness cosigned; other work goes on without one);
2. the payload is built from the chain as it stands (``bundle.build``): the
   extract holds only the events of the bundle's exhibits and the case-level
   events a verifier needs (selective disclosure); the bundle's time is the
   time of the extract's last event, so building it again from the same
   ledger state gives the same payload;
3. its seal (``layout.seal_digest``) is recorded in a BUNDLE_SEALED custody
   event, and the witnesses cosign a checkpoint covering it. A quorum missing
   now leaves the seal event alone in the ledger and refuses the bundle;
4. the bag is written with that checkpoint, the policy, an inclusion proof
   of every disclosed event, and a consistency proof from each earlier
   bundle's checkpoint; stored write-once in the ``bundles`` namespace;
5. a DISCLOSED event on each included exhibit records the bundle's id,
   digests and the checkpoint's size, with the bundle's row, in one
   transaction.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence import policy
from evidence.bundle import build as builder
from evidence.bundle.layout import Identity, csv_document
from evidence.errors import (
    Consent,
    ConsentMissing,
    InputError,
    IntegrityError,
    WitnessUnavailable,
)
from evidence.handling import use_of
from evidence.hashing import HashingReader, digest_chunks, open_recorded, stat_recorded
from evidence.models import (
    Action,
    Bundle,
    Case,
    CustodyEvent,
    Exhibit,
    HandlingCode,
    Person,
)
from evidence.paging import Cursor, Page, check_key, of_list
from evidence.policy import Right
from evidence.ports import Catalog, EventDraft, ObjectStore
from evidence.selections import selected_exhibits
from evidence.setup import ledger_team_key, log_policy
from evidence.tlog import proofs
from evidence.tlog.publish import Publication, Publish
from evidence.visibility import member_cases

NAMESPACE = "bundles"  # where bundles are stored, write-once


@dataclass(frozen=True, slots=True)
class BundlePlan:
    case: Case
    prosecutor: Person
    exhibits: list[Exhibit]  # in the bundle, in schedule order
    sensitive: list[tuple[Exhibit, str]]  # on the sensitive schedule instead
    events: list[CustodyEvent]  # the chain prefix the bundle is built from


def held_exhibits(catalog: Catalog, case_id: str, team: str) -> list[Exhibit]:
    """The exhibits of the case that ``team`` holds (what it may bundle)."""
    holdings = catalog.holdings(case_id)
    return [
        ex
        for ex in catalog.exhibits(case_id)
        if team in {h.team for h in holdings.get(ex.reference, [])}
    ]


def plan_bundle(
    catalog: Catalog,
    person: Person,
    case_id: str,
    references: list[str] | None,
    *,
    selection: str | None = None,
) -> BundlePlan:
    """Check who may disclose what; ``references=None`` means every exhibit
    the prosecutor's team holds, or, with ``selection``, the exhibits of the
    prosecutor's selection as it was frozen (``evidence.selections``)."""
    case = catalog.case(case_id)
    holdings = catalog.holdings(case_id)
    if selection is not None:
        if references is not None:
            raise InputError("name the exhibits or a selection, not both", field="selection")
        chosen = selected_exhibits(catalog, person, case_id, selection)
    elif references is None:
        chosen = held_exhibits(catalog, case_id, person.team)
        if not chosen:
            raise InputError(f"team {person.team} holds no exhibit of case {case_id} yet")
    else:
        if not references:
            raise InputError(
                "name the exhibits to disclose, or ask for every exhibit the team holds",
                field="exhibits",
            )
        chosen = [catalog.exhibit(r, case_id) for r in dict.fromkeys(references)]
    events = list(catalog.events(case_id))
    by_exhibit: dict[str, list[CustodyEvent]] = {}
    for e in events:
        if e.exhibit is not None:
            by_exhibit.setdefault(e.exhibit, []).append(e)
    missing: list[Consent] = []
    included: list[Exhibit] = []
    sensitive: list[tuple[Exhibit, str]] = []
    for ex in chosen:
        holders = [h.team for h in holdings.get(ex.reference, [])]
        policy.decide(person, Right.DISCLOSE, case=case, exhibit=ex, holders=holders).require()
        use = use_of(by_exhibit.get(ex.reference, []))
        if use.sensitive is not None:
            sensitive.append((ex, use.sensitive))
            continue
        if ex.handling.code is HandlingCode.H1 and person.team not in use.consented_for:
            missing.append(Consent(ex.reference, ex.team, person.team))
            continue
        included.append(ex)
    if missing:
        raise ConsentMissing(
            "the bundle is refused:\n  "
            + "\n  ".join(
                f"{c.reference} (H1) needs the consent of its originating team {c.origin_team} "
                f"for judicial use in {c.for_team}: a lead of {c.origin_team} must give it"
                for c in missing
            ),
            consents=tuple(missing),
        )
    if not included:
        raise InputError("every chosen exhibit is sensitive: there is nothing to disclose")
    return BundlePlan(case, person, included, sensitive, events)


def _copy_of(team: str, ex: Exhibit) -> str:
    return f"team {team}'s copy of {ex.reference}"


def _sensitive_schedule(plan: BundlePlan) -> bytes:
    header = ["reference", "title", "media_type", "size", "blake3", "sha256", "reason"]
    return csv_document(
        header,
        (
            [ex.reference, ex.title, ex.media_type, ex.size, ex.blake3, ex.sha256, reason]
            for ex, reason in plan.sensitive
        ),
    )


def _put(store: ObjectStore, path: Path) -> tuple[int, str, str]:
    with path.open("rb") as raw:
        reader = HashingReader(raw, [], threaded=True)
        try:
            stored = store.put(NAMESPACE, reader, path.stat().st_size)
        finally:
            reader.close()
    return stored.size, stored.blake3, stored.sha256


def _published(publication: Publication | None, case_id: str, when: str) -> Publication:
    """The publication, if the policy's quorum cosigned it; else the bundle is refused."""
    if publication is None:
        raise InputError(
            f"case {case_id}'s ledger records no log policy, so no bundle of it can carry a "
            "cosigned checkpoint: an admin sets the JIT up again to register the policy"
        )
    if not publication.published:
        missing = "; ".join(f"witness {w}: {why}" for w, why in publication.missing.items())
        raise WitnessUnavailable(
            f"no bundle of case {case_id} was stored: the checkpoint {when} lacks the "
            f"cosignatures its policy requires ({missing or 'none asked'}). A bundle carries a "
            "checkpoint every member team's witness cosigned; make it again once they answer "
            "(other evidence work goes on meanwhile)"
        )
    return publication


def create_bundle(
    store: ObjectStore,
    catalog: Catalog,
    plan: BundlePlan,
    workdir: Path,
    publish: Publish,
    progress: Callable[[int, int], None] | None = None,
) -> Bundle:
    """Build, seal, store write-once, and record the bundle (see the module
    docstring). ``publish`` asks the case's witnesses to cosign its log;
    ``progress`` hears (exhibits read, exhibits) as their copies are read."""
    person, case = plan.prosecutor, plan.case
    opened: set[str] = set()

    def open_native(ex: Exhibit) -> Iterable[bytes]:
        opened.add(ex.reference)
        if progress is not None:
            progress(len(opened), len(plan.exhibits))
        return open_recorded(store, person.team, ex.blake3, _copy_of(person.team, ex), case.id)

    recorded = log_policy(catalog, case.id)
    _published(publish(case.id), case.id, "before the seal")  # refused early, nothing recorded
    assert recorded is not None  # publish found it too
    keys = {
        t.code: key
        for t in case.teams
        if (key := ledger_team_key(catalog, case.id, t.code)) is not None
    }
    refs = {ex.reference for ex in plan.exhibits}
    events = _unchanged_since(plan, list(catalog.events(case.id)), refs)
    earlier = sorted(
        {
            size
            for e in events
            if e.action == Action.DISCLOSED and isinstance(size := e.details.get("checkpoint"), int)
        }
    )
    for ex in plan.exhibits:  # every copy is there before anything is sealed
        stat_recorded(store, person.team, ex.blake3, _copy_of(person.team, ex), case.id)
    with catalog.transaction(case.id) as tx:  # reserve nothing: only read the next id
        bundle_id = tx.next_bundle_id(person.team)
    head_at = builder.disclosed_events(events, refs)[-1].at
    identity = Identity(bundle_id, case.id, person.team, person.name, head_at)
    with (
        tempfile.TemporaryDirectory(dir=workdir) as tmp,
        builder.prepare(
            identity=identity,
            case=case,
            exhibits=plan.exhibits,
            events=events,
            keys=keys,
            open_native=open_native,
        ) as payload,
    ):
        with catalog.transaction(case.id) as tx:
            _still_next(tx.next_bundle_id(person.team), bundle_id, person.team)
            seal = tx.append(
                EventDraft(
                    Action.BUNDLE_SEALED, person.name, person.team, None, payload.seal_details()
                )
            )
        cosigned = _published(publish(case.id), case.id, f"of the seal (event {seal.seq})")
        seqs = [e.seq for e in payload.events] + [seal.seq]
        log = builder.LogMaterial(
            cosigned.checkpoint,
            recorded[1],
            proofs.inclusions(catalog, case.id, seqs, cosigned.size),
            {m: proofs.consistency(catalog, case.id, m, cosigned.size) for m in earlier},
        )
        zip_path = Path(tmp) / f"{bundle_id}.zip"
        with zip_path.open("wb") as out:
            built = payload.write(out, seal, log)
        size, blake3, sha256 = _put(store, zip_path)
        sensitive_key = None
        if plan.sensitive:
            sensitive_path = Path(tmp) / "sensitive.csv"
            sensitive_path.write_bytes(_sensitive_schedule(plan))
            sensitive_key = _put(store, sensitive_path)[1]
    bundle = Bundle(
        id=bundle_id,
        case_id=case.id,
        team=person.team,
        prosecutor=person.name,
        created_at=identity.created_at,
        ledger_head=built.head[0],
        root_digest=built.root_digest,
        size=size,
        blake3=blake3,
        sha256=sha256,
        exhibits=tuple(ex.reference for ex in plan.exhibits),
        sensitive=tuple(ex.reference for ex, _ in plan.sensitive),
        sensitive_key=sensitive_key,
    )
    details: dict[str, Any] = {
        "bundle": bundle_id,
        "root_digest": built.root_digest,
        "size": size,
        "blake3": blake3,
        "sha256": sha256,
        "store": f"{NAMESPACE}/{blake3}",
        "checkpoint": cosigned.size,
    }
    with catalog.transaction(case.id) as tx:
        _still_next(tx.next_bundle_id(person.team), bundle_id, person.team)
        for number, ex in enumerate(plan.exhibits, start=1):
            tx.append(
                EventDraft(
                    Action.DISCLOSED,
                    person.name,
                    person.team,
                    ex.reference,
                    {**details, "schedule_number": number},
                )
            )
        tx.add_bundle(bundle)
    return bundle


def _unchanged_since(
    plan: BundlePlan, events: list[CustodyEvent], refs: set[str]
) -> list[CustodyEvent]:
    """The case's events now, if the bundle's exhibits have none the plan did
    not see (a consent withdrawn, a sensitivity set meanwhile): the plan's
    decisions still hold."""
    seen = {e.seq for e in plan.events if e.exhibit in refs}
    new = sorted({str(e.exhibit) for e in events if e.exhibit in refs and e.seq not in seen})
    if new:
        raise InputError(
            f"exhibit(s) {', '.join(new)} gained custody events since the bundle "
            "was planned: make the bundle again, so that what is disclosed is decided on them"
        )
    return events


def _still_next(found: str, bundle_id: str, team: str) -> None:
    if found != bundle_id:
        raise InputError(f"another bundle of team {team} was made meanwhile: make it again")


# -- reading bundles ------------------------------------------------------------


def visible_bundles(catalog: Catalog, person: Person, case_id: str | None = None) -> list[Bundle]:
    return [
        b
        for case in member_cases(catalog, person, case_id)
        for b in catalog.bundles(case.id)
        if policy.can_see_bundle(person, case, b, content=False).allowed
    ]


def bundle_page(
    catalog: Catalog, person: Person, case_id: str | None, cursor: Cursor | None, limit: int
) -> Page[Bundle]:
    """A page of ``visible_bundles``: a short list (a bundle is a disclosure,
    a few a month), paged in memory in its (case, team, number) order."""
    check_key(cursor, str, str, int, str)
    found = visible_bundles(catalog, person, case_id)
    return of_list(found, lambda b: (b.case_id, b.team, len(b.id), b.id), cursor, limit)


def checked_bundle(
    catalog: Catalog, person: Person, bundle_id: str, *, content: bool = False
) -> Bundle:
    bundle = catalog.bundle(bundle_id)
    policy.can_see_bundle(person, catalog.case(bundle.case_id), bundle, content=content).require()
    return bundle


def download_bundle(
    store: ObjectStore, bundle: Bundle, write: Callable[[bytes], object], sensitive: bool
) -> None:
    """Stream the stored bundle (or its sensitive schedule) to ``write``,
    checking it against the recorded digest on the way; ``IntegrityError``
    if it does not match (the caller discards what it wrote)."""
    if sensitive and bundle.sensitive_key is None:
        raise InputError(f"bundle {bundle.id} has no sensitive schedule: nothing was kept out")
    key = bundle.sensitive_key if sensitive else bundle.blake3
    assert key is not None
    what = f"the {'sensitive schedule' if sensitive else 'ZIP'} of bundle {bundle.id}"
    found = digest_chunks(open_recorded(store, NAMESPACE, key, what, bundle.case_id), write)
    if found.blake3 != key:
        raise IntegrityError(
            f"the stored copy of {bundle.id} in {store.description} does not match its "
            "recorded BLAKE3: the download was discarded; report it to the auditor"
        )


def record_bundle_access(catalog: Catalog, person: Person, bundle: Bundle) -> None:
    """A person downloaded the bundle ZIP (verified against its digest): an
    ACCESSED custody event for each exhibit in it, as for an exhibit's own
    download, naming the bundle. The server's own reads (its verification
    report) are not a person's access and are not recorded."""
    with catalog.transaction(bundle.case_id) as tx:
        for reference in bundle.exhibits:
            ex = tx.exhibit(reference)
            tx.append(
                EventDraft(
                    Action.ACCESSED,
                    person.name,
                    person.team,
                    reference,
                    {
                        "size": ex.size,
                        "blake3": ex.blake3,
                        "sha256": ex.sha256,
                        "bundle": bundle.id,
                        "store": f"{NAMESPACE}/{bundle.blake3}",
                    },
                )
            )
