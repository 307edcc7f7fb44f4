"""What a check reports: one finding, tied to a cell and a line, with a suggested fix."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

BLOCKER, WARNING, NOTE = "blocker", "warning", "note"
SEVERITIES = (BLOCKER, WARNING, NOTE)
CHECKS = {  # check id: title, in report order
    "syntax": "Cell does not parse",
    "credential": "Credential or token in the notebook",
    "hard-coded-path": "Hard-coded path",
    "execution-order": "Execution counts out of order or missing",
    "hidden-state": "Hidden state: name used before the cell that defines it",
    "redefined": "Hidden state: name redefined in later cells",
    "unseeded-random": "Unseeded randomness",
    "pandas-trap": "pandas option or chained-assignment trap",
    "magic-number": "Magic number that belongs in config",
    "side-effect": "Display or print side effect",
    "scattered-imports": "Import outside the imports cell",
}


@dataclass(frozen=True)
class Finding:
    """One anti-pattern at one place in the notebook.

    ``cell`` is the cell's 1-based position among all cells (as Jupyter shows them, top to
    bottom), ``line`` the 1-based line within the cell; either may be ``None`` for a
    finding about the whole notebook. ``evidence`` is a short excerpt with any secret
    already masked.
    """

    check: str
    severity: str
    cell: int | None
    line: int | None
    message: str
    fix: str
    evidence: str = ""

    @property
    def title(self) -> str:
        """The check's title."""
        return CHECKS[self.check]


def words(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text``, as a set (for tables of names)."""
    return frozenset(text.split())


def mask(value: str) -> str:
    """A secret shown safely: its first two characters (at most), then its length."""
    shown = value[:2] if len(value) >= 12 else ""
    return f"{shown}…({len(value)} chars, masked)"


def redact(findings: list[Finding], secrets: set[str]) -> list[Finding]:
    """Findings with every occurrence of a secret in their text replaced by its mask."""
    if not secrets:
        return findings
    pattern = re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))

    def clean(text: str) -> str:
        return pattern.sub(lambda m: mask(m.group(0)), text)

    return [
        replace(f, message=clean(f.message), fix=clean(f.fix), evidence=clean(f.evidence))
        for f in findings
    ]


def excerpt(source: str, line: int | None, width: int = 100) -> str:
    """Line ``line`` (1-based) of ``source``, stripped and shortened to ``width`` characters."""
    lines = source.splitlines()
    if line is None or not 1 <= line <= len(lines):
        return ""
    text = lines[line - 1].strip()
    return text if len(text) <= width else text[: width - 1] + "…"
