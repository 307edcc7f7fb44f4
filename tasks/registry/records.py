"""The model registry's files as typed records, checked when they are read.

``version.json``, ``champion.json`` and the ``history/`` events are parsed here into
:class:`ModelVersion`, :class:`Champion` and event dicts; anything that does not match its
contract raises :class:`tasks.storage.state.CorruptStateError` naming the file, what is wrong and
the registry command that repairs it (:func:`repair_command`). :mod:`tasks.registry`
re-exports the public names.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
from dataclasses import dataclass
from typing import Any

from tasks import storage
from tasks.storage import state
from tasks.storage.state import NULL, CorruptStateError

VERSION_FILE = "version.json"
CHAMPION_FILE = "champion.json"
HISTORY_DIR = "history"
ARTIFACTS = ("model.txt", "metrics.json", "config.yaml", "manifest.json")
EVENTS = ("registered", "promoted", "rejected", "rolled_back", "forgotten")
RESERVED = frozenset({HISTORY_DIR, CHAMPION_FILE, VERSION_FILE})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_STAMP = "%Y%m%dT%H%M%S%fZ"

VERSION_FIELDS: state.Schema = {"version": str, "created_at": str, "files": dict}
VERSION_OPTIONAL: state.Schema = {
    "run_id": str,
    "data_digest": (str, NULL),
    "git_commit": (str, NULL),
    "code_digest": (str, NULL),
    "config_digest": (str, NULL),
    "config_schema_version": (int, NULL),
    "metrics": (dict, NULL),
}
HEADLINE_OPTIONAL: state.Schema = {
    "model_wape": (float, NULL),
    "seasonal_naive_wape": (float, NULL),
    "gate_passed": (bool, NULL),
}
FILE_FIELDS: state.Schema = {"bytes": int, "sha256": str}
CHAMPION_FIELDS: state.Schema = {"version": str, "promoted_at": str}
CHAMPION_OPTIONAL: state.Schema = {
    "actor": str,
    "reason": str,
    "previous": (str, NULL),
    "action": str,
}
EVENT_FIELDS: state.Schema = {"event": str, "version": str, "time": str}


def valid_name(name: str) -> bool:
    """A model name or version id that is safe as one path component."""
    return bool(_NAME.match(name)) and name not in RESERVED


@dataclass(frozen=True)
class ModelVersion:
    """One registered model version, as summarised in its ``version.json``."""

    version: str
    created_at: str
    run_id: str
    data_digest: str | None
    git_commit: str | None
    model_wape: float | None
    seasonal_naive_wape: float | None
    gate_passed: bool | None
    files: dict[str, dict[str, Any]]
    uri: str
    code_digest: str | None = None
    config_digest: str | None = None
    config_schema_version: int | None = None  # None: registered before the schema had one

    @classmethod
    def from_summary(cls, summary: dict[str, Any], uri: str) -> ModelVersion:
        """Build from a checked ``version.json`` (:func:`check_summary`) and the folder's URI."""
        headline = summary.get("metrics") or {}
        return cls(
            version=str(summary["version"]),
            created_at=str(summary["created_at"]),
            run_id=str(summary.get("run_id", summary["version"])),
            data_digest=summary.get("data_digest"),
            git_commit=summary.get("git_commit"),
            model_wape=headline.get("model_wape"),
            seasonal_naive_wape=headline.get("seasonal_naive_wape"),
            gate_passed=headline.get("gate_passed"),
            files=dict(summary.get("files") or {}),
            uri=uri,
            code_digest=summary.get("code_digest"),
            config_digest=summary.get("config_digest"),
            config_schema_version=summary.get("config_schema_version"),
        )

    def same_build(self, code: str | None, config: str | None, data: str | None) -> bool:
        """True when code, config and data digests are all known and all equal to these."""
        mine = (self.code_digest, self.config_digest, self.data_digest)
        return None not in mine and mine == (code, config, data)


@dataclass(frozen=True)
class DamagedVersion:
    """A version folder whose ``version.json`` (or, when verified, an artifact) is unusable."""

    version: str
    uri: str
    path: str  # the damaged file
    problem: str
    fix: str


