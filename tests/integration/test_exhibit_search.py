"""Exhibit search in SQL (``storage.sql.search``) against the policy: for a
mixed set of exhibits, teams, hand-offs and roles, the search returns exactly
what ``policy.decide`` allows, in order, on SQLite and PostgreSQL; its
filters, pages and cursors; the frozen bundle selections; the indexes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Select, func, select, text

from evidence import policy, selections, visibility
from evidence.errors import Denied, InputError, NotFound
from evidence.models import (
    Capacity,
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
from evidence.paging import Cursor
from evidence.policy import Right
from evidence.search import ExhibitFilter, order_key, prefix_end
from storage.sql.catalog import SqlCatalog
from storage.sql.search import ORDER, conditions
from storage.sql.tables import exhibits
from tests.fixtures_sql import opening, sample_case, sample_exhibit

T0 = datetime(2024, 2, 1, tzinfo=UTC)
TEAMS = ("BG", "ME", "FR")
MEDIA = ("image/jpeg", "image/png", "application/pdf", "text/plain")


def digest(i: int, salt: str = "") -> str:
    return f"{salt}{i:04x}".ljust(64, "0")[:64] if salt else f"{i:08x}".rjust(64, "c")


def exhibit(case_id: str, team: str, n: int, i: int) -> Exhibit:
    ref = f"{team}-EX-{n:04d}"
    base = sample_exhibit(case_id, ref, team, f"{i:06x}{case_id[:2].encode().hex()}".ljust(64, "b"))
    return replace(
        base,
        title=f"{'Phone' if i % 3 else 'Ledger'} {ref}",
        description="Seized at the PORT of Varna" if i % 4 == 0 else "a 100% plain_note",
        media_type=MEDIA[i % len(MEDIA)],
        sha256=f"{i:06x}".ljust(64, "a"),
        seized_at=None if i % 7 == 0 else T0 + timedelta(days=i),
        status=ExhibitStatus.QUARANTINED if i % 5 == 0 else ExhibitStatus.STORED,
        handling=Handling(HandlingCode(f"H{i % 4}"), "restricted" if i % 4 == 3 else ""),
    )


def transfer(
    case_id: str, number: int, to: str, refs: list[Exhibit], state: TransferState
) -> Transfer:
    return Transfer(
        id=f"{case_id}-T-{number:04d}",
        case_id=case_id,
        from_team=refs[0].team,
        to_team=to,
        purpose=Purpose.JIT,
        legal_basis="JIT agreement",
        note="",
        state=state,
        requested_by="someone",
        requested_at=T0,
        items=tuple(
            TransferItem(e.reference, e.team, e.handling, e.size, e.blake3, e.sha256) for e in refs
        ),
        required=(Requirement(Capacity.JIT_LEAD, "BG"),),
    )


@pytest.fixture
def mixed(catalog: SqlCatalog) -> SqlCatalog:
    """Two cases (the second without FR): exhibits of every team, numbered
    past 9999 for BG (the order by length), and hand-offs received,
    dispatched and rejected."""
    catalog.add_case(sample_case("DANUBE"), opening())
    second = replace(sample_case("RHINE"), teams=sample_case().teams[:2])
    catalog.add_case(second, opening())
    made: dict[str, list[Exhibit]] = {}
    i = 0
    for case_id, teams in (("DANUBE", TEAMS), ("RHINE", TEAMS[:2])):
        made[case_id] = []
        for team in teams:
            for n in (1, 2, 3, 9, 10, 9999, 10000) if team == "BG" else (1, 2, 3, 4):
                i += 1
                made[case_id].append(exhibit(case_id, team, n, i))
        with catalog.transaction(case_id) as tx:
            tx.add_exhibits(made[case_id])
    me = [e for e in made["DANUBE"] if e.team == "ME"]
    bg = [e for e in made["DANUBE"] if e.team == "BG"]
    with catalog.transaction("DANUBE") as tx:
        tx.add_transfer(transfer("DANUBE", 1, "BG", me[:2], TransferState.RECEIVED))
        tx.add_transfer(transfer("DANUBE", 2, "BG", me[2:3], TransferState.DISPATCHED))
        tx.add_transfer(transfer("DANUBE", 3, "FR", bg[:3], TransferState.RECEIVED))
        tx.add_transfer(transfer("DANUBE", 4, "FR", me[3:], TransferState.REJECTED))
    rhine_me = [e for e in made["RHINE"] if e.team == "ME"]
    with catalog.transaction("RHINE") as tx:
        tx.add_transfer(transfer("RHINE", 1, "BG", rhine_me[:1], TransferState.RECEIVED))
    return catalog


PEOPLE = [
    Person(f"{role.value}-{team}", team, frozenset({role}))
    for team in (*TEAMS, "DE")
    for role in Role
] + [Person("lead-and-auditor-ME", "ME", frozenset({Role.LEAD, Role.AUDITOR}))]


def allowed(
    catalog: SqlCatalog, person: Person, right: Right, case_id: str | None
) -> list[Exhibit]:
    """What ``policy.decide`` allows, asked of every exhibit, in the search's order."""
    found = []
    for case in visibility.member_cases(catalog, person, case_id):
        holders = catalog.holdings(case.id)
        for ex in catalog.exhibits(case.id):
            teams = [h.team for h in holders.get(ex.reference, [])]
            if policy.decide(person, right, case=case, exhibit=ex, holders=teams).allowed:
                found.append(ex)
    return sorted(found, key=order_key)


