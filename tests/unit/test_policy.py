"""The access policy (evidence/policy.py) as a table: every role, on its own
team's and on another member team's evidence, for every right; then the
team rules, the consent requirements and the visibility of transfers.

Pure: no catalog, no store, no server."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from evidence import policy
from evidence.errors import Denied, InputError
from evidence.models import (
    Capacity,
    Decision,
    Exhibit,
    ExhibitStatus,
    Handling,
    HandlingCode,
    Person,
    Purpose,
    Requirement,
    Role,
    Transfer,
    TransferItem,
    TransferState,
)
from evidence.policy import Right
from tests.fixtures_sql import sample_case, sample_exhibit

T0 = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)

# A JIT of Bulgaria, Montenegro and France, led by France: a lead of FR is the JIT lead.
CASE = replace(sample_case(), lead_team="FR")
OUTSIDER = "DE"  # a valid team code that is not a member of CASE

NAMES = {
    Role.INVESTIGATOR: "ivan",
    Role.LEAD: "lena",
    Role.PROSECUTOR: "petra",
    Role.AUDITOR: "aude",
    Role.ADMIN: "adam",
}
REQUESTER = "rita"  # the BG investigator who requested the matrix transfer


def person(role: Role, team: str, name: str | None = None) -> Person:
    return Person(name or NAMES[role], team, frozenset({role}))


def exhibit(
    reference: str = "BG-EX-0001",
    *,
    handling: Handling | None = None,
    status: ExhibitStatus = ExhibitStatus.STORED,
) -> Exhibit:
    team = reference.split("-")[0]
    ex = sample_exhibit(CASE.id, reference, team, hashlib.sha256(reference.encode()).hexdigest())
    return replace(ex, handling=handling or Handling(), status=status)


def transfer(
    exhibits: tuple[Exhibit, ...] = (),
    *,
    from_team: str = "BG",
    to_team: str = "FR",
    purpose: Purpose = Purpose.JIT,
    requested_by: str = REQUESTER,
    required: tuple[Requirement, ...] | None = None,
    decisions: tuple[Decision, ...] = (),
) -> Transfer:
    exhibits = exhibits or (exhibit(),)
    return Transfer(
        id="DANUBE-T-0001",
        case_id=CASE.id,
        from_team=from_team,
        to_team=to_team,
        purpose=purpose,
        legal_basis="JIT agreement JIT-2024-017",
        note="",
        state=TransferState.REQUESTED,
        requested_by=requested_by,
        requested_at=T0,
        items=tuple(
            TransferItem(ex.reference, ex.team, ex.handling, ex.size, ex.blake3, ex.sha256)
            for ex in exhibits
        ),
        required=(
            required if required is not None else policy.requirements(CASE, purpose, exhibits)
        ),
        decisions=decisions,
    )


def jit_lead_approval(who: str = "leon") -> Decision:
    return Decision(Capacity.JIT_LEAD, "FR", who, True, "", T0, 7)


# -- the matrix ------------------------------------------------------------------------------

OWN, OTHER = "own", "other"
SIDES = (OWN, OTHER)

# What "own" and "other" mean, per right. "other" is always a member team of the case
# that is not party to the thing (ME), except for open_case, where there is no thing.
#
#   view, download, disclose, set_handling   exhibit BG-EX-0001, originated and held by BG only.
#                                            own: the person is of BG; other: of ME.
#   request        the same exhibit. own: a BG person asks to hand it to ME (a member that
#                  does not hold it); other: a ME person asks to hand it to FR.
#   ingest         the person is of BG. own: into team BG; other: into team ME.
#   approve, reject, cancel, dispatch, receive
#                  transfer DANUBE-T-0001 of BG-EX-0001 (H0, purpose jit) from BG to FR,
#                  requested by rita (a BG investigator), state requested, waiting only for
#                  the JIT lead's approval (a lead of FR).
#                  approve, reject  own: the person is of FR, the case's lead team (JIT lead),
#                                   whose capacity is pending; other: of ME.
#                  cancel           own: of BG, the sending team, and not the requester;
#                                   other: of ME.
#                  dispatch         own: of BG, the sending team (from_team); other: of ME.
#                  receive          own: of FR, the receiving team (to_team); other: of ME.
#   audit          the case. own: the person is of FR, the lead team; other: of ME.
#   open_case      the case. own: the person is of FR, one of its teams;
#                  other: of DE, a team the case does not include.
#   manage_people  no context (it concerns no case). own: of FR; other: of ME.
#   read_access_log  no context, like manage_people.
#
# Written out cell by cell on purpose (not derived from policy.ROLE_RIGHTS): a change of
# the policy must show up here.
EXPECTED: dict[tuple[Role, str, Right], bool] = {
    # -- investigator
    (Role.INVESTIGATOR, OWN, Right.VIEW): True,
    (Role.INVESTIGATOR, OTHER, Right.VIEW): False,
    (Role.INVESTIGATOR, OWN, Right.DOWNLOAD): True,
    (Role.INVESTIGATOR, OTHER, Right.DOWNLOAD): False,
    (Role.INVESTIGATOR, OWN, Right.INGEST): True,
    (Role.INVESTIGATOR, OTHER, Right.INGEST): False,
    (Role.INVESTIGATOR, OWN, Right.REQUEST): True,
    (Role.INVESTIGATOR, OTHER, Right.REQUEST): False,
    (Role.INVESTIGATOR, OWN, Right.APPROVE): False,
    (Role.INVESTIGATOR, OTHER, Right.APPROVE): False,
    (Role.INVESTIGATOR, OWN, Right.REJECT): False,
    (Role.INVESTIGATOR, OTHER, Right.REJECT): False,
    (Role.INVESTIGATOR, OWN, Right.CANCEL): False,
    (Role.INVESTIGATOR, OTHER, Right.CANCEL): False,
    (Role.INVESTIGATOR, OWN, Right.DISPATCH): True,
    (Role.INVESTIGATOR, OTHER, Right.DISPATCH): False,
    (Role.INVESTIGATOR, OWN, Right.RECEIVE): True,
    (Role.INVESTIGATOR, OTHER, Right.RECEIVE): False,
    (Role.INVESTIGATOR, OWN, Right.DISCLOSE): False,
    (Role.INVESTIGATOR, OTHER, Right.DISCLOSE): False,
    (Role.INVESTIGATOR, OWN, Right.AUDIT): False,
    (Role.INVESTIGATOR, OTHER, Right.AUDIT): False,
    (Role.INVESTIGATOR, OWN, Right.SET_HANDLING): False,
    (Role.INVESTIGATOR, OTHER, Right.SET_HANDLING): False,
    (Role.INVESTIGATOR, OWN, Right.OPEN_CASE): False,
    (Role.INVESTIGATOR, OTHER, Right.OPEN_CASE): False,
    (Role.INVESTIGATOR, OWN, Right.MANAGE_PEOPLE): False,
    (Role.INVESTIGATOR, OTHER, Right.MANAGE_PEOPLE): False,
    (Role.INVESTIGATOR, OWN, Right.READ_ACCESS_LOG): False,
    (Role.INVESTIGATOR, OTHER, Right.READ_ACCESS_LOG): False,
    # -- lead
    (Role.LEAD, OWN, Right.VIEW): True,
    (Role.LEAD, OTHER, Right.VIEW): False,
    (Role.LEAD, OWN, Right.DOWNLOAD): True,
    (Role.LEAD, OTHER, Right.DOWNLOAD): False,
    (Role.LEAD, OWN, Right.INGEST): True,
    (Role.LEAD, OTHER, Right.INGEST): False,
    (Role.LEAD, OWN, Right.REQUEST): True,
    (Role.LEAD, OTHER, Right.REQUEST): False,
    (Role.LEAD, OWN, Right.APPROVE): True,
    (Role.LEAD, OTHER, Right.APPROVE): False,
    (Role.LEAD, OWN, Right.REJECT): True,
    (Role.LEAD, OTHER, Right.REJECT): False,
    (Role.LEAD, OWN, Right.CANCEL): True,
    (Role.LEAD, OTHER, Right.CANCEL): False,
    (Role.LEAD, OWN, Right.DISPATCH): True,
    (Role.LEAD, OTHER, Right.DISPATCH): False,
    (Role.LEAD, OWN, Right.RECEIVE): True,
    (Role.LEAD, OTHER, Right.RECEIVE): False,
    (Role.LEAD, OWN, Right.DISCLOSE): False,
    (Role.LEAD, OTHER, Right.DISCLOSE): False,
    (Role.LEAD, OWN, Right.AUDIT): True,
    (Role.LEAD, OTHER, Right.AUDIT): False,
    (Role.LEAD, OWN, Right.SET_HANDLING): True,
    (Role.LEAD, OTHER, Right.SET_HANDLING): False,
    (Role.LEAD, OWN, Right.OPEN_CASE): True,
    (Role.LEAD, OTHER, Right.OPEN_CASE): False,
    (Role.LEAD, OWN, Right.MANAGE_PEOPLE): False,
    (Role.LEAD, OTHER, Right.MANAGE_PEOPLE): False,
    (Role.LEAD, OWN, Right.READ_ACCESS_LOG): False,
    (Role.LEAD, OTHER, Right.READ_ACCESS_LOG): False,
    # -- prosecutor
    (Role.PROSECUTOR, OWN, Right.VIEW): True,
    (Role.PROSECUTOR, OTHER, Right.VIEW): False,
    (Role.PROSECUTOR, OWN, Right.DOWNLOAD): True,
    (Role.PROSECUTOR, OTHER, Right.DOWNLOAD): False,
    (Role.PROSECUTOR, OWN, Right.INGEST): False,
    (Role.PROSECUTOR, OTHER, Right.INGEST): False,
    (Role.PROSECUTOR, OWN, Right.REQUEST): False,
    (Role.PROSECUTOR, OTHER, Right.REQUEST): False,
    (Role.PROSECUTOR, OWN, Right.APPROVE): False,
    (Role.PROSECUTOR, OTHER, Right.APPROVE): False,
    (Role.PROSECUTOR, OWN, Right.REJECT): False,
    (Role.PROSECUTOR, OTHER, Right.REJECT): False,
    (Role.PROSECUTOR, OWN, Right.CANCEL): False,
    (Role.PROSECUTOR, OTHER, Right.CANCEL): False,
    (Role.PROSECUTOR, OWN, Right.DISPATCH): False,
    (Role.PROSECUTOR, OTHER, Right.DISPATCH): False,
    (Role.PROSECUTOR, OWN, Right.RECEIVE): False,
    (Role.PROSECUTOR, OTHER, Right.RECEIVE): False,
    (Role.PROSECUTOR, OWN, Right.DISCLOSE): True,
    (Role.PROSECUTOR, OTHER, Right.DISCLOSE): False,
    (Role.PROSECUTOR, OWN, Right.AUDIT): False,
    (Role.PROSECUTOR, OTHER, Right.AUDIT): False,
    (Role.PROSECUTOR, OWN, Right.SET_HANDLING): False,
    (Role.PROSECUTOR, OTHER, Right.SET_HANDLING): False,
    (Role.PROSECUTOR, OWN, Right.OPEN_CASE): False,
    (Role.PROSECUTOR, OTHER, Right.OPEN_CASE): False,
    (Role.PROSECUTOR, OWN, Right.MANAGE_PEOPLE): False,
    (Role.PROSECUTOR, OTHER, Right.MANAGE_PEOPLE): False,
    (Role.PROSECUTOR, OWN, Right.READ_ACCESS_LOG): False,
    (Role.PROSECUTOR, OTHER, Right.READ_ACCESS_LOG): False,
    # -- auditor
    (Role.AUDITOR, OWN, Right.VIEW): True,
    (Role.AUDITOR, OTHER, Right.VIEW): True,
    (Role.AUDITOR, OWN, Right.DOWNLOAD): False,
    (Role.AUDITOR, OTHER, Right.DOWNLOAD): False,
    (Role.AUDITOR, OWN, Right.INGEST): False,
    (Role.AUDITOR, OTHER, Right.INGEST): False,
    (Role.AUDITOR, OWN, Right.REQUEST): False,
    (Role.AUDITOR, OTHER, Right.REQUEST): False,
    (Role.AUDITOR, OWN, Right.APPROVE): False,
    (Role.AUDITOR, OTHER, Right.APPROVE): False,
    (Role.AUDITOR, OWN, Right.REJECT): False,
    (Role.AUDITOR, OTHER, Right.REJECT): False,
    (Role.AUDITOR, OWN, Right.CANCEL): False,
    (Role.AUDITOR, OTHER, Right.CANCEL): False,
    (Role.AUDITOR, OWN, Right.DISPATCH): False,
    (Role.AUDITOR, OTHER, Right.DISPATCH): False,
    (Role.AUDITOR, OWN, Right.RECEIVE): False,
    (Role.AUDITOR, OTHER, Right.RECEIVE): False,
    (Role.AUDITOR, OWN, Right.DISCLOSE): False,
    (Role.AUDITOR, OTHER, Right.DISCLOSE): False,
    (Role.AUDITOR, OWN, Right.AUDIT): True,
    (Role.AUDITOR, OTHER, Right.AUDIT): True,
    (Role.AUDITOR, OWN, Right.SET_HANDLING): False,
    (Role.AUDITOR, OTHER, Right.SET_HANDLING): False,
    (Role.AUDITOR, OWN, Right.OPEN_CASE): False,
    (Role.AUDITOR, OTHER, Right.OPEN_CASE): False,
    (Role.AUDITOR, OWN, Right.MANAGE_PEOPLE): False,
    (Role.AUDITOR, OTHER, Right.MANAGE_PEOPLE): False,
    (Role.AUDITOR, OWN, Right.READ_ACCESS_LOG): True,
    (Role.AUDITOR, OTHER, Right.READ_ACCESS_LOG): True,
    # -- admin
    (Role.ADMIN, OWN, Right.VIEW): False,
    (Role.ADMIN, OTHER, Right.VIEW): False,
    (Role.ADMIN, OWN, Right.DOWNLOAD): False,
    (Role.ADMIN, OTHER, Right.DOWNLOAD): False,
    (Role.ADMIN, OWN, Right.INGEST): False,
    (Role.ADMIN, OTHER, Right.INGEST): False,
    (Role.ADMIN, OWN, Right.REQUEST): False,
    (Role.ADMIN, OTHER, Right.REQUEST): False,
    (Role.ADMIN, OWN, Right.APPROVE): False,
    (Role.ADMIN, OTHER, Right.APPROVE): False,
    (Role.ADMIN, OWN, Right.REJECT): False,
    (Role.ADMIN, OTHER, Right.REJECT): False,
    (Role.ADMIN, OWN, Right.CANCEL): False,
    (Role.ADMIN, OTHER, Right.CANCEL): False,
    (Role.ADMIN, OWN, Right.DISPATCH): False,
    (Role.ADMIN, OTHER, Right.DISPATCH): False,
    (Role.ADMIN, OWN, Right.RECEIVE): False,
    (Role.ADMIN, OTHER, Right.RECEIVE): False,
    (Role.ADMIN, OWN, Right.DISCLOSE): False,
    (Role.ADMIN, OTHER, Right.DISCLOSE): False,
    (Role.ADMIN, OWN, Right.AUDIT): False,
    (Role.ADMIN, OTHER, Right.AUDIT): False,
    (Role.ADMIN, OWN, Right.SET_HANDLING): False,
    (Role.ADMIN, OTHER, Right.SET_HANDLING): False,
    (Role.ADMIN, OWN, Right.OPEN_CASE): True,
    (Role.ADMIN, OTHER, Right.OPEN_CASE): True,
    (Role.ADMIN, OWN, Right.MANAGE_PEOPLE): True,
    (Role.ADMIN, OTHER, Right.MANAGE_PEOPLE): True,
    (Role.ADMIN, OWN, Right.READ_ACCESS_LOG): True,
    (Role.ADMIN, OTHER, Right.READ_ACCESS_LOG): True,
}

CELLS = list(itertools.product(Role, SIDES, Right))


def cell_id(cell: tuple[Role, str, Right]) -> str:
    role, side, right = cell
    return f"{role.value}-{side}-{right.value}"


def scenario(role: Role, side: str, right: Right) -> tuple[Person, dict[str, Any]]:
    """The person and the ``decide`` arguments of one cell (see the table's comment)."""
    own = side == OWN
    if right in (Right.VIEW, Right.DOWNLOAD, Right.DISCLOSE, Right.SET_HANDLING):
        return person(role, "BG" if own else "ME"), {
            "case": CASE,
            "exhibit": exhibit(),
            "holders": ("BG",),
        }
    if right is Right.REQUEST:
        return person(role, "BG" if own else "ME"), {
            "case": CASE,
            "exhibit": exhibit(),
            "holders": ("BG",),
            "team": "ME" if own else "FR",
        }
    if right is Right.INGEST:
        return person(role, "BG"), {"case": CASE, "team": "BG" if own else "ME"}
    if right in (Right.APPROVE, Right.REJECT, Right.RECEIVE):
        team = "FR" if own else "ME"
    elif right in (Right.CANCEL, Right.DISPATCH):
        team = "BG" if own else "ME"
    elif right is Right.AUDIT:
        return person(role, "FR" if own else "ME"), {"case": CASE}
    elif right is Right.OPEN_CASE:
        return person(role, "FR" if own else OUTSIDER), {"case": CASE}
    else:
        assert right in (Right.MANAGE_PEOPLE, Right.READ_ACCESS_LOG)
        return person(role, "FR" if own else "ME"), {}
    matrix_transfer = transfer(required=(Requirement(Capacity.JIT_LEAD, "FR"),))
    return person(role, team), {"case": CASE, "transfer": matrix_transfer}


def test_the_table_covers_every_role_side_and_right() -> None:
    assert len(CELLS) == len(Role) * 2 * len(Right)
    assert set(EXPECTED) == set(CELLS)
    assert len(EXPECTED) == len(CELLS)


def test_the_matrix_transfer_waits_for_the_jit_lead_only() -> None:
    t = transfer(required=(Requirement(Capacity.JIT_LEAD, "FR"),))
    assert t.required == policy.requirements(CASE, Purpose.JIT, [exhibit()])
    assert t.pending() == (Requirement(Capacity.JIT_LEAD, "FR"),)
    assert policy.capacities(person(Role.LEAD, "FR"), CASE, t) == t.pending()


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
def test_matrix(cell: tuple[Role, str, Right]) -> None:
    role, side, right = cell
    who, context = scenario(role, side, right)
    verdict = policy.decide(who, right, **context)
    assert verdict.right is right
    assert verdict.allowed is EXPECTED[cell], verdict.reason
    if verdict.allowed:
        assert verdict.reason == ""
        verdict.require()  # does not raise


DENIED = [cell for cell in CELLS if not EXPECTED[cell]]


@pytest.mark.parametrize("cell", DENIED, ids=cell_id)
def test_a_denial_names_the_missing_right_and_the_person(cell: tuple[Role, str, Right]) -> None:
    role, side, right = cell
    who, context = scenario(role, side, right)
    verdict = policy.decide(who, right, **context)
    assert not verdict.allowed
    assert right.value in verdict.reason
    assert who.name in verdict.reason
    with pytest.raises(Denied) as caught:
        verdict.require()
    assert caught.value.exit_code == 5
    assert isinstance(caught.value, PermissionError)
    assert str(caught.value) == verdict.reason


def test_a_missing_role_right_names_the_roles_that_carry_it() -> None:
    verdict = policy.decide(person(Role.PROSECUTOR, "BG"), Right.INGEST, case=CASE, team="BG")
    assert "the right 'ingest' belongs to the role investigator or lead" in verdict.reason
    verdict = policy.decide(person(Role.LEAD, "FR"), Right.MANAGE_PEOPLE)
    assert "the right 'manage_people' belongs to the role admin" in verdict.reason


def test_every_right_but_people_and_access_log_needs_a_case() -> None:
    caseless = {
        Role.ADMIN: {Right.MANAGE_PEOPLE, Right.READ_ACCESS_LOG},
        Role.AUDITOR: {Right.READ_ACCESS_LOG},
    }
    for role in Role:
        for right in Right:
            who = person(role, "FR")
            verdict = policy.decide(who, right)
            assert verdict.allowed is (right in caseless.get(role, set()))
    verdict = policy.decide(person(Role.LEAD, "FR"), Right.AUDIT)
    assert "no case was named" in verdict.reason


# -- approvals ---------------------------------------------------------------------------------


def test_the_jit_lead_cannot_approve_or_reject_their_own_request() -> None:
    lena = person(Role.LEAD, "FR")
    t = transfer((exhibit("FR-EX-0001"),), from_team="FR", to_team="ME", requested_by="lena")
    assert t.pending() == (Requirement(Capacity.JIT_LEAD, "FR"),)
    assert policy.capacities(lena, CASE, t) == t.pending()  # the capacity is there...
    for right in (Right.APPROVE, Right.REJECT):
        verdict = policy.decide(lena, right, case=CASE, transfer=t)
        assert not verdict.allowed  # ...but never on one's own request
        assert "lena requested transfer DANUBE-T-0001 and cannot decide it" in verdict.reason
        # another lead of the lead team decides it
        other = person(Role.LEAD, "FR", "leon")
        assert policy.decide(other, right, case=CASE, transfer=t).allowed


def test_an_origin_lead_cannot_consent_to_their_own_request() -> None:
    lena = person(Role.LEAD, "BG")
    t = transfer(to_team="ME", purpose=Purpose.OTHER_OFFENCE, requested_by="lena")
    assert Requirement(Capacity.ORIGIN, "BG") in t.pending()
    assert not policy.decide(lena, Right.APPROVE, case=CASE, transfer=t).allowed
    boris = person(Role.LEAD, "BG", "boris")  # another lead of BG consents
    assert policy.decide(boris, Right.APPROVE, case=CASE, transfer=t).allowed


def test_an_origin_lead_decides_only_when_its_consent_is_required() -> None:
    bg_lead = person(Role.LEAD, "BG")
    plain = transfer(to_team="ME")  # H0, jit: only the JIT lead
    verdict = policy.decide(bg_lead, Right.APPROVE, case=CASE, transfer=plain)
    assert not verdict.allowed
    assert "waits for the JIT lead's approval (a lead of FR)" in verdict.reason
    consent = transfer(to_team="ME", purpose=Purpose.OTHER_OFFENCE)
    assert policy.decide(bg_lead, Right.APPROVE, case=CASE, transfer=consent).allowed
    assert policy.decide(bg_lead, Right.REJECT, case=CASE, transfer=consent).allowed


def test_nobody_decides_a_transfer_once_their_capacity_is_given() -> None:
    t = transfer(decisions=(jit_lead_approval(),))
    assert t.pending() == ()
    verdict = policy.decide(person(Role.LEAD, "FR"), Right.APPROVE, case=CASE, transfer=t)
    assert not verdict.allowed
    assert "waits for nothing" in verdict.reason


def test_transfer_rights_need_a_transfer() -> None:
    for right in (Right.APPROVE, Right.REJECT, Right.CANCEL, Right.DISPATCH, Right.RECEIVE):
        verdict = policy.decide(person(Role.LEAD, "FR"), right, case=CASE)
        assert not verdict.allowed
        assert "no transfer was named" in verdict.reason


def test_the_requester_cancels_and_the_jit_lead_dispatches() -> None:
    t = transfer(to_team="ME")
    rita = person(Role.INVESTIGATOR, "BG", REQUESTER)
    assert policy.decide(rita, Right.CANCEL, case=CASE, transfer=t).allowed
    fr_lead = person(Role.LEAD, "FR")  # the JIT lead, neither sending nor receiving
    assert policy.decide(fr_lead, Right.DISPATCH, case=CASE, transfer=t).allowed
    assert not policy.decide(fr_lead, Right.CANCEL, case=CASE, transfer=t).allowed
    assert not policy.decide(fr_lead, Right.RECEIVE, case=CASE, transfer=t).allowed
    fr_investigator = person(Role.INVESTIGATOR, "FR")
    assert not policy.decide(fr_investigator, Right.DISPATCH, case=CASE, transfer=t).allowed


# -- non-member teams ---------------------------------------------------------------------------


def outsider_context(right: Right) -> dict[str, Any]:
    """The most favourable context a DE person could bring: DE holds, originates,
    sends, receives, and DE's consent is pending."""
    de_exhibit = replace(exhibit(), reference="DE-EX-0001", team=OUTSIDER)
    if right in (Right.VIEW, Right.DOWNLOAD, Right.DISCLOSE, Right.SET_HANDLING, Right.REQUEST):
        return {"case": CASE, "exhibit": de_exhibit, "holders": (OUTSIDER,), "team": "BG"}
    if right is Right.INGEST:
        return {"case": CASE, "team": OUTSIDER}
    if right in (Right.APPROVE, Right.REJECT, Right.CANCEL, Right.DISPATCH, Right.RECEIVE):
        required = (Requirement(Capacity.JIT_LEAD, "FR"), Requirement(Capacity.ORIGIN, OUTSIDER))
        to_team = OUTSIDER if right is Right.RECEIVE else "BG"
        from_team = "BG" if right is Right.RECEIVE else OUTSIDER
        t = transfer(from_team=from_team, to_team=to_team, required=required)
        return {"case": CASE, "transfer": t}
    if right in (Right.MANAGE_PEOPLE, Right.READ_ACCESS_LOG):
        return {}
    return {"case": CASE}


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_a_team_outside_the_case_is_denied_everything_but_caseless_rights(role: Role) -> None:
    """The spec lets an admin open any case (``open_case: an admin, or a lead of
    one of the case's teams``), so an admin of DE opens DANUBE too."""
    who = person(role, OUTSIDER)
    allowed = {
        right for right in Right if policy.decide(who, right, **outsider_context(right)).allowed
    }
    expected = {
        Role.ADMIN: {Right.MANAGE_PEOPLE, Right.OPEN_CASE, Right.READ_ACCESS_LOG},
        Role.AUDITOR: {Right.READ_ACCESS_LOG},
    }.get(role, set())
    assert allowed == expected


def test_a_person_with_every_role_outside_the_case_is_told_why() -> None:
    who = Person("omni", OUTSIDER, frozenset(Role))
    for right in Right:
        verdict = policy.decide(who, right, **outsider_context(right))
        if right in (Right.MANAGE_PEOPLE, Right.OPEN_CASE, Right.READ_ACCESS_LOG):
            assert verdict.allowed
        else:
            assert not verdict.allowed
            assert "team DE is not a member of case DANUBE" in verdict.reason
            assert right.value in verdict.reason


def test_a_lead_outside_the_case_cannot_open_it() -> None:
    verdict = policy.decide(person(Role.LEAD, OUTSIDER), Right.OPEN_CASE, case=CASE)
    assert not verdict.allowed
    assert "a lead may only open a case that includes their team DE" in verdict.reason


# -- exhibits ----------------------------------------------------------------------------------


@pytest.mark.parametrize("team", ["BG", "ME", "FR"])
def test_an_auditor_views_every_exhibit_of_the_case_and_downloads_none(team: str) -> None:
    aude = person(Role.AUDITOR, team)
    for ex, holders in (
        (exhibit("BG-EX-0001"), ("BG",)),
        (exhibit("ME-EX-0001"), ("ME", "FR")),
        (exhibit("FR-EX-0002", status=ExhibitStatus.QUARANTINED), ("FR",)),
    ):
        view = policy.decide(aude, Right.VIEW, case=CASE, exhibit=ex, holders=holders)
        assert view.allowed
        for right in (Right.DOWNLOAD, Right.DISCLOSE):
            verdict = policy.decide(aude, right, case=CASE, exhibit=ex, holders=holders)
            assert not verdict.allowed  # not even when the auditor's team holds it
            assert f"the right '{right.value}' belongs to the role" in verdict.reason


def test_an_auditor_outside_the_case_views_nothing() -> None:
    verdict = policy.decide(
        person(Role.AUDITOR, OUTSIDER), Right.VIEW, case=CASE, exhibit=exhibit(), holders=("BG",)
    )
    assert not verdict.allowed


def test_a_received_exhibit_is_held_like_an_own_one() -> None:
    ex = exhibit()  # originated by BG, received by ME
    for role in (Role.INVESTIGATOR, Role.LEAD, Role.PROSECUTOR):
        who = person(role, "ME")
        for right in (Right.VIEW, Right.DOWNLOAD):
            verdict = policy.decide(who, right, case=CASE, exhibit=ex, holders=("BG", "ME"))
            assert verdict.allowed
    me_lead = person(Role.LEAD, "ME")
    onward = policy.decide(
        me_lead, Right.REQUEST, case=CASE, exhibit=ex, holders=("BG", "ME"), team="FR"
    )
    assert onward.allowed
    # only the originating team's lead sets its handling, not a holder's
    handling = policy.decide(
        me_lead, Right.SET_HANDLING, case=CASE, exhibit=ex, holders=("BG", "ME")
    )
    assert not handling.allowed
    assert "only a lead of the originating team BG sets its handling" in handling.reason


def test_exhibit_rights_need_an_exhibit() -> None:
    for right in (Right.VIEW, Right.DOWNLOAD, Right.DISCLOSE, Right.REQUEST, Right.SET_HANDLING):
        roles = frozenset({Role.LEAD, Role.PROSECUTOR})
        verdict = policy.decide(Person("lena", "BG", roles), right, case=CASE, holders=("BG",))
        assert not verdict.allowed
        assert "no exhibit was named" in verdict.reason


@pytest.mark.parametrize("role", [Role.INVESTIGATOR, Role.LEAD])
def test_a_quarantined_exhibit_cannot_be_requested(role: Role) -> None:
    ex = exhibit(status=ExhibitStatus.QUARANTINED)
    who = person(role, "BG")
    verdict = policy.decide(who, Right.REQUEST, case=CASE, exhibit=ex, holders=("BG",), team="ME")
    assert not verdict.allowed
    assert "exhibit BG-EX-0001 is quarantined" in verdict.reason
    with pytest.raises(Denied):
        verdict.require()
    # it can still be looked at by its holder
    assert policy.decide(who, Right.VIEW, case=CASE, exhibit=ex, holders=("BG",)).allowed


@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("ME", "team ME already holds exhibit BG-EX-0001"),
        ("BG", "name another team of the case to hand the exhibit to"),
        (None, "name another team of the case to hand the exhibit to"),
        (OUTSIDER, "team DE is not a member of case DANUBE"),
    ],
    ids=["already-holds", "own-team", "no-team", "non-member"],
)
def test_a_request_to_a_team_that_cannot_receive_is_denied(target: str | None, why: str) -> None:
    verdict = policy.decide(
        person(Role.LEAD, "BG"),
        Right.REQUEST,
        case=CASE,
        exhibit=exhibit(),
        holders=("BG", "ME"),
        team=target,
    )
    assert not verdict.allowed
    assert why in verdict.reason
    assert "request" in verdict.reason


