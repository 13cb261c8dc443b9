"""``provenance.jsonld``: the chain of custody of a disclosure bundle in the
CASE/UCO ontology (https://caseontology.org, https://unifiedcyberontology.org),
as JSON-LD that the CASE community validator ``case_validate`` (case-utils)
accepts. Pure: the case, the included exhibits and the custody events in,
bytes out; no rdflib, no clock, no randomness.

The graph, modelled on the CASE examples (``forensic_lifecycle``)::

    case-investigation:Investigation      the case: name = case id, its JIT agreement as a
      relevantAuthorization ──────────────  case-investigation:Authorization
      uco-core:object ────────────────────  every other node below
    uco-identity:Organization             each member team
    uco-identity:Person                   each actor, linked to its team by a
      uco-core:Relationship "Member_Of"
    uco-observable:File                   each exhibit: FileFacet (fileName, sizeInBytes),
                                          ContentDataFacet (size, media type, SHA-256 as a
                                          uco-types:Hash; BLAKE3 in a description: UCO's
                                          HashNameVocab has no BLAKE3)
    case-investigation:InvestigativeAction  one per custody event of an included exhibit,
      name = the ledger action (INGESTED, DISPATCHED, ...), start/end = the event time,
      performer = the person, object = the exhibit and its previous provenance record,
      result = a new case-investigation:ProvenanceRecord (exhibitNumber = the exhibit
      reference, object = the exhibit), wasInformedBy = the exhibit's previous action
    the disclosure                        a last InvestigativeAction "DISCLOSED" by the
                                          prosecutor at the bundle's creation time, over the
                                          last provenance record of every exhibit

Node IRIs are ``urn:jitev:<kind>-<readable part>-<UUIDv5>``: the UUID is derived
from the case id, the exhibit reference, the event's ledger hash or the bundle
id, so the same input always gives the same IRIs (and UCO's advice that IRIs end
with a UUID holds). The bytes are UTF-8 JSON with sorted keys, two-space indent
and a final newline; graph nodes come in a fixed order.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from evidence.errors import InputError
from evidence.ledger import format_time
from evidence.models import HEX64, REFERENCE, Action, Case, CustodyEvent, Exhibit, ExhibitStatus

FILENAME = "provenance.jsonld"
KB = "urn:jitev:"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://jitev.eu/provenance/v1")
CONTEXT: dict[str, str] = {
    "kb": KB,
    "case-investigation": "https://ontology.caseontology.org/case/investigation/",
    "uco-action": "https://ontology.unifiedcyberontology.org/uco/action/",
    "uco-core": "https://ontology.unifiedcyberontology.org/uco/core/",
    "uco-identity": "https://ontology.unifiedcyberontology.org/uco/identity/",
    "uco-observable": "https://ontology.unifiedcyberontology.org/uco/observable/",
    "uco-types": "https://ontology.unifiedcyberontology.org/uco/types/",
    "uco-vocabulary": "https://ontology.unifiedcyberontology.org/uco/vocabulary/",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}
DECLARED_METHODS = {"md5": "MD5", "sha1": "SHA1"}  # HashNameVocab names; sha256 is always there
DISCLOSED = "DISCLOSED"
BUNDLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

Node = dict[str, Any]


@dataclass(frozen=True, slots=True)
class BundleIdentity:
    """Who disclosed what, and when: the bundle's final action."""

    bundle_id: str  # DANUBE-FR-B-0001
    prosecutor: str  # the person's name, as custody events record actors
    team: str  # the prosecutor's team code
    created_at: datetime  # from the ledger, timezone-aware