@pytest.mark.parametrize("case_id", [None, "DANUBE", "RHINE"])
@pytest.mark.parametrize("right", [Right.VIEW, Right.DISCLOSE])
def test_the_search_returns_what_the_policy_allows(
    mixed: SqlCatalog, case_id: str | None, right: Right
) -> None:
    for person in PEOPLE:
        scope = visibility.exhibit_scope(mixed, person, right, case_id)
        page = mixed.exhibit_page(scope, ExhibitFilter(case=case_id), None, 1000)
        expected = allowed(mixed, person, right, case_id)
        assert list(page.items) == expected, person
        assert page.total == len(expected)
        # A list by team: its total from the teams' counts, not the rows.
        for team in (*TEAMS, "DE"):
            page = mixed.exhibit_page(scope, ExhibitFilter(case=case_id, team=team), None, 1000)
            of_team = [e for e in expected if e.team == team]
            assert (list(page.items), page.total) == (of_team, len(of_team)), (person, team)


def test_reach_is_decide_for_every_role(mixed: SqlCatalog) -> None:
    with pytest.raises(ValueError, match="not approve"):
        policy.reach(PEOPLE[0], Right.APPROVE, mixed.case("DANUBE"))


def test_visible_exhibits_pages_through_everything(mixed: SqlCatalog) -> None:
    auditor = Person("aude", "FR", frozenset({Role.AUDITOR}))
    every = visibility.visible_exhibits(mixed, auditor, "DANUBE")
    assert [e.reference for e in every][:8] == [
        "BG-EX-0001",
        "BG-EX-0002",
        "BG-EX-0003",
        "BG-EX-0009",
        "BG-EX-0010",
        "BG-EX-9999",
        "BG-EX-10000",
        "FR-EX-0001",
    ]
    assert every == allowed(mixed, auditor, Right.VIEW, "DANUBE")
    me = visibility.visible_exhibits(mixed, auditor, "DANUBE", "ME", status="stored")
    assert me == [e for e in every if e.team == "ME" and e.status is ExhibitStatus.STORED]


def _search(catalog: SqlCatalog, **given: str) -> list[Exhibit]:
    auditor = Person("aude", "BG", frozenset({Role.AUDITOR}))
    match = ExhibitFilter.parse(**given)
    return list(visibility.matching_exhibits(catalog, auditor, match))


