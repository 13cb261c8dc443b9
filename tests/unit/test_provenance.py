"""provenance.jsonld: the chain of custody in CASE/UCO, deterministic, and
accepted by the CASE community validator (case_validate, from case-utils)."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from evidence.bundle.provenance import (
    CONTEXT,
    DISCLOSED,
    BundleIdentity,
    provenance_document,
    provenance_jsonld,
)
from evidence.errors import InputError
from evidence.ledger import link, verify
from evidence.models import (
    Action,
    Case,
    CustodyEvent,
    DeclaredHash,
    Exhibit,
    ExhibitStatus,
    Team,
)
from evidence.ports import EventDraft
from tests.conftest import need_tool

T0 = datetime(2026, 3, 2, 9, 15, 0, 123456, tzinfo=UTC)
CASE = Case(
    id="DANUBE",
    title="Operation Danube: cross-border fraud",
    agreement_ref="JIT-2026-017",
    teams=(
        Team("BG", "Bulgaria", "Sofia City Prosecutor's Office / GDNP"),
        Team("FR", "France", "OCRGDF Nanterre"),
        Team("ME", "Montenegro", "Special State Prosecutor's Office"),
    ),
    lead_team="BG",
)
BUNDLE = BundleIdentity(
    bundle_id="DANUBE-FR-B-0001",
    prosecutor="Pr. Lefèvre",
    team="FR",
    created_at=T0 + timedelta(days=3),
)


def _exhibit(number: int, name: str, size: int, fill: str, **kw: Any) -> Exhibit:
    base: dict[str, Any] = dict(
        reference=f"BG-EX-{number:04d}",
        case_id="DANUBE",
        team="BG",
        title=name,
        description="",
        seized_at=None,
        seized_by="",
        seized_from="",
        original_name=name,
        relative_path=f"seizure-1/{name}",
        media_type="application/pdf",
        size=size,
        blake3=fill * 64,
        sha256=(fill + "5") * 32,
        declared=None,
        storage_key=fill * 64,
        retention_until=None,
        status=ExhibitStatus.STORED,
        ingested_at=T0,
        ingested_by="I. Petrova",
    )
    base.update(kw)
    return Exhibit(**base)


EX1 = _exhibit(
    1,
    "bank-statements.pdf",
    48213,
    "a",
    description="Bank statements 2024, account ending 0071",
    seized_at=T0 - timedelta(days=10),
    seized_by="Insp. Georgiev",
    seized_from="office of Vega Trade EOOD, Sofia",
    declared=DeclaredHash("md5", "0123456789abcdef0123456789abcdef"),
)
EX2 = _exhibit(2, "phone-extraction.zip", 7340032, "b", media_type="application/zip")
EX3 = _exhibit(3, "not-in-bundle.pdf", 100, "c")


def _hashes(ex: Exhibit) -> dict[str, Any]:
    return {"size": ex.size, "blake3": ex.blake3, "sha256": ex.sha256}


def chain() -> list[CustodyEvent]:
    """Ingest by BG, a hand-off of two exhibits to FR (requested, approved,
    dispatched, received), a download in FR; one more exhibit stays in BG."""
    drafts: list[EventDraft] = [
        EventDraft(
            Action.CASE_OPENED,
            "K. Ivanov",
            "BG",
            None,
            {"title": CASE.title, "agreement": "JIT-2026-017", "teams": ["BG", "FR", "ME"]},
        ),
        EventDraft(
            Action.TEAM_KEY_REGISTERED,
            "K. Ivanov",
            "BG",
            None,
            {"for_team": "FR", "algorithm": "ed25519", "public_key": "ee" * 32},
        ),
    ]
    for ex in (EX1, EX2, EX3):
        drafts.append(
            EventDraft(
                Action.INGESTED,
                "I. Petrova",
                "BG",
                ex.reference,
                {
                    "source": ex.relative_path,
                    **_hashes(ex),
                    "media_type": ex.media_type,
                    "store": f"BG/{ex.blake3}",
                    "run": "run-1",
                    "handling": {"code": "H0", "note": "", "purposes": ["jit"]},
                },
            )
        )
    common = {"transfer": "DANUBE-T-0001"}
    for ex in (EX1, EX2):
        drafts.append(
            EventDraft(
                Action.TRANSFER_REQUESTED,
                "I. Petrova",
                "BG",
                ex.reference,
                {
                    **common,
                    "from_team": "BG",
                    "to_team": "FR",
                    "purpose": "jit",
                    "legal_basis": "JIT agreement JIT-2026-017",
                    "note": "",
                    "requires": [{"capacity": "jit_lead", "team": "BG"}],
                },
            )
        )
    for ex in (EX1, EX2):
        drafts.append(
            EventDraft(
                Action.TRANSFER_APPROVED,
                "K. Ivanov",
                "BG",
                ex.reference,
                {**common, "capacity": "jit_lead", "for_team": "BG", "reason": ""},
            )
        )
    for ex in (EX1, EX2):
        drafts.append(
            EventDraft(
                Action.DISPATCHED,
                "I. Petrova",
                "BG",
                ex.reference,
                {
                    **common,
                    "from": f"BG/{ex.blake3}",
                    "to": f"FR/{ex.blake3}",
                    "to_team": "FR",
                    "purpose": "jit",
                    **_hashes(ex),
                    "verified": "read back: size, BLAKE3 and SHA-256 match",
                    "copy": "server-side copy",
                },
            )
        )
    for ex in (EX1, EX2):
        drafts.append(
            EventDraft(
                Action.RECEIVED,
                "C. Moreau",
                "FR",
                ex.reference,
                {
                    **common,
                    "from_team": "BG",
                    "to_team": "FR",
                    "purpose": "jit",
                    **_hashes(ex),
                    "received_at": "2026-03-03T10:00:00.000000Z",
                    "receipt_signature": "5a" * 64,
                    "key_fingerprint": "7f" * 32,
                    "store": f"FR/{ex.blake3}",
                },
            )
        )
    drafts.append(
        EventDraft(
            Action.ACCESSED,
            "C. Moreau",
            "FR",
            EX1.reference,
            {**_hashes(EX1), "store": f"FR/{EX1.blake3}"},
        )
    )
    events: list[CustodyEvent] = []
    for i, draft in enumerate(drafts):
        events.append(
            link("DANUBE", events[-1] if events else None, draft, T0 + timedelta(hours=i))
        )
    assert verify("DANUBE", events).ok
    return events


EVENTS = chain()
EXHIBITS = (EX1, EX2)


def nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every node object (one with an @type) of a JSON-LD tree."""
    if isinstance(value, dict):
        if "@type" in value and "@id" in value:
            yield value
        for item in value.values():
            yield from nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from nodes(item)