def provenance_jsonld(
    case: Case,
    exhibits: Sequence[Exhibit],
    events: Sequence[CustodyEvent],
    bundle: BundleIdentity,
) -> bytes:
    """The bytes of ``provenance.jsonld`` (see ``provenance_document``)."""
    document = provenance_document(case, exhibits, events, bundle)
    text = json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def provenance_document(
    case: Case,
    exhibits: Sequence[Exhibit],
    events: Sequence[CustodyEvent],
    bundle: BundleIdentity,
) -> dict[str, Any]:
    """The JSON-LD document of the bundle's chain of custody.

    ``exhibits`` are the bundle's exhibits, in schedule order; ``events`` are
    the case's custody events in ledger order, at least every event of those
    exhibits (the bundle's ledger extract: all events up to the last included
    one). Events of other exhibits, and events of no exhibit, are left out.
    """
    _check(case, exhibits, events, bundle)
    graph = _Graph(case)
    investigation = graph.iri("investigation", case.id, f"case/{case.id}")
    authorization = graph.iri("authorization", case.id, f"agreement/{case.id}")
    graph.add(
        {
            "@id": authorization,
            "@type": "case-investigation:Authorization",
            "uco-core:name": f"JIT agreement {case.agreement_ref}",
            "uco-core:description": (
                f"Joint investigation team agreement of case {case.id}: lead team "
                f"{case.lead_team}, member teams {', '.join(t.code for t in case.teams)}"
            ),
            "case-investigation:authorizationType": "joint investigation team agreement",
            "case-investigation:authorizationIdentifier": case.agreement_ref,
        }
    )
    for team in case.teams:
        graph.add(
            {
                "@id": graph.team(team.code),
                "@type": "uco-identity:Organization",
                "uco-core:name": team.name,
                "uco-core:description": f"JIT member team {team.code} ({team.member_state})",
            }
        )
    for exhibit in exhibits:
        graph.add(_exhibit_node(graph, exhibit))

    included = {e.reference: e for e in exhibits}
    last_record: dict[str, str] = {}
    last_action: dict[str, str] = {}
    holders = {e.reference: {e.team} for e in exhibits}
    started: str | None = None
    for event in events:
        if event.action == Action.CASE_OPENED and started is None:
            started = format_time(event.at)
        if event.exhibit is None or event.exhibit not in included:
            continue
        ref = event.exhibit
        if event.action == Action.RECEIVED:
            holders[ref].add(str(event.details.get("to_team") or event.team))
        action = graph.iri("custody-event", f"{event.seq:04d}", f"event/{event.hash}")
        record = graph.iri("provenance-record", f"{ref}-{event.seq:04d}", f"record/{event.hash}")
        node: Node = {
            "@id": action,
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": event.action,
            "uco-core:description": [
                _describe(event),
                f"Custody event {event.seq} of case {case.id}, ledger hash (BLAKE3) {event.hash}",
            ],
            "uco-action:startTime": _when(event.at),
            "uco-action:endTime": _when(event.at),
            "uco-action:performer": {"@id": graph.person(event.actor, event.team)},
            "uco-action:object": _refs([graph.exhibit(ref), last_record.get(ref)]),
            "uco-action:result": _refs([record]),
        }
        if ref in last_action:
            node["case-investigation:wasInformedBy"] = _refs([last_action[ref]])
        graph.add(node)
        held = ", ".join(sorted(holders[ref]))
        after = f"after custody event {event.seq} ({event.action}), held by {held}"
        graph.add(_record(record, ref, graph.exhibit(ref), after))
        last_record[ref], last_action[ref] = record, action

    disclosure = graph.iri("disclosure", bundle.bundle_id, f"bundle/{bundle.bundle_id}")
    results = []
    for ref in included:
        record = graph.iri(
            "provenance-record", f"{ref}-disclosed", f"disclosed/{bundle.bundle_id}/{ref}"
        )
        results.append(record)
        graph.add(_record(record, ref, graph.exhibit(ref), f"disclosed in {bundle.bundle_id}"))
    graph.add(
        {
            "@id": disclosure,
            "@type": "case-investigation:InvestigativeAction",
            "uco-core:name": DISCLOSED,
            "uco-core:description": (
                f"Disclosure bundle {bundle.bundle_id} of case {case.id} created by "
                f"{bundle.prosecutor} ({bundle.team}) for the prosecution: "
                f"{len(included)} exhibit(s)"
            ),
            "uco-action:startTime": _when(bundle.created_at),
            "uco-action:endTime": _when(bundle.created_at),
            "uco-action:performer": {"@id": graph.person(bundle.prosecutor, bundle.team)},
            "uco-action:object": _refs(
                [graph.exhibit(ref) for ref in included] + [last_record[ref] for ref in included]
            ),
            "uco-action:result": _refs(results),
            "case-investigation:wasInformedBy": _refs([last_action[ref] for ref in included]),
        }
    )

    head: Node = {
        "@id": investigation,
        "@type": "case-investigation:Investigation",
        "uco-core:name": case.id,
        "uco-core:description": case.title,
        "case-investigation:investigationForm": "case",
        "case-investigation:relevantAuthorization": {"@id": authorization},
        "uco-core:object": _refs([n["@id"] for n in graph.nodes]),
    }
    if started is not None:
        head["uco-core:startTime"] = {"@type": "xsd:dateTime", "@value": started}
    return {"@context": dict(CONTEXT), "@graph": [head, *graph.nodes]}