def test_a_request_to_a_member_that_does_not_hold_it_is_allowed() -> None:
    verdict = policy.decide(
        person(Role.LEAD, "BG"),
        Right.REQUEST,
        case=CASE,
        exhibit=exhibit(),
        holders=("BG", "ME"),
        team="FR",
    )
    assert verdict.allowed


# -- consent requirements ------------------------------------------------------------------------

JIT_LEAD = Requirement(Capacity.JIT_LEAD, "FR")


def test_a_jit_transfer_of_h0_needs_only_the_jit_lead() -> None:
    assert policy.requirements(CASE, Purpose.JIT, [exhibit()]) == (JIT_LEAD,)


def test_h1_alone_needs_no_origin_consent_for_jit() -> None:
    ex = exhibit(handling=Handling(HandlingCode.H1))
    assert policy.requirements(CASE, Purpose.JIT, [ex]) == (JIT_LEAD,)


@pytest.mark.parametrize(
    "purpose", [Purpose.OTHER_OFFENCE, Purpose.URGENT_PUBLIC_SECURITY, Purpose.OUTSIDE_JIT]
)
def test_a_purpose_not_agreed_in_advance_needs_origin_consent(purpose: Purpose) -> None:
    assert policy.requirements(CASE, purpose, [exhibit()]) == (
        JIT_LEAD,
        Requirement(Capacity.ORIGIN, "BG"),
    )