def test_filters(mixed: SqlCatalog) -> None:
    auditor = Person("aude", "BG", frozenset({Role.AUDITOR}))
    every = visibility.visible_exhibits(mixed, auditor)

    def where(keep: object) -> list[Exhibit]:
        return [e for e in every if keep(e)]  # type: ignore[operator]

    assert _search(mixed, text="port OF") == where(lambda e: "port of" in e.description.lower())
    assert _search(mixed, text="ex-10000") == where(lambda e: e.reference == "BG-EX-10000")
    assert _search(mixed, text="100%") == where(lambda e: "100%" in e.description)
    assert _search(mixed, text="n_o") == []  # LIKE's wildcards are escaped
    assert _search(mixed, text="_") == where(lambda e: "_" in e.description)
    one = every[5]
    assert _search(mixed, hash_prefix=one.sha256[:6].upper()) == [one]
    assert _search(mixed, hash_prefix=one.blake3[:12]) == [one]
    assert _search(mixed, hash_prefix="ffff") == []
    assert _search(mixed, media_type="image/") == where(lambda e: e.media_type.startswith("image/"))
    assert _search(mixed, media_type="image/png") == where(lambda e: e.media_type == "image/png")
    assert _search(mixed, team="ME", status="quarantined", handling="H1") == where(
        lambda e: (
            e.team == "ME" and e.status.value == "quarantined" and e.handling.code.value == "H1"
        )
    )
    start, end = T0 + timedelta(days=5), T0 + timedelta(days=12)
    assert _search(mixed, seized_from="2024-02-06", seized_to="2024-02-13") == where(
        lambda e: e.seized_at is not None and start <= e.seized_at <= end
    )
    assert _search(mixed, seized_to="2024-02-13T00:00:00Z") == where(
        lambda e: e.seized_at is not None and e.seized_at <= end
    )
    assert _search(mixed, case="RHINE", team="BG") == where(
        lambda e: e.case_id == "RHINE" and e.team == "BG"
    )