# -- the graph ----------------------------------------------------------------------


class _Graph:
    """Nodes in insertion order, people and their team memberships on demand."""

    def __init__(self, case: Case) -> None:
        self.case = case
        self.nodes: list[Node] = []
        self._people: dict[str, str] = {}
        self._members: set[tuple[str, str]] = set()

    def iri(self, kind: str, readable: str, name: str) -> str:
        tail = uuid.uuid5(NAMESPACE, f"{self.case.id}/{name}")
        return f"kb:{kind}-{readable}-{tail}" if readable else f"kb:{kind}-{tail}"

    def add(self, node: Node) -> None:
        self.nodes.append(node)

    def team(self, code: str) -> str:
        self.case.team(code)  # a member of the case, or a clear error
        return self.iri("team", code, f"team/{code}")

    def exhibit(self, reference: str) -> str:
        return self.iri("exhibit", reference, f"exhibit/{reference}")

    def person(self, name: str, team: str) -> str:
        """The person's IRI; the person and its Member_Of relationship to
        ``team`` are added the first time they are seen."""
        iri = self._people.get(name)
        if iri is None:
            iri = self._people[name] = self.iri("person", "", f"person/{name}")
            self.add({"@id": iri, "@type": "uco-identity:Person", "uco-core:name": name})
        if (name, team) not in self._members:
            self._members.add((name, team))
            self.add(
                {
                    "@id": self.iri("relationship", team, f"member/{team}/{name}"),
                    "@type": "uco-core:Relationship",
                    "uco-core:kindOfRelationship": "Member_Of",
                    "uco-core:isDirectional": True,
                    "uco-core:source": _refs([iri]),
                    "uco-core:target": {"@id": self.team(team)},
                }
            )
        return iri