@pytest.mark.parametrize(
    "handling",
    [Handling(HandlingCode.H2), Handling(HandlingCode.H3, note="not to Europol")],
    ids=["H2", "H3"],
)
def test_h2_and_h3_need_origin_consent_even_for_jit(handling: Handling) -> None:
    ex = exhibit(handling=handling)
    assert policy.requirements(CASE, Purpose.JIT, [ex]) == (
        JIT_LEAD,
        Requirement(Capacity.ORIGIN, "BG"),
    )


def test_a_purpose_agreed_in_advance_needs_only_the_jit_lead() -> None:
    agreed = Handling(HandlingCode.H0, purposes=(Purpose.JIT, Purpose.OTHER_OFFENCE))
    ex = exhibit(handling=agreed)
    assert policy.requirements(CASE, Purpose.OTHER_OFFENCE, [ex]) == (JIT_LEAD,)
    # another purpose still needs it, and so does H2 even for an agreed purpose
    assert Requirement(Capacity.ORIGIN, "BG") in policy.requirements(
        CASE, Purpose.URGENT_PUBLIC_SECURITY, [ex]
    )
    h2 = exhibit(handling=replace(agreed, code=HandlingCode.H2))
    assert Requirement(Capacity.ORIGIN, "BG") in policy.requirements(
        CASE, Purpose.OTHER_OFFENCE, [h2]
    )