def references(value: Any) -> Iterator[str]:
    """Every {"@id": ...} reference (an object holding nothing else)."""
    if isinstance(value, dict):
        if set(value) == {"@id"}:
            yield value["@id"]
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# -- the document -------------------------------------------------------------------


def test_same_input_gives_the_same_bytes() -> None:
    first = provenance_jsonld(CASE, EXHIBITS, EVENTS, BUNDLE)
    again = provenance_jsonld(CASE, list(EXHIBITS), tuple(chain()), replace(BUNDLE))
    assert first == again
    assert first.endswith(b"}\n")
    text = first.decode("utf-8")
    assert json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n" == text
    assert "Lefèvre" in text  # UTF-8, not \u escapes


def test_ids_are_unique_and_every_reference_is_defined() -> None:
    doc = json.loads(provenance_jsonld(CASE, EXHIBITS, EVENTS, BUNDLE))
    assert doc["@context"] == CONTEXT
    for prefix in (
        "kb",
        "case-investigation",
        "uco-core",
        "uco-observable",
        "uco-types",
        "uco-identity",
        "uco-action",
        "uco-vocabulary",
        "xsd",
    ):
        assert prefix in doc["@context"]
    ids = [n["@id"] for n in nodes(doc["@graph"])]
    assert len(ids) == len(set(ids))
    assert set(references(doc["@graph"])) <= set(ids)
    used = {i.split(":", 1)[0] for i in ids} | {
        t.split(":", 1)[0] for n in nodes(doc["@graph"]) for t in as_list(n["@type"])
    }
    assert used <= set(doc["@context"])
    # node IRIs end with a UUID, as UCO advises, and none is random
    assert all(len(i.rsplit("-", 5)) == 6 for i in ids)
    head = doc["@graph"][0]
    assert head["@type"] == "case-investigation:Investigation"
    assert head["uco-core:name"] == "DANUBE"
    assert {r["@id"] for r in head["uco-core:object"]} == {n["@id"] for n in doc["@graph"][1:]}
    (auth,) = [n for n in doc["@graph"] if n["@type"] == "case-investigation:Authorization"]
    assert auth["case-investigation:authorizationIdentifier"] == "JIT-2026-017"
    assert head["case-investigation:relevantAuthorization"] == {"@id": auth["@id"]}