def test_prefix_end_is_the_next_hex_string() -> None:
    assert prefix_end("ab9f") == "aba0"
    assert prefix_end("00ff") == "0100"
    assert prefix_end("ffff") is None


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"hash_prefix": "abc"}, "hash"),
        ({"hash_prefix": "xyz0"}, "hash"),
        ({"hash_prefix": "a" * 65}, "hash"),
        ({"media_type": "not a type"}, "media_type"),
        ({"status": "lost"}, "status"),
        ({"handling": "H9"}, "handling"),
        ({"seized_from": "yesterday"}, "seized_from"),
        ({"seized_to": "2024-02-13T10:00"}, "seized_to"),
        ({"seized_from": "2024-03-01", "seized_to": "2024-02-01"}, "seized_to"),
        ({"text": "x" * 201}, "q"),
    ],
)
def test_a_wrong_filter_names_its_parameter(given: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as caught:
        ExhibitFilter.parse(**given)
    assert caught.value.field == field


def test_pages_and_cursors_walk_both_ways(mixed: SqlCatalog) -> None:
    auditor = Person("aude", "FR", frozenset({Role.AUDITOR}))
    every = visibility.visible_exhibits(mixed, auditor)
    match = ExhibitFilter()
    seen: list[Exhibit] = []
    pages = []
    cursor = None
    while True:
        page = visibility.exhibit_page(mixed, auditor, match, cursor, 4)
        assert page.total == len(every) and len(page.items) <= 4
        pages.append(page)
        seen += page.items
        if page.next is None:
            break
        cursor = Cursor.decode(page.next)
    assert seen == every and pages[0].prev is None
    back = visibility.exhibit_page(mixed, auditor, match, Cursor.decode(pages[-1].prev), 4)
    assert back.items == pages[-2].items
    with pytest.raises(InputError, match="cursor") as caught:
        visibility.exhibit_page(mixed, auditor, match, Cursor((1, 2)), 4)
    assert caught.value.field == "cursor"
    with pytest.raises(InputError) as caught:
        visibility.exhibit_page(mixed, auditor, match, None, 1001)
    assert caught.value.field == "limit"
    with pytest.raises(NotFound):
        visibility.exhibit_page(mixed, auditor, ExhibitFilter(case="NOPE"), None, 4)


def test_a_selection_is_frozen_and_only_its_maker_uses_it(mixed: SqlCatalog) -> None:
    petra = Person("petra", "BG", frozenset({Role.PROSECUTOR}))
    match = ExhibitFilter(case="DANUBE", text="phone")
    made = selections.select_for_bundle(mixed, petra, match, T0)
    held = [
        e for e in allowed(mixed, petra, Right.DISCLOSE, "DANUBE") if "phone" in e.title.lower()
    ]
    assert made.count == len(held) and made.case_id == "DANUBE" and made.person == "petra"
    assert mixed.selection(made.id) == made
    assert selections.sample(mixed, made) == [e.reference for e in held][:20]
    with mixed.transaction("DANUBE") as tx:  # a later hand-off matches too, but came after
        me = mixed.exhibit("ME-EX-0004", "DANUBE")
        tx.add_transfer(transfer("DANUBE", 5, "BG", [me], TransferState.RECEIVED))
    assert selections.selected_exhibits(mixed, petra, "DANUBE", made.id) == held
    again = selections.select_for_bundle(mixed, petra, match, T0)
    assert again.count == made.count + ("phone" in me.title.lower())
    other = Person("paul", "BG", frozenset({Role.PROSECUTOR}))
    with pytest.raises(Denied, match="only the person who made it"):
        selections.checked_selection(mixed, other, made.id)
    with pytest.raises(InputError, match="not of case RHINE") as caught:
        selections.selected_exhibits(mixed, petra, "RHINE", made.id)
    assert caught.value.field == "selection"
    with pytest.raises(NotFound, match="no selection nope"):
        mixed.selection("nope")


def test_a_selection_needs_the_disclose_right_and_a_match(mixed: SqlCatalog) -> None:
    petra = Person("petra", "BG", frozenset({Role.PROSECUTOR}))
    with pytest.raises(InputError, match="nothing was selected"):
        selections.select_for_bundle(mixed, petra, ExhibitFilter(case="DANUBE", team="FR"), T0)
    with mixed.engine.connect() as conn:  # the refused selection left nothing
        assert conn.execute(text("SELECT count(*) FROM selections")).scalar() == 0
    investigator = Person("ivan", "BG", frozenset({Role.INVESTIGATOR}))
    with pytest.raises(Denied, match="disclose"):
        selections.select_for_bundle(mixed, investigator, ExhibitFilter(case="DANUBE"), T0)
    outsider = Person("otto", "FR", frozenset({Role.PROSECUTOR}))
    with pytest.raises(Denied, match="not a member"):
        selections.select_for_bundle(mixed, outsider, ExhibitFilter(case="RHINE"), T0)
    with pytest.raises(InputError) as caught:
        selections.select_for_bundle(mixed, petra, ExhibitFilter(), T0)
    assert caught.value.field == "case"


def test_the_filter_survives_its_json(mixed: SqlCatalog) -> None:
    petra = Person("petra", "BG", frozenset({Role.PROSECUTOR}))
    match = ExhibitFilter.parse(case="DANUBE", seized_from="2024-02-01", seized_to="2024-03-01")
    made = selections.select_for_bundle(mixed, petra, match, T0)
    assert mixed.selection(made.id).filter == match


def _plan(catalog: SqlCatalog, query: Select[Any]) -> str:
    with catalog.engine.connect() as conn:
        conn.execute(text("ANALYZE"))
        sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        return " ".join(str(r[-1]) for r in conn.execute(text(f"EXPLAIN QUERY PLAN {sql}")))


def test_sqlite_serves_the_hash_prefix_and_the_order_from_indexes(mixed: SqlCatalog) -> None:
    if mixed.engine.dialect.name != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    petra = Person("petra", "BG", frozenset({Role.PROSECUTOR}))
    scope = visibility.exhibit_scope(mixed, petra, Right.VIEW, "DANUBE")
    hashed = conditions(scope, ExhibitFilter(case="DANUBE", hash_prefix="abcd"))
    plan = _plan(mixed, select(func.count()).select_from(exhibits).where(*hashed))
    assert "ix_exhibits_case_id_sha256 (case_id=? AND sha256>? AND sha256<?)" in plan
    assert "(case_id=? AND blake3>? AND blake3<?)" in plan  # the unique (case_id, blake3)
    listed = conditions(scope, ExhibitFilter(case="DANUBE"))
    plan = _plan(mixed, select(exhibits).where(*listed).order_by(*ORDER).limit(51))
    assert "ix_exhibits_search_order" in plan and "TEMP B-TREE" not in plan