def test_exhibits_of_two_origins_need_one_consent_per_team() -> None:
    exhibits = [
        exhibit("BG-EX-0001"),
        exhibit("ME-EX-0001"),
        exhibit("BG-EX-0002", handling=Handling(HandlingCode.H2)),
        exhibit("ME-EX-0002"),
    ]
    assert policy.requirements(CASE, Purpose.OTHER_OFFENCE, exhibits) == (
        JIT_LEAD,
        Requirement(Capacity.ORIGIN, "BG"),
        Requirement(Capacity.ORIGIN, "ME"),
    )


def test_only_the_exhibits_that_need_it_ask_for_consent() -> None:
    exhibits = [exhibit("BG-EX-0001"), exhibit("ME-EX-0001", handling=Handling(HandlingCode.H2))]
    assert policy.requirements(CASE, Purpose.JIT, exhibits) == (
        JIT_LEAD,
        Requirement(Capacity.ORIGIN, "ME"),
    )


def test_the_lead_team_own_exhibit_needs_both_capacities_of_fr() -> None:
    assert policy.requirements(CASE, Purpose.OTHER_OFFENCE, [exhibit("FR-EX-0001")]) == (
        JIT_LEAD,
        Requirement(Capacity.ORIGIN, "FR"),
    )


# -- capacities --------------------------------------------------------------------------------