@dataclass(frozen=True)
class Champion:
    """The content of ``champion.json``: which version serves, since when, who and why."""

    version: str
    promoted_at: str
    actor: str
    reason: str
    previous: str | None
    action: str = "promoted"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Champion:
        """Build from a checked ``champion.json`` (:func:`check_champion`)."""
        return cls(
            version=str(data["version"]),
            promoted_at=str(data["promoted_at"]),
            actor=str(data.get("actor", "")),
            reason=str(data.get("reason", "")),
            previous=data.get("previous"),
            action=str(data.get("action", "promoted")),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to ``champion.json``."""
        return {
            "version": self.version,
            "promoted_at": self.promoted_at,
            "actor": self.actor,
            "reason": self.reason,
            "previous": self.previous,
            "action": self.action,
        }


def check_summary(value: Any, path: str, folder: str, fix: str) -> dict[str, Any]:
    """A ``version.json`` that matches its contract and its folder, else the error."""
    what = "registry version summary"
    summary = state.check_object(
        value, path, what=what, fix=fix, required=VERSION_FIELDS, optional=VERSION_OPTIONAL
    )
    problems = []
    if summary["version"] != folder:
        problems.append(f"it names version {summary['version']!r} but lives in {folder!r}")
    problems += state.field_problems(summary.get("metrics") or {}, {}, HEADLINE_OPTIONAL)
    files = summary["files"]
    problems += [f"'files' has no entry for {name}" for name in ARTIFACTS if name not in files]
    for name, entry in files.items():
        if not isinstance(entry, dict):
            problems.append(f"'files' entry {name!r} is {state.json_type(entry)}")
            continue
        problems += [f"{name}: {p}" for p in state.field_problems(entry, FILE_FIELDS)]
        if isinstance(entry.get("sha256"), str) and not _SHA256.match(entry["sha256"]):
            problems.append(f"{name}: 'sha256' is not 64 lowercase hex digits")
    if problems:
        raise CorruptStateError(path, "; ".join(problems), fix, what)
    return summary


def check_champion(value: Any, path: str, fix: str) -> Champion:
    """The :class:`Champion` in a ``champion.json`` value, else the error."""
    what = "champion pointer"
    data = state.check_object(
        value, path, what=what, fix=fix, required=CHAMPION_FIELDS, optional=CHAMPION_OPTIONAL
    )
    if not valid_name(data["version"]):
        raise CorruptStateError(path, f"it names an invalid version {data['version']!r}", fix, what)
    return Champion.from_dict(data)


def damaged_event(name: str, path: str, error: CorruptStateError) -> dict[str, Any]:
    """A history entry standing for an unreadable event file (``event`` is ``damaged``)."""
    stamp, _, rest = name.removesuffix(".json").partition("-")
    event = next((e for e in EVENTS if rest.startswith(f"{e}-")), "")
    try:
        time = dt.datetime.strptime(stamp, _STAMP).replace(tzinfo=dt.UTC).isoformat()
    except ValueError:
        time = ""
    return {
        "event": "damaged",
        "version": rest.removeprefix(f"{event}-") if event else "",
        "time": time,
        "actor": "",
        "reason": f"unreadable {event or 'event'} file: {error.problem}",
        "was": event or None,
        "file": path,
        "fix": error.fix,
    }


def event_name(now: dt.datetime, event: str, version: str) -> str:
    """``{time}-{event}-{version}.json``: names sort by time."""
    return f"{now.strftime(_STAMP)}-{event}-{version}.json"


def repair_command(
    output_path: str, model_name: str, settings: storage.StorageSettings | None, *args: str
) -> str:
    """The registry command line that does ``args`` on this registry, ready to paste."""
    words = ["python", "-m", "tasks.registry", "--output-path", output_path]
    words += ["--model-name", model_name]
    if settings is not None and settings.endpoint_url:
        words += ["--endpoint-url", settings.endpoint_url]
    if settings is not None and settings.credentials_block:
        words += ["--aws-credentials-block", settings.credentials_block]
    placeholders = {"<VERSION>"}
    return " ".join(w if w in placeholders else shlex.quote(w) for w in [*words, *args])