def test_each_exhibit_carries_its_sha256_and_exhibit_number() -> None:
    doc = provenance_document(CASE, EXHIBITS, EVENTS, BUNDLE)
    by_id = {n["@id"]: n for n in nodes(doc["@graph"])}
    files = [n for n in doc["@graph"] if n["@type"] == "uco-observable:File"]
    assert [f["uco-core:name"] for f in files] == ["bank-statements.pdf", "phone-extraction.zip"]
    for ex, node in zip(EXHIBITS, files, strict=True):
        facets = {f["@type"]: f for f in node["uco-core:hasFacet"]}
        assert facets["uco-observable:FileFacet"]["uco-observable:sizeInBytes"] == ex.size
        hashes = {
            h["uco-types:hashMethod"]: h["uco-types:hashValue"]
            for h in facets["uco-observable:ContentDataFacet"]["uco-observable:hash"]
        }
        assert hashes["SHA256"] == {"@type": "xsd:hexBinary", "@value": ex.sha256}
        assert any(ex.blake3 in d for d in node["uco-core:description"])
        records = [
            n
            for n in by_id.values()
            if n["@type"] == "case-investigation:ProvenanceRecord"
            and n["uco-core:object"] == [{"@id": node["@id"]}]
        ]
        assert {r["case-investigation:exhibitNumber"] for r in records} == {ex.reference}
    # the declared MD5 of the seizing tool, verified at ingest, is kept too
    first = {f["@type"]: f for f in files[0]["uco-core:hasFacet"]}
    methods = [
        h["uco-types:hashMethod"]
        for h in first["uco-observable:ContentDataFacet"]["uco-observable:hash"]
    ]
    assert methods == ["SHA256", "MD5"]
    text = json.dumps(doc)
    assert EX3.reference not in text and EX3.sha256 not in text


def test_custody_events_are_chained_actions_ending_in_the_disclosure() -> None:
    doc = provenance_document(CASE, EXHIBITS, EVENTS, BUNDLE)
    graph = doc["@graph"]
    by_id = {n["@id"]: n for n in graph}
    actions = [n for n in graph if n["@type"] == "case-investigation:InvestigativeAction"]
    names = [a["uco-core:name"] for a in actions]
    assert names == [
        "INGESTED",
        "INGESTED",
        "TRANSFER_REQUESTED",
        "TRANSFER_REQUESTED",
        "TRANSFER_APPROVED",
        "TRANSFER_APPROVED",
        "DISPATCHED",
        "DISPATCHED",
        "RECEIVED",
        "RECEIVED",
        "ACCESSED",
        DISCLOSED,
    ]
    for event, action in zip(
        [e for e in EVENTS if e.exhibit in {"BG-EX-0001", "BG-EX-0002"}], actions, strict=False
    ):
        assert action["uco-action:startTime"]["@value"] == event.at.strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        assert any(event.hash in d for d in action["uco-core:description"])
        performer = by_id[action["uco-action:performer"]["@id"]]
        assert performer == {
            "@id": performer["@id"],
            "@type": "uco-identity:Person",
            "uco-core:name": event.actor,
        }
    # follow BG-EX-0001's chain back from the disclosure
    disclosure = actions[-1]
    assert disclosure["uco-action:startTime"]["@value"] == "2026-03-05T09:15:00.123456Z"
    assert by_id[disclosure["uco-action:performer"]["@id"]]["uco-core:name"] == "Pr. Lefèvre"
    walked, held = [], []
    (step,) = [
        by_id[i["@id"]]
        for i in disclosure["case-investigation:wasInformedBy"]
        if "ACCESSED" == by_id[i["@id"]]["uco-core:name"]
    ]
    while True:
        walked.append(step["uco-core:name"])
        record = by_id[step["uco-action:result"][0]["@id"]]
        assert record["case-investigation:exhibitNumber"] == "BG-EX-0001"
        held.append(record["uco-core:description"].split("held by ")[1])
        if "case-investigation:wasInformedBy" not in step:
            break
        previous = by_id[step["case-investigation:wasInformedBy"][0]["@id"]]
        assert {"@id": previous["uco-action:result"][0]["@id"]} in step["uco-action:object"]
        step = previous
    assert held == ["BG, FR", "BG, FR", "BG", "BG", "BG", "BG"]  # FR holds it once received
    assert walked == [
        "ACCESSED",
        "RECEIVED",
        "DISPATCHED",
        "TRANSFER_APPROVED",
        "TRANSFER_REQUESTED",
        "INGESTED",
    ]
    # people belong to their teams
    members = {
        (
            by_id[r["uco-core:source"][0]["@id"]]["uco-core:name"],
            by_id[r["uco-core:target"]["@id"]]["uco-core:name"],
        )
        for r in graph
        if r["@type"] == "uco-core:Relationship"
    }
    assert ("C. Moreau", "OCRGDF Nanterre") in members
    assert ("Pr. Lefèvre", "OCRGDF Nanterre") in members