def fr_transfer(decisions: tuple[Decision, ...] = ()) -> Transfer:
    """FR's own exhibit to ME for another offence: the JIT lead and FR's consent."""
    return transfer(
        (exhibit("FR-EX-0001"),),
        from_team="FR",
        to_team="ME",
        purpose=Purpose.OTHER_OFFENCE,
        requested_by="rita",
        decisions=decisions,
    )


def test_a_lead_of_the_lead_team_that_originated_it_gets_both_capacities() -> None:
    t = fr_transfer()
    assert policy.capacities(person(Role.LEAD, "FR"), CASE, t) == (
        JIT_LEAD,
        Requirement(Capacity.ORIGIN, "FR"),
    )


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.LEAD], ids=str)
def test_a_non_lead_gets_no_capacity(role: Role) -> None:
    assert policy.capacities(person(role, "FR"), CASE, fr_transfer()) == ()


@pytest.mark.parametrize("team", ["BG", "ME"])
def test_a_lead_of_an_uninvolved_team_gets_no_capacity(team: str) -> None:
    assert policy.capacities(person(Role.LEAD, team), CASE, fr_transfer()) == ()


def test_capacities_are_only_the_pending_ones() -> None:
    t = fr_transfer(decisions=(jit_lead_approval(),))
    assert policy.capacities(person(Role.LEAD, "FR"), CASE, t) == (
        Requirement(Capacity.ORIGIN, "FR"),
    )


