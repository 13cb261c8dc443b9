"""The fixity audit's pure rules: which slice a run checks (rolling
coverage), the checked-list digest, and the bandwidth cap's pace."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from blake3 import blake3

from evidence.audit import Copy
from evidence.fixity import Throttle, checked_digest, next_slice, slice_of
from evidence.models import Action, CustodyEvent, Digests
from evidence.sizes import MiB

AT = datetime(2026, 3, 14, tzinfo=UTC)


def copy(team: str, n: int) -> Copy:
    key = blake3(f"object {n}".encode()).hexdigest()
    return Copy(f"BG-EX-{n:04d}", team, team, key, Digests(1, key, "0" * 64), None)


def audited(seq: int, share: Any) -> CustodyEvent:
    return CustodyEvent(
        "DANUBE",
        seq,
        None,
        Action.FIXITY_AUDITED,
        "Aud. Keller",
        "FR",
        AT,
        {"share": share},
        "0" * 64,
        "0" * 64,
    )


def test_a_first_run_takes_slice_zero_then_each_oldest_in_turn() -> None:
    events: list[CustodyEvent] = []
    taken = []
    for seq in range(1, 8):
        s = next_slice(events, 3)
        taken.append(s)
        events.append(audited(seq, {"slice": s, "of": 3}))
    assert taken == [0, 1, 2, 0, 1, 2, 0]


def test_an_audit_of_everything_counts_for_every_slice() -> None:
    events = [
        audited(1, {"slice": 0, "of": 4}),
        audited(2, "all"),
        audited(3, {"slice": 2, "of": 4}),
    ]
    assert next_slice(events, 4) == 0  # all slices seen at #2; 0, 1, 3 are the oldest: lowest first


def test_a_changed_cycle_starts_again_and_other_events_are_ignored() -> None:
    events = [audited(1, {"slice": 0, "of": 30}), audited(2, {"slice": 0, "of": 7})]
    assert next_slice(events, 7) == 1
    assert next_slice(events, 5) == 0


def test_every_copy_is_in_exactly_one_slice_and_all_slices_cover_all_copies() -> None:
    copies = [copy(team, n) for team in ("BG", "FR") for n in range(200)]
    days = 30
    slices = [[c for c in copies if slice_of(c, days) == s] for s in range(days)]
    assert sum(len(s) for s in slices) == len(copies)
    assert {id(c) for s in slices for c in s} == {id(c) for c in copies}
    assert max(len(s) for s in slices) < 4 * len(copies) / days  # spread, not lumped


def test_the_checked_digest_is_blake3_of_the_sorted_lines() -> None:
    names = ["FR/bb", "BG/aa", "BG/cc"]
    assert checked_digest(names) == blake3(b"BG/aa\nBG/cc\nFR/bb\n").hexdigest()
    assert checked_digest(reversed(names)) == checked_digest(names)


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_the_cap_sleeps_to_keep_the_pace_and_zero_means_none() -> None:
    t = FakeTime()
    capped = Throttle(2, t.monotonic, t.sleep)  # 2 MiB/s
    chunks = [b"x" * MiB] * 4
    assert sum(len(c) for c in capped.pace(chunks)) == 4 * MiB
    assert abs(t.now - 100.0 - 2.0) < 1e-9 and abs(capped.slept - 2.0) < 1e-9
    t.now += 10  # reading slower than the cap: no sleep
    slept = len(t.sleeps)
    list(capped.pace([b"x" * MiB]))
    assert len(t.sleeps) == slept
    free = FakeTime()
    uncapped = Throttle(0, free.monotonic, free.sleep)
    list(uncapped.pace(chunks))
    assert free.sleeps == []
