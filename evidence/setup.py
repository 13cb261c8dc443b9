"""Setting up a JIT: open its case, register its people, and record each
team's receipt public key in the case's ledger. The people registry is not
part of a case's ledger (people act across cases): who added whom is kept in
the catalog."""

from __future__ import annotations

from evidence import policy, receipts
from evidence.errors import InputError
from evidence.models import Action, Case, CustodyEvent, Person, Role
from evidence.policy import Right
from evidence.ports import Catalog, EventDraft
from evidence.tlog.policy import Policy as LogPolicy


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


def add_person(catalog: Catalog, actor: str | None, person: Person) -> None:
    """Register ``person``. The first person of an empty catalog must be an
    admin and needs no actor; after that only an admin adds people."""
    if not catalog.people():
        if not person.has(Role.ADMIN):
            raise InputError(
                f"no people are registered yet: the first person must be an admin "
                f"(register an admin first, then {person.name})",
                field="roles",
            )
        catalog.add_person(person, added_by=person.name)
        return
    if actor is None:
        raise InputError("say which admin adds this person", field="actor")
    policy.decide(catalog.person(actor), Right.MANAGE_PEOPLE).require()
    catalog.add_person(person, added_by=actor)


def register_team_key(catalog: Catalog, person: Person, case_id: str, team: str, key: str) -> None:
    """Register ``team``'s receipt public key and record it in the case's
    ledger (once), so that the ledger alone can check the team's receipts.
    An admin does it, at setup."""
    case = catalog.case(case_id)
    case.team(team)
    policy.decide(person, Right.MANAGE_PEOPLE).require()
    catalog.add_team_key(team, key)  # refuses a different key for the team
    if ledger_team_key(catalog, case_id, team) == key:
        return
    with catalog.transaction(case_id) as tx:
        tx.append(
            EventDraft(
                Action.TEAM_KEY_REGISTERED,
                person.name,
                person.team,
                None,
                {
                    "for_team": team,
                    "algorithm": "ed25519",
                    "public_key": key,
                    "key_fingerprint": receipts.fingerprint(key),
                },
            )
        )


def ledger_team_key(catalog: Catalog, case_id: str, team: str) -> str | None:
    """The team's public key as the case's ledger records it."""
    found = None
    for event in catalog.events(case_id, action=Action.TEAM_KEY_REGISTERED):
        if event.details.get("for_team") == team:
            found = event.details.get("public_key")
    return found if isinstance(found, str) else None


def register_log_policy(
    catalog: Catalog, person: Person, case_id: str, origin: str, trust: LogPolicy
) -> None:
    """Record the case log's trust policy (C2SP tlog-policy: the log's key,
    each team's witness, the quorum) in its ledger, unless it is the one
    recorded last, so that a verifier reads the keys from the ledger itself.
    An admin does it, at setup."""
    catalog.case(case_id)
    policy.decide(person, Right.MANAGE_PEOPLE).require()
    recorded = log_policy(catalog, case_id)
    if recorded is not None and recorded == (origin, trust.text()):
        return
    with catalog.transaction(case_id) as tx:
        tx.append(
            EventDraft(
                Action.LOG_POLICY_SET,
                person.name,
                person.team,
                None,
                {"origin": origin, "policy": trust.text()},
            )
        )


def log_policy(catalog: Catalog, case_id: str) -> tuple[str, str] | None:
    """The case log's origin and policy text as its ledger records them last."""
    found = None
    for event in catalog.events(case_id, action=Action.LOG_POLICY_SET):
        origin, text = event.details.get("origin"), event.details.get("policy")
        if isinstance(origin, str) and isinstance(text, str):
            found = (origin, text)
    return found