def _exhibit_node(graph: _Graph, exhibit: Exhibit) -> Node:
    ref = exhibit.reference
    hashes: list[Node] = [_hash(graph, ref, "SHA256", exhibit.sha256)]
    declared = exhibit.declared
    if (
        declared is not None
        and declared.algorithm in DECLARED_METHODS
        and exhibit.status is ExhibitStatus.STORED  # verified at ingest
    ):
        hashes.append(_hash(graph, ref, DECLARED_METHODS[declared.algorithm], declared.value))
    descriptions = [
        f"BLAKE3 {exhibit.blake3} (jitev's primary digest; UCO's HashNameVocab has no BLAKE3)",
        f"Exhibit {ref} of case {exhibit.case_id}, originated by team {exhibit.team}, "
        f"ingested by {exhibit.ingested_by} at {format_time(exhibit.ingested_at)}, "
        f"handling code {exhibit.handling.code.value}"
        + (f" ({exhibit.handling.note})" if exhibit.handling.note else ""),
    ]
    if exhibit.description:
        descriptions.append(exhibit.description)
    seizure = [
        part
        for part in (
            f"at {format_time(exhibit.seized_at)}" if exhibit.seized_at else "",
            f"by {exhibit.seized_by}" if exhibit.seized_by else "",
            f"from {exhibit.seized_from}" if exhibit.seized_from else "",
        )
        if part
    ]
    if seizure:
        descriptions.append("Seized " + " ".join(seizure))
    return {
        "@id": graph.exhibit(ref),
        "@type": "uco-observable:File",
        "uco-core:name": exhibit.title,
        "uco-core:description": descriptions,
        "uco-core:hasFacet": [
            {
                "@id": graph.iri("file-facet", ref, f"file-facet/{ref}"),
                "@type": "uco-observable:FileFacet",
                "uco-observable:fileName": exhibit.original_name,
                "uco-observable:sizeInBytes": exhibit.size,
            },
            {
                "@id": graph.iri("content-data-facet", ref, f"content-data-facet/{ref}"),
                "@type": "uco-observable:ContentDataFacet",
                "uco-observable:sizeInBytes": exhibit.size,
                "uco-observable:mimeType": exhibit.media_type,
                "uco-observable:hash": hashes,
            },
        ],
    }


def _hash(graph: _Graph, ref: str, method: str, value: str) -> Node:
    return {
        "@id": graph.iri(f"hash-{method.lower()}", ref, f"hash/{ref}/{method}"),
        "@type": "uco-types:Hash",
        "uco-types:hashMethod": method,  # a plain string, as UCO 1.4+ asks
        "uco-types:hashValue": {"@type": "xsd:hexBinary", "@value": value},
    }


def _record(iri: str, ref: str, exhibit: str, when: str) -> Node:
    return {
        "@id": iri,
        "@type": "case-investigation:ProvenanceRecord",
        "uco-core:description": f"{ref} {when}",
        "case-investigation:exhibitNumber": ref,
        "uco-core:object": _refs([exhibit]),
    }


def _refs(iris: Sequence[str | None]) -> list[dict[str, str]]:
    return [{"@id": iri} for iri in iris if iri is not None]


def _when(at: datetime) -> dict[str, str]:
    return {"@type": "xsd:dateTime", "@value": format_time(at)}


# -- words ---------------------------------------------------------------------------


def _hashes(d: dict[str, Any]) -> str:
    return f"size {d.get('size')} bytes, SHA-256 {d.get('sha256')}, BLAKE3 {d.get('blake3')}"


