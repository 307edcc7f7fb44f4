"""One model's registry folder: paths, checked reads, event files, the lock, repair advice.

Used by :mod:`tasks.registry`, which holds the operations (register, promote, rollback...).
Every read goes through :mod:`tasks.storage.state`; an unusable file raises
:class:`tasks.storage.state.CorruptStateError` whose advice is the registry command that repairs it.
"""

from __future__ import annotations

import datetime as dt
import json
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeAlias

from tasks import storage
from tasks.registry.records import (
    CHAMPION_FILE,
    EVENT_FIELDS,
    HISTORY_DIR,
    VERSION_FILE,
    Champion,
    ModelVersion,
    check_champion,
    check_summary,
    damaged_event,
    event_name,
    repair_command,
    valid_name,
)
from tasks.storage import state
from tasks.storage.state import CorruptStateError

LOCK_FILE = ".champion.lock"
SUMMARY = "registry version summary"
POINTER = "champion pointer"
Settings: TypeAlias = storage.StorageSettings | None


class RegistryError(Exception):
    """A registry operation that cannot be done as asked."""


def checked(name: str, what: str) -> str:
    """``name`` if it is a valid model name or version id, else ``ValueError``."""
    if not valid_name(name):
        raise ValueError(f"invalid {what} {name!r}: use letters, digits, '.', '_' and '-'")
    return name


def registry_path(output_path: str, model_name: str) -> str:
    """``{output_path}/registry/{model_name}``."""
    return storage.join(output_path, "registry", checked(model_name, "model name"))


def now() -> dt.datetime:
    """The current UTC time."""
    return dt.datetime.now(dt.UTC)