def test_an_origin_lead_gets_only_the_origin_capacity() -> None:
    t = transfer(to_team="ME", purpose=Purpose.OTHER_OFFENCE)
    assert policy.capacities(person(Role.LEAD, "BG"), CASE, t) == (
        Requirement(Capacity.ORIGIN, "BG"),
    )


# -- who sees a transfer -------------------------------------------------------------------------


def test_a_transfer_is_seen_by_its_two_teams_the_jit_lead_and_auditors() -> None:
    t = transfer(to_team="ME")  # BG -> ME, H0, jit: FR is only the JIT lead's team
    seen = {
        (role, team)
        for role in Role
        for team in ("BG", "ME", "FR", OUTSIDER)
        if policy.can_see_transfer(person(role, team), CASE, t).allowed
    }
    viewers = [r for r in Role if r is not Role.ADMIN]  # an admin sees no evidence
    assert seen == {
        *((role, "BG") for role in viewers),
        *((role, "ME") for role in viewers),
        (Role.LEAD, "FR"),
        (Role.AUDITOR, "FR"),
    }


def test_an_investigator_of_an_uninvolved_team_does_not_see_it() -> None:
    t = transfer(to_team="ME")
    verdict = policy.can_see_transfer(person(Role.INVESTIGATOR, "FR"), CASE, t)
    assert not verdict.allowed
    assert verdict.right is Right.VIEW
    assert "ivan" in verdict.reason
    assert "DANUBE-T-0001" in verdict.reason
    with pytest.raises(Denied):
        verdict.require()


