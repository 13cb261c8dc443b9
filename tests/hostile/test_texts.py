"""A text beyond the one limit (``evidence.limits.TEXT_MAX_CHARS``) is refused
wherever it would enter the ledger, so that every bundle jitev writes, its
verifier reads back: a note, a reason, a legal basis, a name."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.errors import InputError
from evidence.limits import TEXT_MAX_CHARS
from evidence.ports import EventDraft
from tests.hostile.conftest import counts, run_measured
from tests.integration.cli_helpers import ingest_args

AT_LIMIT = "x" * TEXT_MAX_CHARS
OVER = "x" * (TEXT_MAX_CHARS + 1)


@pytest.mark.parametrize(
    "details",
    [{"reason": OVER}, {"handling": {"note": OVER}}, {"consents": [{"note": OVER}]}],
)
def test_an_event_with_a_text_over_the_limit_is_refused(details: dict) -> None:
    with pytest.raises(InputError, match="over the limit of 65,536"):
        EventDraft("TRANSFER_REQUESTED", "Insp. Petrova", "BG", None, details)


def test_an_event_at_the_limit_is_kept() -> None:
    draft = EventDraft("TRANSFER_REQUESTED", "Insp. Petrova", "BG", None, {"note": AT_LIMIT})
    assert draft.details["note"] == AT_LIMIT


def test_a_hand_off_note_over_the_limit_is_refused_and_nothing_recorded(
    case_home: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    home, env = case_home
    sample = tmp_path / "chat.txt"
    sample.write_text("a chat export")
    assert run_measured(env, *ingest_args(), str(sample)).returncode == 0
    before = counts(home)
    done = run_measured(
        env, "transfer", "request", "BG-EX-0001", "--case", "DANUBE", "--to", "FR",
        "--note", OVER, "--as", "Insp. Petrova",
    )  # fmt: skip
    done.clear_error(2, "note is 65,537 characters long", "--note")
    done.bounded()
    assert counts(home) == before
