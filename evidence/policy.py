"""Who may do what: every action of a person goes through ``decide``. It
denies by default; an allowed action needs a role that carries the right AND
the team conditions of the right. A denial says which right is missing and why.

Rights of each role (``ROLE_RIGHTS``)::

    investigator  view download ingest request cancel dispatch receive
    lead          view download ingest request cancel dispatch receive
                  approve reject set_handling audit open_case
    prosecutor    view download disclose
    auditor       view audit                  (metadata and the ledger, never content)
    admin         manage_people open_case     (no access to evidence)

Team conditions (``decide``), for a person of a member team of the case:

- view, download, disclose: the person's team holds the exhibit (it originated
  it, or received it by a completed hand-off). An auditor views the metadata
  of every exhibit of the case, and downloads none.
- ingest: into the person's own team only.
- request: the team holds the exhibit, which is not quarantined; the receiving
  team is another member of the case that does not hold it yet.
- approve, reject: the transfer waits for a decision the person can give: as
  a lead of the case's lead team (the JIT lead), or as a lead of an exhibit's
  originating team when its consent is required. Never on one's own request.
- cancel: the requester, or a lead of the sending team.
- dispatch: the sending team, or the JIT lead.
- receive: the receiving team.
- set_handling: a lead of the exhibit's originating team.
- audit: an auditor of a member team, or the JIT lead.
- open_case: an admin, or a lead of one of the case's teams.
- manage_people: an admin.

Consent (``requirements``): every transfer needs the JIT lead's approval.
It also needs the consent of an exhibit's originating team when the purpose
is not one the originating team agreed to in advance (by default only ``jit``;
Framework Decision 2002/465/JHA Art. 1(10)), or when the exhibit's handling
code is H2 (no onward transmission) or H3 (a restriction only a person can
read). This module is pure: callers pass what it decides on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum

from evidence.errors import Denied
from evidence.models import (
    Bundle,
    Capacity,
    Case,
    Exhibit,
    ExhibitStatus,
    HandlingCode,
    Person,
    Purpose,
    Requirement,
    Role,
    Transfer,
)


class Right(StrEnum):
    VIEW = "view"
    DOWNLOAD = "download"
    INGEST = "ingest"
    REQUEST = "request"
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    DISPATCH = "dispatch"
    RECEIVE = "receive"
    DISCLOSE = "disclose"
    AUDIT = "audit"
    SET_HANDLING = "set_handling"
    OPEN_CASE = "open_case"
    MANAGE_PEOPLE = "manage_people"
    READ_ACCESS_LOG = "read_access_log"  # logins, logouts, tokens: not bound to a case


_HANDLERS = {Right.VIEW, Right.DOWNLOAD, Right.INGEST, Right.REQUEST, Right.CANCEL}
ROLE_RIGHTS: dict[Role, frozenset[Right]] = {
    Role.INVESTIGATOR: frozenset(_HANDLERS | {Right.DISPATCH, Right.RECEIVE}),
    Role.LEAD: frozenset(
        _HANDLERS
        | {
            Right.DISPATCH,
            Right.RECEIVE,
            Right.APPROVE,
            Right.REJECT,
            Right.SET_HANDLING,
            Right.AUDIT,
            Right.OPEN_CASE,
        }
    ),
    Role.PROSECUTOR: frozenset({Right.VIEW, Right.DOWNLOAD, Right.DISCLOSE}),
    Role.AUDITOR: frozenset({Right.VIEW, Right.AUDIT, Right.READ_ACCESS_LOG}),
    Role.ADMIN: frozenset({Right.MANAGE_PEOPLE, Right.OPEN_CASE, Right.READ_ACCESS_LOG}),
}


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    right: Right
    reason: str  # why not, naming the missing right; "" when allowed

    def require(self) -> None:
        if not self.allowed:
            raise Denied(self.reason)


def _roles_with(right: Right) -> str:
    return " or ".join(r.value for r in Role if right in ROLE_RIGHTS[r])


def _who(person: Person) -> str:
    return f"{person.name} ({person.team}, {'/'.join(sorted(person.roles))})"


def _holds_role_right(person: Person, right: Right) -> bool:
    return any(right in ROLE_RIGHTS[role] for role in person.roles)


def carries(person: Person, right: Right) -> Verdict:
    """Do the person's roles carry ``right`` at all? The gate of a page or
    list whose items are then each decided by ``decide``."""
    if _holds_role_right(person, right):
        return Verdict(True, right, "")
    return Verdict(
        False,
        right,
        f"{_who(person)} may not {right.value}: the right belongs to the role {_roles_with(right)}",
    )


def is_jit_lead(person: Person, case: Case) -> bool:
    return person.has(Role.LEAD) and person.team == case.lead_team


def requirements(
    case: Case, purpose: Purpose, exhibits: Iterable[Exhibit]
) -> tuple[Requirement, ...]:
    """The decisions a transfer of ``exhibits`` for ``purpose`` needs."""
    needed = [Requirement(Capacity.JIT_LEAD, case.lead_team)]
    for ex in exhibits:
        h = ex.handling
        if purpose not in h.purposes or h.code in (HandlingCode.H2, HandlingCode.H3):
            req = Requirement(Capacity.ORIGIN, ex.team)
            if req not in needed:
                needed.append(req)
    return tuple(needed)


def capacities(person: Person, case: Case, transfer: Transfer) -> tuple[Requirement, ...]:
    """The pending decisions of ``transfer`` that ``person`` can give."""
    if not person.has(Role.LEAD):
        return ()
    return tuple(
        r
        for r in transfer.pending()
        if (r.capacity is Capacity.JIT_LEAD and person.team == case.lead_team)
        or (r.capacity is Capacity.ORIGIN and person.team == r.team)
    )


def decide(
    person: Person,
    right: Right,
    *,
    case: Case | None = None,
    exhibit: Exhibit | None = None,
    holders: Collection[str] = (),
    team: str | None = None,
    transfer: Transfer | None = None,
) -> Verdict:
    """May ``person`` exercise ``right``? ``holders`` are the teams holding
    ``exhibit``; ``team`` is the target team of an ingest or a request."""

    def deny(why: str) -> Verdict:
        return Verdict(False, right, f"{_who(person)} may not {right.value}: {why}")

    if not _holds_role_right(person, right):
        return deny(
            f"the right '{right.value}' belongs to the role {_roles_with(right)}; "
            "ask an admin to grant it if this person needs it"
        )
    if right in (Right.MANAGE_PEOPLE, Right.READ_ACCESS_LOG):
        return Verdict(True, right, "")
    if case is None:
        return deny("no case was named")
    members = {t.code for t in case.teams}
    if right is Right.OPEN_CASE:
        if person.has(Role.ADMIN) or person.team in members:
            return Verdict(True, right, "")
        return deny(f"a lead may only open a case that includes their team {person.team}")
    if person.team not in members:
        return deny(f"team {person.team} is not a member of case {case.id}")
    for thing in (exhibit, transfer):
        if thing is not None and thing.case_id != case.id:
            return deny(f"it belongs to case {thing.case_id}, not to case {case.id}")
    allowed, why = _team_rule(person, right, case, exhibit, holders, team, transfer)
    return Verdict(True, right, "") if allowed else deny(why)


def _team_rule(
    person: Person,
    right: Right,
    case: Case,
    exhibit: Exhibit | None,
    holders: Collection[str],
    team: str | None,
    transfer: Transfer | None,
) -> tuple[bool, str]:
    own = person.team
    if right is Right.AUDIT:
        if person.has(Role.AUDITOR) or is_jit_lead(person, case):
            return True, ""
        return False, f"only auditors and the JIT lead (a lead of {case.lead_team}) audit a case"
    if right is Right.INGEST:
        if team == own:
            return True, ""
        return False, f"team {own} may only ingest into its own team, not into {team}"
    if right in (Right.VIEW, Right.DOWNLOAD, Right.DISCLOSE, Right.REQUEST, Right.SET_HANDLING):
        if exhibit is None:
            return False, "no exhibit was named"
        if right is Right.VIEW and person.has(Role.AUDITOR):
            return True, ""  # metadata and ledger only: auditors never download
        if right is Right.SET_HANDLING:
            if exhibit.team == own and person.has(Role.LEAD):
                return True, ""
            return False, f"only a lead of the originating team {exhibit.team} sets its handling"
        if own not in holders:
            return False, f"team {own} does not hold exhibit {exhibit.reference}"
        if right is Right.REQUEST:
            if exhibit.status is ExhibitStatus.QUARANTINED:
                return False, f"exhibit {exhibit.reference} is quarantined"
            if team is None or team == own:
                return False, "name another team of the case to hand the exhibit to"
            if team not in {t.code for t in case.teams}:
                return False, f"team {team} is not a member of case {case.id}"
            if team in holders:
                return False, f"team {team} already holds exhibit {exhibit.reference}"
        return True, ""
    if transfer is None:
        return False, "no transfer was named"
    if right in (Right.APPROVE, Right.REJECT):
        if person.name == transfer.requested_by:
            return False, f"{person.name} requested transfer {transfer.id} and cannot decide it"
        if capacities(person, case, transfer):
            return True, ""
        pending = "; ".join(r.describe() for r in transfer.pending()) or "nothing"
        return False, f"transfer {transfer.id} waits for {pending}"
    if right is Right.CANCEL:
        if person.name == transfer.requested_by or (
            own == transfer.from_team and person.has(Role.LEAD)
        ):
            return True, ""
        return False, f"only the requester or a lead of {transfer.from_team} cancels it"
    if right is Right.DISPATCH:
        if own == transfer.from_team or is_jit_lead(person, case):
            return True, ""
        return False, f"only team {transfer.from_team} or the JIT lead dispatches it"
    if right is Right.RECEIVE:
        if own == transfer.to_team:
            return True, ""
        return False, f"only team {transfer.to_team} receives transfer {transfer.id}"
    return False, "no rule allows it"  # deny by default


class Reach(StrEnum):
    """Which of a case's exhibits ``decide`` allows a right on, as a rule a
    catalog query applies (``evidence.search.ExhibitScope``): none, those the
    person's team holds (originated, or received by a completed hand-off), or
    every exhibit of the case."""

    NONE = "none"
    HELD = "held"
    CASE = "case"


def reach(person: Person, right: Right, case: Case) -> Reach:
    """``decide``'s exhibit rules for ``right`` (view, download, disclose) in
    ``case``, whole: what a query may select without asking ``decide`` of each
    exhibit. A test holds the two equal on mixed exhibits, teams and roles."""
    if right not in (Right.VIEW, Right.DOWNLOAD, Right.DISCLOSE):
        raise ValueError(f"reach is for view, download and disclose, not {right.value}")
    if not _holds_role_right(person, right) or person.team not in {t.code for t in case.teams}:
        return Reach.NONE
    if right is Right.VIEW and person.has(Role.AUDITOR):
        return Reach.CASE
    return Reach.HELD


def can_see_transfer(person: Person, case: Case, transfer: Transfer) -> Verdict:
    """Transfers are seen by the two teams, the JIT lead, the leads whose
    consent it needs, and auditors of the case's teams (never by a person
    whose roles carry no right to view evidence, such as an admin)."""
    members = {t.code for t in case.teams}
    origin_teams = {r.team for r in transfer.required if r.capacity is Capacity.ORIGIN}
    if (
        _holds_role_right(person, Right.VIEW)
        and person.team in members
        and (
            person.team in (transfer.from_team, transfer.to_team)
            or is_jit_lead(person, case)
            or person.has(Role.AUDITOR)
            or (person.has(Role.LEAD) and person.team in origin_teams)
        )
    ):
        return Verdict(True, Right.VIEW, "")
    return Verdict(
        False,
        Right.VIEW,
        f"{_who(person)} may not view transfer {transfer.id}: it concerns teams "
        f"{transfer.from_team} and {transfer.to_team}",
    )


def can_see_bundle(person: Person, case: Case, bundle: Bundle, *, content: bool) -> Verdict:
    """A bundle is seen by the prosecutors and leads of the team that made it;
    auditors of the case's teams see its record (``content=False``), never its
    bytes or its sensitive schedule."""
    members = {t.code for t in case.teams}
    own = person.team == bundle.team and (person.has(Role.PROSECUTOR) or person.has(Role.LEAD))
    if (
        person.team in members
        and bundle.case_id == case.id
        and (own or (not content and person.has(Role.AUDITOR)))
    ):
        return Verdict(True, Right.VIEW if not content else Right.DOWNLOAD, "")
    what = "download" if content else "view"
    return Verdict(
        False,
        Right.DOWNLOAD if content else Right.VIEW,
        f"{_who(person)} may not {what} bundle {bundle.id}: it belongs to the prosecutors "
        f"and leads of team {bundle.team}",
    )