def test_an_origin_lead_whose_consent_is_required_sees_it() -> None:
    # ME received BG-EX-0001 earlier and now hands it to FR for another offence
    t = transfer(from_team="ME", to_team="FR", purpose=Purpose.OTHER_OFFENCE)
    assert Requirement(Capacity.ORIGIN, "BG") in t.required
    assert policy.can_see_transfer(person(Role.LEAD, "BG"), CASE, t).allowed
    assert policy.can_see_transfer(person(Role.AUDITOR, "BG"), CASE, t).allowed
    for role in (Role.INVESTIGATOR, Role.PROSECUTOR, Role.ADMIN):
        assert not policy.can_see_transfer(person(role, "BG"), CASE, t).allowed
    # still after consenting
    consented = replace(t, decisions=(Decision(Capacity.ORIGIN, "BG", "boris", True, "", T0, 8),))
    assert policy.can_see_transfer(person(Role.LEAD, "BG"), CASE, consented).allowed


def test_an_origin_lead_whose_consent_is_not_required_does_not_see_it() -> None:
    t = transfer(from_team="ME", to_team="FR")  # jit, H0: no consent of BG
    assert not policy.can_see_transfer(person(Role.LEAD, "BG"), CASE, t).allowed


def test_nobody_outside_the_case_sees_a_transfer() -> None:
    t = transfer(to_team="ME")
    omni = Person("omni", OUTSIDER, frozenset(Role))
    assert not policy.can_see_transfer(omni, CASE, t).allowed


