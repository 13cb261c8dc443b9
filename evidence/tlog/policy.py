"""A case log's trust policy in the C2SP tlog-policy format: the log's key,
each member team's witness, and the quorum of cosignatures that makes a
checkpoint valid (by default: every member team's witness)::

    log jitev.local/DANUBE+1a2b3c4d+AQ...
    witness BG jitev.local/witness/BG+5e6f7a8b+BA...
    witness ME jitev.local/witness/ME+...
    witness FR jitev.local/witness/FR+...
    group teams all BG ME FR
    quorum teams

``Policy.text()`` writes it; ``Policy.parse`` reads any policy of the format
(groups of groups, ``all``/``any``/k, ``quorum none``, comments, URLs);
``satisfied`` says whether the witnesses that cosigned meet the quorum.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from evidence.tlog.notes import COSIGNATURE, NOTE_SIGNATURE, NoteError, VerifierKey

NONE = "none"
MAX_ENTRIES = 64


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    threshold: int  # at least this many members
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    logs: tuple[VerifierKey, ...]
    witnesses: dict[str, VerifierKey] = field(default_factory=dict)  # name -> cosigning key
    groups: dict[str, Group] = field(default_factory=dict)
    quorum: str = NONE

    @classmethod
    def every_team(
        cls, log: VerifierKey, witnesses: dict[str, VerifierKey], k: int | None = None
    ) -> Policy:
        """The default: a group of every team's witness, all (or ``k``) of them."""
        if not witnesses:
            return cls((log,))
        names = tuple(sorted(witnesses))
        group = Group("teams", k or len(names), names)
        return cls((log,), dict(witnesses), {"teams": group}, "teams")

    def text(self) -> str:
        lines = [f"log {k.vkey()}" for k in self.logs]
        lines += [f"witness {name} {key.vkey()}" for name, key in self.witnesses.items()]
        for g in self.groups.values():
            size = (
                "all"
                if g.threshold == len(g.members)
                else "any"
                if g.threshold == 1
                else str(g.threshold)
            )
            lines.append(f"group {g.name} {size} {' '.join(g.members)}")
        lines.append(f"quorum {self.quorum}")
        return "\n".join(lines) + "\n"

    def satisfied(self, cosigned: Collection[str]) -> bool:
        """Do the witnesses named in ``cosigned`` meet the quorum?"""

        def met(name: str) -> bool:
            if name == NONE:
                return True
            if name in self.witnesses:
                return name in cosigned
            g = self.groups[name]
            return sum(met(m) for m in g.members) >= g.threshold

        return met(self.quorum)

    def missing(self, cosigned: Collection[str]) -> list[str]:
        """The witnesses of the policy that did not cosign."""
        return [name for name in self.witnesses if name not in cosigned]

    @classmethod
    def parse(cls, text: str) -> Policy:
        logs: list[VerifierKey] = []
        witnesses: dict[str, VerifierKey] = {}
        groups: dict[str, Group] = {}
        quorum: str | None = None
        seen_keys: set[bytes] = set()
        for n, raw in enumerate(text.split("\n"), 1):
            line = raw.strip(" \t")
            if not line or line.startswith("#"):
                continue
            if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", line):
                raise NoteError(f"policy line {n}: a control character")
            words = re.split(r"[ \t]+", line)
            kind = words[0]
            if len(logs) + len(witnesses) + len(groups) > MAX_ENTRIES:
                raise NoteError(f"the policy has more than {MAX_ENTRIES} entries")
            if kind == "log" and len(words) in (2, 3):
                key = VerifierKey.parse(words[1])
                if key.kind != NOTE_SIGNATURE or key.public_key in seen_keys:
                    raise NoteError(f"policy line {n}: not a new note-signing key")
                seen_keys.add(key.public_key)
                logs.append(key)
            elif kind == "witness" and len(words) in (3, 4):
                name, key = words[1], VerifierKey.parse(words[2])
                if key.kind != COSIGNATURE or key.public_key in seen_keys:
                    raise NoteError(f"policy line {n}: not a new cosigning key")
                if name == NONE or name in witnesses or name in groups:
                    raise NoteError(f"policy line {n}: the name {name!r} is taken")
                seen_keys.add(key.public_key)
                witnesses[name] = key
            elif kind == "group" and len(words) >= 4:
                name, size, members = words[1], words[2], tuple(words[3:])
                if name == NONE or name in witnesses or name in groups:
                    raise NoteError(f"policy line {n}: the name {name!r} is taken")
                unknown = [m for m in members if m not in witnesses and m not in groups]
                if unknown or len(set(members)) != len(members):
                    raise NoteError(f"policy line {n}: members must be defined before, once each")
                k = {"all": len(members), "any": 1}.get(size)
                if k is None:
                    if not re.fullmatch(r"[1-9][0-9]*", size) or int(size) > len(members):
                        raise NoteError(
                            f"policy line {n}: {size!r} is not all, any or 1..{len(members)}"
                        )
                    k = int(size)
                groups[name] = Group(name, k, members)
            elif kind == "quorum" and len(words) == 2 and quorum is None:
                if words[1] != NONE and words[1] not in witnesses and words[1] not in groups:
                    raise NoteError(f"policy line {n}: the quorum names nothing defined before")
                quorum = words[1]
            else:
                raise NoteError(f"policy line {n} is not a log, witness, group or quorum line")
        if quorum is None:
            raise NoteError("the policy has no quorum line")
        return cls(tuple(logs), witnesses, groups, quorum)
