"""The jitev command as a person uses it: output, --json, exit codes, and
clear errors without tracebacks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from blake3 import blake3

from tests.integration.cli_helpers import (
    AUDITOR,
    INVESTIGATOR,
    SETUP_EVENTS,
    copy_prefect_home,
    environment,
    ingest,
    ingest_args,
    jitev,
    jitev_json,
    open_case,
)


@pytest.fixture
def env(tmp_path: Path, prefect_template: Path) -> dict[str, str]:
    env = environment(tmp_path / "home", copy_prefect_home(prefect_template, tmp_path / "prefect"))
    open_case(env)
    return env


def evidence(tmp_path: Path) -> Path:
    root = tmp_path / "seized" / "phone-01"
    root.mkdir(parents=True)
    (root / "chat.txt").write_text("Ivo: border at 03:00\n")
    (root / "invoice.pdf").write_bytes(
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    )
    (root / "link").symlink_to(root / "chat.txt")
    return root


def test_ingest_shows_exhibits_hashes_and_ledger(env: dict[str, str], tmp_path: Path) -> None:
    root = evidence(tmp_path)
    done = ingest(env, str(root))
    chat = (root / "chat.txt").read_bytes()
    assert "BG-EX-0001" in done.stdout and "BG-EX-0002" in done.stdout
    assert (
        blake3(chat).hexdigest() in done.stdout and hashlib.sha256(chat).hexdigest() in done.stdout
    )
    assert "symbolic link, not followed" in done.stdout
    assert f"Ledger of case DANUBE: intact, {SETUP_EVENTS + 2} custody events" in done.stdout
    assert "files" in done.stderr  # the progress bar


def test_json_everywhere(env: dict[str, str], tmp_path: Path) -> None:
    root = evidence(tmp_path)
    result = jitev_json(
        env,
        *ingest_args(),
        "--seized-at",
        "2026-03-14T06:10:00+02:00",
        "--seized-from",
        "Van CA 4471 KX",
        str(root),
    )
    assert {o["status"] for o in result["outcomes"]} == {"stored"}
    assert result["ledger"]["ok"] is True and result["ledger"]["events"] == SETUP_EVENTS + 2
    assert result["skipped"][0]["path"].endswith("link")
    listed = jitev_json(env, "exhibits", "list", "--case", "DANUBE", "--as", INVESTIGATOR)
    assert [e["reference"] for e in listed] == ["BG-EX-0001", "BG-EX-0002"]
    assert {e["media_type"] for e in listed} == {"text/plain", "application/pdf"}
    shown = jitev_json(env, "exhibits", "show", "BG-EX-0002", "--as", INVESTIGATOR)
    assert (
        shown["seized_at"] == "2026-03-14T04:10:00+00:00"
        and shown["seized_from"] == "Van CA 4471 KX"
    )
    custody = jitev_json(env, "custody", "show", "BG-EX-0001", "--as", INVESTIGATOR)
    assert [e["action"] for e in custody["events"]] == ["INGESTED"]
    assert custody["events"][0]["details"]["blake3"] == custody["exhibit"]["blake3"]
    checks = jitev_json(env, "ledger", "verify", "--objects", "--as", AUDITOR)
    assert checks[0]["ok"] is True and checks[0]["exhibits"] == 2
    cases = jitev_json(env, "case", "list", "--as", INVESTIGATOR)
    assert cases[0]["id"] == "DANUBE" and cases[0]["lead_team"] == "FR"


def test_custody_show_reads_as_continuity(env: dict[str, str], tmp_path: Path) -> None:
    root = evidence(tmp_path)
    ingest(env, str(root / "chat.txt"))
    ingest(env, str(root / "chat.txt"), by="Insp. Ivanov")
    out = jitev(env, "custody", "show", "BG-EX-0001", "--as", INVESTIGATOR).stdout
    assert "INGESTED by Insp. Petrova (BG)" in out
    assert "DUPLICATE_SEEN by Insp. Ivanov (BG)" in out
    assert blake3((root / "chat.txt").read_bytes()).hexdigest() in out


def test_declared_hash_mismatch_exits_non_zero_with_a_clear_message(
    env: dict[str, str], tmp_path: Path
) -> None:
    image = tmp_path / "phone.bin"
    image.write_bytes(b"extraction")
    done = ingest(env, "--declared-hash", "sha1:" + "0" * 40, str(image), check=False)
    assert done.returncode == 3
    assert "QUARANTINED" in done.stderr and hashlib.sha1(b"extraction").hexdigest() in done.stdout
    shown = jitev_json(env, "exhibits", "show", "BG-EX-0001", "--as", INVESTIGATOR)
    assert shown["status"] == "quarantined"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["exhibits", "show", "BG-EX-0099", "--as", INVESTIGATOR], "BG-EX-0099"),
        (["custody", "show", "BG-EX-0001", "--case", "NOPE", "--as", INVESTIGATOR], "NOPE"),
        (
            ["ingest", "--case", "DANUBE", "--team", "XX", "--as", INVESTIGATOR, "."],
            "team XX is not a member of case DANUBE",
        ),
        (["ingest", "--case", "NOPE", "--team", "BG", "--as", INVESTIGATOR, "."], "NOPE"),
        (
            [*ingest_args(), "/no/such/dir"],
            "/no/such/dir: no such file",
        ),
        (
            [*ingest_args(), "--seized-at", "yesterday", "."],
            "ISO 8601",
        ),
        (
            [*ingest_args(), "--declared-hash", "crc:00", "."],
            "crc",
        ),
        (
            [*ingest_args("Insp. Nobody"), "."],
            "no person called 'Insp. Nobody'",
        ),
        (
            [
                "case",
                "open",
                "--id",
                "DANUBE",
                "--title",
                "t",
                "--agreement",
                "a",
                "--team",
                "BG:B:N",
                "--lead",
                "BG",
                "--as",
                "Adm. Horvat",
            ],
            "exists",
        ),
    ],
)
def test_user_mistakes_get_one_clear_line_and_no_traceback(
    env: dict[str, str], args: list[str], message: str
) -> None:
    done = jitev(env, *args, check=False)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_tampered_ledger_fails_verification_naming_the_event(
    env: dict[str, str], tmp_path: Path
) -> None:
    import sqlite3

    jitev(
        env,
        "ingest",
        "--case",
        "DANUBE",
        "--team",
        "BG",
        "--as",
        "Insp. Petrova",
        str(evidence(tmp_path)),
    )
    db = sqlite3.connect(Path(env["JITEV_HOME"]) / "jitev.db")
    with db:
        db.execute("UPDATE custody_events SET actor = 'Someone else' WHERE seq = 2")
    db.close()
    done = jitev(env, "ledger", "verify", "--as", AUDITOR, check=False)
    assert done.returncode == 1
    assert "the chain breaks at event 2 (edited)" in done.stdout
    assert "event 2: does not match its hash" in done.stdout


@pytest.mark.parametrize(
    ("person", "why"),
    [
        # An investigator of ME: the right, but not in team BG.
        ("Insp. Vuković", "team ME may only ingest into its own team, not into BG"),
        # A prosecutor of BG: the right team, but not the role.
        ("Pr. Dimitrov", "the right 'ingest' belongs to the role investigator or lead"),
    ],
)
def test_ingest_without_the_right_for_the_team_is_refused_and_stores_nothing(
    env: dict[str, str], tmp_path: Path, person: str, why: str
) -> None:
    done = ingest(env, str(evidence(tmp_path)), by=person, check=False)
    assert done.returncode == 5, done.stdout + done.stderr
    assert f"{person} " in done.stderr and "may not ingest" in done.stderr
    assert why in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert jitev_json(env, "exhibits", "list", "--case", "DANUBE", "--as", AUDITOR) == []
    check = jitev_json(env, "ledger", "verify", "--as", AUDITOR)[0]
    assert check["ok"] is True and check["events"] == SETUP_EVENTS  # nothing after setup
    objects = Path(env["JITEV_HOME"]) / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_exhibits_are_listed_only_for_the_team_that_holds_them(
    env: dict[str, str], tmp_path: Path
) -> None:
    ingest(env, str(evidence(tmp_path)))  # BG-EX-0001 and BG-EX-0002, held by BG
    bg = ["BG-EX-0001", "BG-EX-0002"]

    def listed(person: str) -> list[str]:
        found = jitev_json(env, "exhibits", "list", "--case", "DANUBE", "--as", person)
        return [e["reference"] for e in found]

    assert listed(INVESTIGATOR) == bg
    assert listed("Lt. Moreau") == []  # FR, even though FR leads the JIT
    assert listed(AUDITOR) == bg  # an auditor sees every exhibit's metadata
    out = jitev(env, "exhibits", "list", "--case", "DANUBE", "--as", "Lt. Moreau").stdout
    assert "BG-EX-" not in out
    shown = jitev(env, "exhibits", "show", "BG-EX-0001", "--as", "Lt. Moreau", check=False)
    assert shown.returncode == 5
    assert "team FR does not hold exhibit BG-EX-0001" in shown.stderr
    assert "BG-EX-0001" not in shown.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["exhibits", "list", "--case", "DANUBE"],
        ["ledger", "verify"],
        ["ingest", "--case", "DANUBE", "--team", "BG", "."],
    ],
)
def test_a_command_without_as_says_to_use_as(env: dict[str, str], args: list[str]) -> None:
    assert "JITEV_USER_NAME" not in env
    done = jitev(env, *args, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--as" in done.stderr and "JITEV_USER_NAME" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    # The same person from the environment instead of --as:
    as_user = {**env, "JITEV_USER_NAME": INVESTIGATOR}
    assert jitev_json(as_user, "exhibits", "list", "--case", "DANUBE") == []