@pytest.mark.parametrize(
    ("exhibits", "events", "bundle", "says"),
    [
        ((EX1,), EVENTS[:2], BUNDLE, "no custody event of BG-EX-0001"),
        (EXHIBITS, EVENTS[::-1], BUNDLE, "ledger order"),
        (EXHIBITS, EVENTS, replace(BUNDLE, created_at=datetime(2026, 3, 5)), "timezone-aware"),
        (EXHIBITS, EVENTS, replace(BUNDLE, team="DE"), "not a member of case DANUBE"),
        (EXHIBITS, EVENTS, replace(BUNDLE, bundle_id="x/../y"), "bundle id"),
        ((replace(EX1, case_id="RHINE"),), EVENTS, BUNDLE, "belongs to case RHINE"),
        ((EX1, EX1), EVENTS, BUNDLE, "listed twice"),
        ((), EVENTS, BUNDLE, "no exhibit"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(
    exhibits: tuple[Exhibit, ...],
    events: list[CustodyEvent],
    bundle: BundleIdentity,
    says: str,
) -> None:
    with pytest.raises(InputError, match=says):
        provenance_jsonld(CASE, exhibits, events, bundle)


# -- the CASE community validator ------------------------------------------------------------


@pytest.fixture(scope="module")
def case_validate() -> str:
    return need_tool("case_validate", "pip install -e '.[dev]': the case-utils package")


def run_validator(program: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [program, str(path)], capture_output=True, text=True, timeout=600, check=False
    )


def test_case_validate_accepts_the_document(case_validate: str, tmp_path: Path) -> None:
    path = tmp_path / "provenance.jsonld"
    path.write_bytes(provenance_jsonld(CASE, EXHIBITS, EVENTS, BUNDLE))
    done = run_validator(case_validate, path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Conforms: True" in done.stdout
    assert "NonExistentCDOConceptWarning" not in done.stderr


def test_case_validate_rejects_a_broken_document(case_validate: str, tmp_path: Path) -> None:
    """The validator is really consulted: a hash value that is not hex, and a
    property UCO does not know on a hash, make it fail."""
    doc = copy.deepcopy(provenance_document(CASE, EXHIBITS, EVENTS, BUNDLE))
    (bad,) = [
        n
        for n in nodes(doc["@graph"])
        if n["@type"] == "uco-types:Hash" and n["uco-types:hashValue"]["@value"] == EX1.sha256
    ]
    bad["uco-types:hashValue"]["@value"] = "not-a-hex-digest"
    bad["uco-types:blake3Value"] = EX1.blake3
    path = tmp_path / "provenance.jsonld"
    path.write_text(json.dumps(doc, sort_keys=True, indent=2))
    done = run_validator(case_validate, path)
    assert done.returncode != 0, done.stdout
    assert "Conforms: False" in done.stdout
    assert "hexBinary" in done.stdout
    assert "blake3Value" in done.stderr  # a concept UCO does not define