def _describe(event: CustodyEvent) -> str:
    """One sentence on what the custody event did, from its details."""
    d, who = event.details, f"{event.actor} ({event.team})"
    transfer = d.get("transfer", "")
    match event.action:
        case Action.INGESTED:
            return (
                f"Ingested by {who} from {d.get('source')}: {_hashes(d)}; stored write-once "
                f"as {d.get('store')}"
            )
        case Action.DUPLICATE_SEEN:
            return f"The same content was ingested again by {who} from {d.get('source')}"
        case Action.HANDLING_CHANGED:
            before, after = d.get("from") or {}, d.get("to") or {}
            return f"Handling changed by {who} from {before.get('code')} to {after.get('code')}" + (
                f": {after.get('note')}" if after.get("note") else ""
            )
        case Action.TRANSFER_REQUESTED:
            return (
                f"Transfer {transfer} from {d.get('from_team')} to {d.get('to_team')} requested "
                f"by {who} for the purpose {d.get('purpose')}, legal basis: {d.get('legal_basis')}"
            )
        case Action.TRANSFER_APPROVED | Action.TRANSFER_REJECTED:
            verb = "approved" if event.action == Action.TRANSFER_APPROVED else "rejected"
            return (
                f"Transfer {transfer} {verb} by {who} as {d.get('capacity')} for team "
                f"{d.get('for_team')}" + (f": {d.get('reason')}" if d.get("reason") else "")
            )
        case Action.TRANSFER_CANCELLED | Action.TRANSFER_FAILED:
            verb = "cancelled" if event.action == Action.TRANSFER_CANCELLED else "failed"
            return f"Transfer {transfer} {verb} ({who}): {d.get('reason')}"
        case Action.DISPATCHED:
            return (
                f"Transfer {transfer}: copied by {who} to team {d.get('to_team')} "
                f"({d.get('copy')}, purpose {d.get('purpose')}) and read back verified: {_hashes(d)}"
            )
        case Action.RECEIVED:
            return (
                f"Transfer {transfer}: received by {who} from team {d.get('from_team')}, copy "
                f"re-read and verified: {_hashes(d)}; receipt signed with Ed25519 key "
                f"{d.get('key_fingerprint')} (SHA-256 fingerprint), signature "
                f"{d.get('receipt_signature')}"
            )
        case Action.ACCESSED:
            return f"Downloaded by {who}, bytes verified against the ledger: {_hashes(d)}"
        case Action.HASH_MISMATCH:
            facts = ", ".join(
                f"{k} ({_hashes(v)})" if isinstance(v, dict) else f"{k} {v}"
                for k, v in sorted(d.items())
            )
            return f"Hash mismatch recorded by {who}: {facts}"
        case Action.FIXITY_FAILED:
            kinds = ", ".join(str(p.get("kind")) for p in d.get("problems") or [])
            return f"Fixity audit by {who}: {d.get('copy')} ({d.get('store')}) failed: {kinds}"
        case _:
            return f"{event.action} by {who}"


# -- input checks -----------------------------------------------------------------------


def _check(
    case: Case,
    exhibits: Sequence[Exhibit],
    events: Sequence[CustodyEvent],
    bundle: BundleIdentity,
) -> None:
    what = f"provenance of bundle {bundle.bundle_id}"
    if not exhibits:
        raise InputError(f"{what}: the bundle has no exhibit; include at least one")
    if bundle.created_at.tzinfo is None:
        raise InputError(f"{what}: created_at must be timezone-aware (take it from the ledger)")
    if not BUNDLE_ID.fullmatch(bundle.bundle_id):
        raise InputError(
            f"{what}: the bundle id may hold letters, digits, '.', '_' and '-' only, "
            "e.g. DANUBE-FR-B-0001"
        )
    if not bundle.prosecutor.strip():
        raise InputError(f"{what}: give the prosecutor's name")
    case.team(bundle.team)
    seen: set[str] = set()
    for ex in exhibits:
        if not REFERENCE.match(ex.reference):
            raise InputError(f"{what}: exhibit reference {ex.reference!r} is not like BG-EX-0007")
        if ex.case_id != case.id:
            raise InputError(f"{what}: exhibit {ex.reference} belongs to case {ex.case_id}")
        if ex.reference in seen:
            raise InputError(f"{what}: exhibit {ex.reference} is listed twice")
        if not HEX64.match(ex.sha256) or not HEX64.match(ex.blake3):
            raise InputError(f"{what}: exhibit {ex.reference} has no valid SHA-256/BLAKE3 hex")
        seen.add(ex.reference)
    previous = 0
    for event in events:
        if event.case_id != case.id:
            raise InputError(f"{what}: custody event {event.seq} belongs to case {event.case_id}")
        if event.seq <= previous:
            raise InputError(
                f"{what}: custody events must come in ledger order (event {event.seq} "
                f"after {previous})"
            )
        previous = event.seq
        seen.discard(event.exhibit or "")
    if seen:
        raise InputError(
            f"{what}: no custody event of {', '.join(sorted(seen))}: pass the case's events "
            "up to the last event of the included exhibits"
        )
