"""The API's JSON back into the domain's values, for the CLI in client mode:
an answer is the ``as_dict()`` of a domain value, and read back here it is
that value again, so that ``app.render`` shows it exactly as in direct mode.

Only what a person is shown is rebuilt: a report keeps its subject,
summary, checks, findings and notes (its facts stay in the JSON). The
answers come from another machine: a value that does not rebuild is an
error naming the server, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from app.jobs import Job
from evidence.errors import JitevError
from evidence.findings import Check, Finding, Report
from evidence.models import (
    Bundle,
    Capacity,
    Case,
    CustodyEvent,
    Decision,
    DeclaredHash,
    Exhibit,
    ExhibitStatus,
    Handling,
    HandlingCode,
    Holding,
    Purpose,
    Receipt,
    Requirement,
    Team,
    Transfer,
    TransferItem,
    TransferState,
)

T = TypeVar("T")
Json = dict[str, Any]


class UnexpectedAnswer(JitevError):
    """The server answered JSON that is not what this CLI knows."""


def rebuilt(server: str, what: str, make: Callable[[Json], T], data: Any) -> T:
    """``make(data)``, or an error naming the server and what it sent."""
    try:
        return make(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnexpectedAnswer(
            f"the jitev server {server} sent a {what} this CLI cannot read ({exc!r}): "
            "check that the CLI and the server are the same jitev version"
        ) from exc


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def handling(d: Json) -> Handling:
    return Handling(
        HandlingCode(d["code"]), d.get("note", ""), tuple(Purpose(p) for p in d["purposes"])
    )


def exhibit(d: Json) -> Exhibit:
    declared = d.get("declared_hash")
    return Exhibit(
        reference=d["reference"],
        case_id=d["case"],
        team=d["team"],
        title=d["title"],
        description=d["description"],
        seized_at=_at(d["seized_at"]),
        seized_by=d["seized_by"],
        seized_from=d["seized_from"],
        original_name=d["original_name"],
        relative_path=d["relative_path"],
        media_type=d["media_type"],
        size=int(d["size"]),
        blake3=d["blake3"],
        sha256=d["sha256"],
        declared=DeclaredHash(declared["algorithm"], declared["value"]) if declared else None,
        storage_key=d["storage_key"],
        retention_until=_at(d["retention_until"]),
        status=ExhibitStatus(d["status"]),
        ingested_at=_when(d["ingested_at"]),
        ingested_by=d["ingested_by"],
        handling=handling(d["handling"]),
    )


def event(d: Json) -> CustodyEvent:
    return CustodyEvent(
        case_id=d["case"],
        seq=int(d["seq"]),
        exhibit=d["exhibit"],
        action=d["action"],
        actor=d["actor"],
        team=d["team"],
        at=_when(d["at"]),
        details=dict(d["details"]),
        prev_hash=d["prev_hash"],
        hash=d["hash"],
    )


def holding(d: Json) -> Holding:
    return Holding(d["team"], Purpose(d["purpose"]) if d["purpose"] else None, d["transfer"])


def transfer(d: Json) -> Transfer:
    receipt = d.get("receipt")
    return Transfer(
        id=d["id"],
        case_id=d["case"],
        from_team=d["from_team"],
        to_team=d["to_team"],
        purpose=Purpose(d["purpose"]),
        legal_basis=d["legal_basis"],
        note=d["note"],
        state=TransferState(d["state"]),
        requested_by=d["requested_by"],
        requested_at=_when(d["requested_at"]),
        items=tuple(
            TransferItem(
                i["reference"],
                i["origin_team"],
                handling(i["handling"]),
                int(i["size"]),
                i["blake3"],
                i["sha256"],
                i.get("dispatched_seq"),
            )
            for i in d["exhibits"]
        ),
        required=tuple(Requirement(Capacity(r["capacity"]), r["team"]) for r in d["required"]),
        decisions=tuple(
            Decision(
                Capacity(x["capacity"]),
                x["team"],
                x["person"],
                x["decision"] == "approved",
                x["reason"],
                _when(x["at"]),
                int(x["seq"]),
            )
            for x in d["decisions"]
        ),
        receipt=(
            Receipt(
                receipt["transfer"],
                dict(receipt["payload"]),
                receipt["signature"],
                receipt["key_fingerprint"],
            )
            if receipt
            else None
        ),
        failure=d.get("failure", ""),
    )


def report(d: Json) -> Report[None]:
    """A report as it is shown (``render.report``): its facts are left in the JSON."""
    return Report(
        subject=d["subject"],
        facts=None,
        findings=tuple(
            Finding(f["check"], f["where"], f["message"], f.get("kind", "")) for f in d["findings"]
        ),
        checks=tuple(Check(c["name"], bool(c["ok"]), c["detail"]) for c in d["checks"]),
        summary=d.get("summary", ""),
        notes=tuple(d.get("notes") or ()),
    )


def bundle(d: Json) -> Bundle:
    return Bundle(
        id=d["id"],
        case_id=d["case"],
        team=d["team"],
        prosecutor=d["prosecutor"],
        created_at=_when(d["created_at"]),
        ledger_head=int(d["ledger_head"]),
        root_digest=d["root_digest"],
        size=int(d["size"]),
        blake3=d["blake3"],
        sha256=d["sha256"],
        exhibits=tuple(d["exhibits"]),
        sensitive=tuple(d["sensitive"]),
        sensitive_key=d.get("sensitive_schedule"),
    )


def case(d: Json) -> Case:
    return Case(
        d["id"],
        d["title"],
        d["agreement"],
        tuple(Team(t["code"], t["member_state"], t["name"]) for t in d["teams"]),
        d["lead_team"],
    )


def job(d: Json) -> Job:
    return Job(
        id=d["id"],
        kind=d["kind"],
        person=d["person"],
        case_id=d["case"],
        started_at=_when(d["started_at"]),
        state=d["state"],
        state_name=str(d.get("state_name") or d["state"]),
        progress=d.get("progress"),
        result=d.get("result") or {},
        error=d.get("error", ""),
        ui_url=d.get("ui_url"),
    )