# -- handling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("note", ["", "   "])
def test_h3_needs_its_restriction_in_words(note: str) -> None:
    with pytest.raises(InputError, match="H3 needs the restriction"):
        Handling(HandlingCode.H3, note=note)


def test_h3_with_a_note_is_valid() -> None:
    assert Handling(HandlingCode.H3, note="not to Europol").note == "not to Europol"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ((), (Purpose.JIT,)),
        ((Purpose.JIT,), (Purpose.JIT,)),
        ((Purpose.OTHER_OFFENCE,), (Purpose.JIT, Purpose.OTHER_OFFENCE)),
        (
            (Purpose.URGENT_PUBLIC_SECURITY, Purpose.OTHER_OFFENCE, Purpose.OTHER_OFFENCE),
            (Purpose.JIT, Purpose.OTHER_OFFENCE, Purpose.URGENT_PUBLIC_SECURITY),
        ),
        (
            (Purpose.OUTSIDE_JIT, Purpose.JIT, Purpose.URGENT_PUBLIC_SECURITY),
            (Purpose.JIT, Purpose.OUTSIDE_JIT, Purpose.URGENT_PUBLIC_SECURITY),
        ),
    ],
)
def test_purposes_always_include_jit_and_are_sorted(
    given: tuple[Purpose, ...], kept: tuple[Purpose, ...]
) -> None:
    handling = Handling(purposes=given)
    assert handling.purposes == kept
    assert handling == Handling(purposes=kept)


def test_an_exhibit_or_transfer_of_another_case_is_denied() -> None:
    other = replace(CASE, id="OTHER")
    auditor = person(Role.AUDITOR, "FR")
    verdict = policy.decide(auditor, Right.VIEW, case=other, exhibit=exhibit(), holders=["BG"])
    assert not verdict.allowed and "belongs to case DANUBE" in verdict.reason
    lead = person(Role.LEAD, "FR")
    assert not policy.decide(lead, Right.APPROVE, case=other, transfer=fr_transfer()).allowed
