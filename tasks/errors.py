"""Errors the person running the pipeline can act on: what is wrong, where, and what to do.

A :class:`UserError` is a bad config value (:class:`ConfigError`), bad or missing data
(:class:`DataError`) or a storage failure (``tasks.storage.errors.StorageError``). The
command line shows it as one short block (:meth:`UserError.block`); anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLAIN = re.compile(r"^[\w.:/@+-]+$")  # typed as it is in an override, no quotes needed


class UserError(Exception):
    """A problem with the input, the config or the environment, not with the code.

    Parameters
    ----------
    message
        What is wrong, naming the value (may span lines).
    where
        Which file, key or URL.
    fix
        What to do about it.
    """

    kind = "error"
    where = ""
    fix = ""

    def __init__(self, message: str, *, where: str = "", fix: str = "") -> None:
        super().__init__(message)
        if where:
            self.where = where
        if fix:
            self.fix = fix

    def __str__(self) -> str:
        """The message, then ``where:`` (unless the message names it) and ``fix:`` lines."""
        return self._with_context(str(self.args[0]) if self.args else "")

    def _with_context(self, text: str) -> str:
        lines = [text]
        if self.where and self.where not in text:
            lines.append(f"  where: {self.where}")
        if self.fix and self.fix not in text:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        first = str(self).split("\n", 1)[0]
        return f"{type(self).__name__}({first!r})"

    def block(self, max_lines: int = 30) -> str:
        """The short report for a terminal: the kind, the message, where and what to do."""
        lines = self._with_context(str(self)).splitlines() or [type(self).__name__]
        if len(lines) > max_lines:
            lines = [*lines[: max_lines - 1], f"  ... ({len(lines) - max_lines + 1} more lines)"]
        return "\n".join([f"{self.kind}: {lines[0]}", *lines[1:]])


class ConfigError(UserError, ValueError):
    """One or more config values break their rules; each problem names key, value, rule, fix."""

    kind = "config error"

    def __init__(self, problems: list[Problem] | str) -> None:
        if isinstance(problems, str):
            super().__init__(problems)
            self.problems: list[Problem] = []
            return
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0].text()
        else:
            message = f"{len(self.problems)} config values are not valid:\n" + "\n".join(
                f"  - {p.text()}" for p in self.problems
            )
        super().__init__(message)

    def __reduce__(self) -> tuple[type[ConfigError], tuple[str]]:
        return (type(self), (str(self),))  # picklable: Prefect may persist the failure


class DataError(UserError, ValueError):
    """The input data cannot give a run: unreadable files, no clean rows, too little history."""

    kind = "data error"


@dataclass(frozen=True)
class Problem:
    """One bad config value: the key, the value as given, the rule it breaks and a fix."""

    key: str
    value: object
    rule: str
    fix: str

    def text(self) -> str:
        """``key=value: rule; fix``."""
        return f"{self.key}={shown(self.value)}: {self.rule}; {self.fix}"


def shown(value: object) -> str:
    """A value as one would type it in an override (``null``, ``[1,2]``, ``'text'``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return "[" + ",".join(shown(v) for v in value) + "]"
    if isinstance(value, str):
        return value if _PLAIN.match(value) else repr(value)
    return str(value)