def to_json(obj: Any) -> bytes:
    """The same JSON formatting as ``storage.write_json_atomic`` and the run's metrics."""
    return (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()


@dataclass(frozen=True)
class Store:
    """One model's registry folder and how to reach it."""

    output_path: str
    model_name: str
    settings: Settings

    @property
    def root(self) -> str:
        """``{output_path}/registry/{model_name}``."""
        return registry_path(self.output_path, self.model_name)

    def path(self, *parts: str) -> str:
        """A path under the model's folder."""
        return storage.join(self.root, *parts)

    def command(self, *args: str) -> str:
        """The registry command line for ``args`` on this registry."""
        return repair_command(self.output_path, self.model_name, self.settings, *args)

    # --- checked reads ---------------------------------------------------------------------

    def read_summary(self, version: str) -> dict[str, Any] | None:
        """A checked ``version.json``, or ``None`` when the folder has none (incomplete)."""
        path, fix = self.path(version, VERSION_FILE), self.version_fix(version)
        data = state.read_bytes(path, what=SUMMARY, fix=fix, settings=self.settings)
        if data is None:
            return None
        value = state.parse_json(data, path, what=SUMMARY, fix=fix)
        return check_summary(value, path, version, fix)

    def read_champion(self) -> Champion | None:
        """The checked ``champion.json``, or ``None`` before the first promotion."""
        path = self.path(CHAMPION_FILE)
        try:
            data = state.read_bytes(path, what=POINTER, fix="", settings=self.settings)
            if data is None:
                return None
            return check_champion(state.parse_json(data, path, what=POINTER, fix=""), path, "")
        except CorruptStateError as exc:  # the advice needs the history: only on failure
            raise exc.with_fix(self.champion_fix()) from exc

    def read_champion_or_damage(self) -> tuple[Champion | None, str | None]:
        """The champion and ``None``, or ``None`` and what is wrong with ``champion.json``."""
        try:
            return self.read_champion(), None
        except CorruptStateError as exc:
            return None, exc.problem

    def verified(self, version: ModelVersion, name: str) -> bytes:
        """An artifact's bytes after checking their size and SHA-256 against ``version.json``."""
        path = self.path(version.version, name)
        what = f"registry artifact {name} of version {version.version}"
        fix = self.version_fix(version.version)
        recorded = version.files.get(name)
        if recorded is None:
            summary = self.path(version.version, VERSION_FILE)
            raise CorruptStateError(summary, f"'files' has no entry for {name}", fix, SUMMARY)
        data = state.read_bytes(path, what=what, fix=fix, settings=self.settings)
        if data is None:
            problem = f"it is missing, though {VERSION_FILE} lists it"
            raise CorruptStateError(path, problem, fix, what)
        return state.check_digest(data, path, recorded, source=VERSION_FILE, what=what, fix=fix)

    def events(self) -> list[dict[str, Any]]:
        """Every history event, oldest first; an unreadable file as a ``damaged`` entry."""
        found = []
        for name in storage.list_names(self.path(HISTORY_DIR), settings=self.settings):
            if not name.endswith(".json"):
                continue
            path = self.path(HISTORY_DIR, name)
            fix = (
                f"history files are never rewritten: rename {name} so that its name no longer "
                "ends in .json (add .damaged) to hide it; until then it is listed as damaged"
            )
            try:
                event = state.read_json(
                    path, what="registry history event", fix=fix, required=EVENT_FIELDS,
                    settings=self.settings,
                )  # fmt: skip
            except CorruptStateError as exc:
                event = damaged_event(name, path, exc)
            if event is not None:
                found.append(event)
        return found

    # --- repair advice ---------------------------------------------------------------------

    def version_fix(self, version: str) -> str:
        """What to do about a damaged version."""
        forget = self.command("forget", version, "--reason", "damaged")
        back = self.command("rollback", "<VERSION>", "--reason", f"{version} is damaged")
        return (
            f"`{forget}` takes it out of the registry (its files stay); if it is the champion, "
            f"first `{back}` to an undamaged version; or restore the file from a backup"
        )

    def champion_fix(self) -> str:
        """What to do about a damaged ``champion.json``: the exact rollback command."""
        last = self._last_champion()
        back = self.command("rollback", last or "<VERSION>", "--reason", "repair champion.json")
        named = (
            f"{last}: the version the history says it named last"
            if last
            else f"<VERSION>: an undamaged version from `{self.command('list')}`"
        )
        return (
            f"`{back}` ({named}); until then each pipeline run judges its model against the "
            "baselines only and replaces the pointer if the model passes the gate"
        )

    def _last_champion(self) -> str | None:
        """The version of the newest promoted/rolled_back event, if it is still usable."""
        moved = ("promoted", "rolled_back")
        try:
            moves = [e for e in self.events() if e.get("was", e["event"]) in moved]
            if moves and self.read_summary(str(moves[-1]["version"])) is not None:
                return str(moves[-1]["version"])
        except (CorruptStateError, ValueError, storage.StorageError):
            pass  # only a hint inside an error message
        return None

    # --- writes ----------------------------------------------------------------------------

    def write_json(self, obj: dict[str, Any], *parts: str) -> None:
        """Replace a JSON file atomically."""
        storage.write_json_atomic(self.path(*parts), obj, settings=self.settings)

    def create(self, data: bytes, *parts: str) -> bool:
        """Write a new file; False (and nothing written) when it exists already."""
        return storage.write_bytes_exclusive(self.path(*parts), data, settings=self.settings)

    def record(self, event: str, version: str, **fields: Any) -> dict[str, Any]:
        """Write one history event as its own new file (object stores cannot append)."""
        for _ in range(10):
            at = now()
            entry = {"event": event, "version": version, "time": at.isoformat(), **fields}
            if self.create(to_json(entry), HISTORY_DIR, event_name(at, event, version)):
                return entry
        raise RegistryError(f"could not record the {event} event of {version} in {self.root}")

    def lock(self, timeout: float) -> AbstractContextManager[None]:
        """The registry lock (serialises champion changes)."""
        return storage.lock(self.path(LOCK_FILE), timeout, settings=self.settings)
