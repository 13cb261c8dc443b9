"""Reading a JIT file (see ``config/jit.example.toml``): the case, its teams
and its people. Every problem names the file and the entry."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence.errors import InputError, JitevError
from evidence.models import Case, Person, Team, parse_role


@dataclass(frozen=True, slots=True)
class JitFile:
    case: Case
    people: list[Person]


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: '{key}' is missing or not text")
    return value


def load(path: Path) -> JitFile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the JIT file {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"the JIT file {path} is not valid TOML: {exc}") from exc
    try:
        c = data.get("case")
        if not isinstance(c, dict):
            raise InputError("a [case] table with id, title, agreement and lead_team is needed")
        teams = tuple(
            Team(
                _text(t, "code", f"[[teams]] #{i}"),
                _text(t, "member_state", f"[[teams]] #{i}"),
                _text(t, "name", f"[[teams]] #{i}"),
            )
            for i, t in enumerate(data.get("teams") or [], start=1)
        )
        case = Case(
            _text(c, "id", "[case]"),
            _text(c, "title", "[case]"),
            _text(c, "agreement", "[case]"),
            teams,
            _text(c, "lead_team", "[case]"),
        )
        people = []
        for i, p in enumerate(data.get("people") or [], start=1):
            where = f"[[people]] #{i}"
            roles = p.get("roles")
            if not isinstance(roles, list) or not roles:
                raise InputError(f"{where}: 'roles' must be a list, e.g. [\"investigator\"]")
            person = Person(
                _text(p, "name", where),
                _text(p, "team", where),
                frozenset(parse_role(str(r)) for r in roles),
            )
            case.team(person.team)
            people.append(person)
    except JitevError as exc:
        raise InputError(f"JIT file {path}: {exc}") from exc
    return JitFile(case, people)
