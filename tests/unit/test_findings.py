"""The one findings vocabulary: a report is ok only with no finding and no
failed check, and its JSON carries its facts (not the hidden ones)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from evidence.findings import Check, Finding, Report, hidden


@dataclass(frozen=True)
class Facts:
    case: str
    events: int
    files: tuple[str, ...] = hidden()


def test_a_report_is_ok_without_findings_and_failed_checks() -> None:
    assert Report("case X", None).ok
    problem = Finding("chain", "event 3", "does not match its hash", "edited")
    assert not Report("case X", None, (problem,)).ok
    assert not Report("bundle B", None, checks=(Check("bag", False, "not checked"),)).ok
    assert Report("bundle B", None, checks=(Check("bag", True, "fine"),)).ok


def test_a_finding_names_its_place_once() -> None:
    f = Finding("schedule", "data/schedule.csv row 2", "size 5, but the native holds 6 bytes")
    assert f.text() == "data/schedule.csv row 2: size 5, but the native holds 6 bytes"
    assert Finding("receipt", "", "no receipt").text() == "no receipt"


def test_the_json_form_carries_the_facts_and_every_finding() -> None:
    report = Report(
        "case X",
        Facts("X", 7, files=("a", "b")),
        (Finding("chain", "event 3", "edited", "edited"),),
        (Check("chain", False, "1 problem"),),
        "the chain breaks at event 3",
    )
    assert report.as_dict() == {
        "subject": "case X",
        "ok": False,
        "case": "X",
        "events": 7,
        "summary": "the chain breaks at event 3",
        "checks": [{"name": "chain", "ok": False, "detail": "1 problem"}],
        "findings": [{"check": "chain", "where": "event 3", "kind": "edited", "message": "edited"}],
        "notes": [],
    }
    assert report.facts.files == ("a", "b")  # kept, only not in the JSON
    assert report.findings_of("chain") == list(report.findings) and report.findings_of("bag") == []
    assert report.check("chain").detail == "1 problem"
    with pytest.raises(KeyError):
        report.check("bag")
    assert report.text() == "case X: the chain breaks at event 3"


def test_facts_must_be_a_dataclass() -> None:
    with pytest.raises(TypeError, match="dataclass"):
        Report("x", {"events": 1}).as_dict()
