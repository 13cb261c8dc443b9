"""The fix of an error, worded by each side from the error's structured
facts: the CLI names its options and commands, the API returns the facts."""

from __future__ import annotations

from app.cli.common import explain
from app.web.errors import facts, page_message
from evidence.errors import (
    Ambiguous,
    Consent,
    ConsentMissing,
    IllegalTransition,
    InputError,
    NotFound,
)


def test_the_cli_names_the_option_of_the_missing_input() -> None:
    assert explain(InputError("say why transfer T is rejected", field="reason")) == (
        'say why transfer T is rejected: give --reason "..."'
    )
    legal = explain(InputError("needs its legal basis", field="legal_basis"))
    assert legal.endswith('give --legal-basis "..."')
    assert explain(InputError("no such thing")) == "no such thing"  # nothing to add
    assert explain(NotFound("no exhibit X")) == "no exhibit X"


def test_the_cli_says_which_command_gives_a_missing_consent() -> None:
    exc = ConsentMissing("the bundle is refused", consents=(Consent("BG-EX-0005", "BG", "FR"),))
    text = explain(exc)
    assert text.startswith("the bundle is refused")
    assert '(a lead of BG) jitev exhibits consent BG-EX-0005 --for FR --note "..."' in text


def test_the_cli_names_the_next_step_of_a_transfer() -> None:
    waiting = IllegalTransition(
        "transfer T-1 is approved: it waits for its dispatch", transfer_id="T-1", state="approved"
    )
    assert explain(waiting).endswith(
        "run `jitev transfer dispatch T-1` (the sending team or the JIT lead)"
    )
    done = IllegalTransition(
        "transfer T-1 is received: it is complete", transfer_id="T-1", state="received"
    )
    assert explain(done) == str(done)


def test_the_cli_asks_for_the_case_of_an_ambiguous_reference() -> None:
    exc = Ambiguous("exhibit BG-EX-0001 exists in cases A, B: say which case", cases=("A", "B"))
    assert explain(exc).endswith("add --case A or --case B")


def test_the_api_returns_the_facts_and_the_pages_their_own_words() -> None:
    assert facts(InputError("x", field="note")) == {"field": "note"}
    assert facts(IllegalTransition("x", transfer_id="T-1", state="approved")) == {
        "transfer": "T-1",
        "state": "approved",
    }
    missing = ConsentMissing("refused", consents=(Consent("BG-EX-0005", "BG", "FR"),))
    assert facts(missing) == {
        "consents": [{"reference": "BG-EX-0005", "origin_team": "BG", "for_team": "FR"}]
    }
    assert "--" not in page_message(missing) and "exhibit's page" in page_message(missing)
    assert facts(Ambiguous("x", cases=("A", "B"))) == {"field": "case", "cases": ["A", "B"]}
