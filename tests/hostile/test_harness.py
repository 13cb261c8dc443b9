"""The corpus's own harness measures what it claims to."""

from __future__ import annotations

from pathlib import Path

from tests.hostile.conftest import counts, run_measured


def test_the_harness_sees_an_exit_code_output_and_a_peak_rss(
    case_home: tuple[Path, dict[str, str]],
) -> None:
    home, env = case_home
    done = run_measured(env, "exhibits", "list", "--case", "NO-SUCH-CASE", "--as", "Insp. Petrova")
    done.clear_error(2, "NO-SUCH-CASE")
    assert 20 < done.peak_rss_mib < 400
    assert counts(home) == {"exhibits": 0, "events": 5, "bundles": 0, "open_runs": 0}
