"""Model registry: every trained run's model as a version, a champion pointer and a history.

Layout under ``{output_path}/registry/{model_name}/``::

    {version}/model.txt, metrics.json, config.yaml, manifest.json
    {version}/version.json     summary, written last: a folder without it is incomplete
    champion.json              {version, promoted_at, actor, reason, previous, action}
    history/{stamp}-{event}-{version}.json   one file per event, never appended to
    .champion.lock             serialises champion changes (flock locally, a leased object on S3)

The version id is the run id (``20261124T105517Z-bb7d83a0``), so versions sort by time.
``champion.json`` only changes under the registry lock after re-reading it
(compare-and-swap), and is replaced atomically. All I/O goes through :mod:`tasks.storage`,
so the registry works on local paths and ``s3://`` URLs alike.

Run ``python -m tasks.registry --help`` for the command line (:mod:`tasks.registry.cli`).
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import os
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypeAlias

from tasks import storage

VERSION_FILE = "version.json"
CHAMPION_FILE = "champion.json"
HISTORY_DIR = "history"
LOCK_FILE = ".champion.lock"
EVENTS = ("registered", "promoted", "rejected", "rolled_back")
LOCK_TIMEOUT_SECONDS = 60.0
RESERVED = frozenset({HISTORY_DIR, CHAMPION_FILE, VERSION_FILE})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
Settings: TypeAlias = storage.StorageSettings | None


class RegistryError(Exception):
    """A registry operation that cannot be done as asked."""


class UnknownVersionError(RegistryError, LookupError):
    """No complete version with this id is registered."""


class VersionConflictError(RegistryError):
    """A version is registered again with different content."""


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

    @classmethod
    def from_summary(cls, summary: dict[str, Any], uri: str) -> ModelVersion:
        """Build from the content of ``version.json`` and the version folder's URI."""
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
        )


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
        """Build from the JSON form."""
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


@dataclass(frozen=True)
class PromotionResult:
    """Outcome of :func:`promote`.

    ``promoted`` is True only when this call moved the champion. Otherwise ``current`` is
    the champion found (``None``: no champion); when it is not ``version``, the caller's
    ``expected`` was stale and the caller should re-evaluate against ``current``.
    """

    promoted: bool
    version: str
    expected: str | None
    current: str | None
    champion: Champion | None

    @property
    def is_champion(self) -> bool:
        """True when ``version`` serves after the call (promoted now or already)."""
        return self.current == self.version


def registry_path(output_path: str, model_name: str) -> str:
    """``{output_path}/registry/{model_name}``."""
    return storage.join(output_path, "registry", _checked(model_name, "model name"))


def version_path(output_path: str, model_name: str, version: str) -> str:
    """``{output_path}/registry/{model_name}/{version}``."""
    return storage.join(registry_path(output_path, model_name), _checked(version, "version"))


def default_actor() -> str:
    """Who is acting: ``$USER``, else the login name, else ``unknown``."""
    if os.environ.get("USER"):
        return os.environ["USER"]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # containers without a passwd entry
        return "unknown"


def register(
    output_path: str,
    model_name: str,
    version: str,
    *,
    model_text: str,
    metrics: dict[str, Any],
    config_yaml: str,
    manifest: dict[str, Any],
    data_digest: str | None,
    git_commit: str | None,
    actor: str | None = None,
    settings: Settings = None,
) -> ModelVersion:
    """Register a trained model as ``version``; ``version.json`` is written last.

    Registering a complete version again with the same content (artifacts, data digest,
    git commit) returns it unchanged; with different content it raises.

    Parameters
    ----------
    model_text
        The LightGBM model in its native text format (``Booster.model_to_string()``).
    metrics
        The run's ``metrics.json`` content (backtest blocks and ``gate``).
    config_yaml
        The resolved config, as composed.
    manifest
        The run's manifest as written.
    data_digest, git_commit
        Identity of the input data and of the code.
    actor
        Recorded in the ``registered`` event; defaults to :func:`default_actor`.
    settings
        How to reach object storage (``storage.StorageSettings``; URLs only). Every
        function here takes it.

    Raises
    ------
    VersionConflictError
        ``version`` is already registered with different content.
    """
    at = _Store(output_path, model_name, settings)
    files = _artifact_bytes(model_text, metrics, config_yaml, manifest)
    summary = _summary(version, manifest, metrics, data_digest, git_commit, files)
    folder = version_path(output_path, model_name, version)
    existing = at.read_json(version, VERSION_FILE)
    if existing is not None:
        return _same_or_conflict(existing, summary, folder)
    for name, data in files.items():
        storage.write_bytes_atomic(storage.join(folder, name), data, settings=settings)
    if not at.create(_json(summary), version, VERSION_FILE):
        # A concurrent register of the same version finished first.
        return _same_or_conflict(at.read_json(version, VERSION_FILE) or {}, summary, folder)
    _record(
        at,
        "registered",
        version,
        actor=actor or default_actor(),
        reason=f"trained by run {summary['run_id']}",
        data_digest=data_digest,
        git_commit=git_commit,
        gate_passed=summary["metrics"]["gate_passed"],
    )
    return ModelVersion.from_summary(summary, storage.uri(folder))


def list_versions(
    output_path: str, model_name: str, *, settings: Settings = None
) -> list[ModelVersion]:
    """Every complete version, sorted by version id (oldest first)."""
    at = _Store(output_path, model_name, settings)
    found = []
    for name in storage.list_names(at.root, settings=settings):
        summary = at.read_json(name, VERSION_FILE) if _valid(name) else None
        if summary is not None:
            found.append(ModelVersion.from_summary(summary, storage.uri(at.path(name))))
    return sorted(found, key=lambda v: v.version)


def get_version(
    output_path: str, model_name: str, version: str, *, settings: Settings = None
) -> ModelVersion:
    """One complete version.

    Raises
    ------
    UnknownVersionError
        No such version, or its folder has no ``version.json`` (incomplete).
    """
    at = _Store(output_path, model_name, settings)
    summary = at.read_json(version, VERSION_FILE) if _valid(version) else None
    if summary is not None:
        return ModelVersion.from_summary(summary, storage.uri(at.path(version)))
    known = [v.version for v in list_versions(output_path, model_name, settings=settings)]
    raise UnknownVersionError(
        f"unknown version {version!r} of model {model_name!r} under {at.root} "
        f"(registered: {', '.join(known) or 'none'})"
    )


def read_model_text(
    output_path: str, model_name: str, version: str, *, settings: Settings = None
) -> str:
    """The LightGBM text of a complete version (``lgb.Booster(model_str=...)`` loads it)."""
    get_version(output_path, model_name, version, settings=settings)
    folder = version_path(output_path, model_name, version)
    return storage.read_text(storage.join(folder, "model.txt"), settings=settings)


def champion(output_path: str, model_name: str, *, settings: Settings = None) -> Champion | None:
    """The serving version from ``champion.json``, or ``None`` before the first promotion."""
    data = _Store(output_path, model_name, settings).read_json(CHAMPION_FILE)
    return None if data is None else Champion.from_dict(data)


def promote(
    output_path: str,
    model_name: str,
    version: str,
    *,
    actor: str,
    reason: str,
    expected: str | None,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    settings: Settings = None,
) -> PromotionResult:
    """Make ``version`` the champion if the champion is still ``expected`` (compare-and-swap).

    Under the registry lock, ``champion.json`` is re-read. If it names ``expected`` (the
    version the caller's gate compared against; ``None`` for no champion), it is replaced
    atomically and a ``promoted`` event recorded. If it names ``version`` already, nothing
    changes. Otherwise nothing is written but a ``rejected`` event, and the result's
    ``current`` says which version the caller should re-evaluate against.

    Raises
    ------
    UnknownVersionError
        ``version`` is not a complete registered version.
    RegistryError
        ``version`` failed its promotion gate (use :func:`rollback` to serve it on purpose).
    storage.LockTimeoutError
        The registry lock was not acquired within ``lock_timeout`` seconds.
    """
    at = _Store(output_path, model_name, settings)
    if get_version(output_path, model_name, version, settings=settings).gate_passed is False:
        raise RegistryError(f"version {version} failed its promotion gate; not promoted")
    with at.lock(lock_timeout):
        current = champion(output_path, model_name, settings=settings)
        found = current.version if current else None
        if found == version:
            return PromotionResult(False, version, expected, found, current)
        if found != expected:
            stale = f"champion is {found or 'none'}, not the expected {expected or 'none'}"
            fields = {"expected": expected, "current": found}
            _record(at, "rejected", version, actor=actor, reason=f"{stale} ({reason})", **fields)
            return PromotionResult(False, version, expected, found, current)
        new = Champion(version, _now().isoformat(), actor, reason, previous=found)
        at.write_json(new.to_dict(), CHAMPION_FILE)
        _record(at, "promoted", version, actor=actor, reason=reason, previous=found)
    return PromotionResult(True, version, expected, version, new)


def reject(
    output_path: str,
    model_name: str,
    version: str,
    *,
    actor: str,
    reason: str,
    settings: Settings = None,
) -> dict[str, Any]:
    """Record that ``version`` was not promoted (e.g. its gate failed); returns the event."""
    get_version(output_path, model_name, version, settings=settings)
    at = _Store(output_path, model_name, settings)
    return _record(at, "rejected", version, actor=actor, reason=reason)


def rollback(
    output_path: str,
    model_name: str,
    version: str,
    *,
    actor: str,
    reason: str,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    settings: Settings = None,
) -> Champion:
    """Serve an earlier ``version`` on purpose; recorded with who and why.

    ``champion.json`` keeps the replaced version in ``previous``. The gate is not checked:
    a rollback is a human decision.

    Raises
    ------
    UnknownVersionError
        ``version`` is not a complete registered version.
    RegistryError
        ``version`` already serves, or ``actor``/``reason`` is empty.
    """
    if not reason.strip() or not actor.strip():
        raise RegistryError("a rollback needs an actor and a reason")
    get_version(output_path, model_name, version, settings=settings)
    at = _Store(output_path, model_name, settings)
    with at.lock(lock_timeout):
        current = champion(output_path, model_name, settings=settings)
        found = current.version if current else None
        if found == version:
            raise RegistryError(f"version {version} is already the champion of {model_name}")
        new = Champion(version, _now().isoformat(), actor, reason, found, "rolled_back")
        at.write_json(new.to_dict(), CHAMPION_FILE)
        _record(at, "rolled_back", version, actor=actor, reason=reason, previous=found)
    return new


def history(
    output_path: str, model_name: str, *, settings: Settings = None
) -> list[dict[str, Any]]:
    """Every recorded event, oldest first: ``time``, ``event``, ``version``, ``actor``, ..."""
    at = _Store(output_path, model_name, settings)
    names = storage.list_names(at.path(HISTORY_DIR), settings=settings)
    events = (at.read_json(HISTORY_DIR, n) for n in names if n.endswith(".json"))
    return [e for e in events if e is not None]


# --- helpers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Store:
    """One model's registry folder and how to reach it."""

    output_path: str
    model_name: str
    settings: Settings

    @property
    def root(self) -> str:
        return registry_path(self.output_path, self.model_name)

    def path(self, *parts: str) -> str:
        return storage.join(self.root, *parts)

    def read_json(self, *parts: str) -> dict[str, Any] | None:
        """A JSON object, or ``None`` when the file does not exist."""
        path = self.path(*parts)
        try:
            data = json.loads(storage.read_bytes(path, settings=self.settings))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not isinstance(data, dict):
            raise RegistryError(f"{path} does not hold a JSON object")
        return data

    def write_json(self, obj: dict[str, Any], *parts: str) -> None:
        storage.write_json_atomic(self.path(*parts), obj, settings=self.settings)

    def create(self, data: bytes, *parts: str) -> bool:
        """Write a new file; False (and nothing written) when it exists already."""
        return storage.write_bytes_exclusive(self.path(*parts), data, settings=self.settings)

    def lock(self, timeout: float) -> AbstractContextManager[None]:
        return storage.lock(self.path(LOCK_FILE), timeout, settings=self.settings)


def _valid(name: str) -> bool:
    return bool(_NAME.match(name)) and name not in RESERVED


def _checked(name: str, what: str) -> str:
    if not _valid(name):
        raise ValueError(f"invalid {what} {name!r}: use letters, digits, '.', '_' and '-'")
    return name


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _json(obj: Any) -> bytes:
    """The same JSON formatting as ``storage.write_json_atomic`` and the run's metrics."""
    return (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode()


def _artifact_bytes(
    model_text: str, metrics: dict[str, Any], config_yaml: str, manifest: dict[str, Any]
) -> dict[str, bytes]:
    return {
        "model.txt": model_text.encode(),
        "metrics.json": _json(metrics),
        "config.yaml": config_yaml.encode(),
        "manifest.json": _json(manifest),
    }


def _summary(
    version: str,
    manifest: dict[str, Any],
    metrics: dict[str, Any],
    data_digest: str | None,
    git_commit: str | None,
    files: dict[str, bytes],
) -> dict[str, Any]:
    backtest = metrics.get("backtest") or {}
    return {
        "version": version,
        "created_at": _now().isoformat(),
        "run_id": str(manifest.get("run_id", version)),
        "data_digest": data_digest,
        "git_commit": git_commit,
        "metrics": {
            "model_wape": (backtest.get("model") or {}).get("wape"),
            "seasonal_naive_wape": (backtest.get("seasonal_naive") or {}).get("wape"),
            "gate_passed": (metrics.get("gate") or {}).get("passed"),
        },
        "files": {
            name: {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in files.items()
        },
    }


def _same_or_conflict(existing: dict[str, Any], new: dict[str, Any], folder: str) -> ModelVersion:
    differs = [k for k in ("files", "data_digest", "git_commit") if existing.get(k) != new[k]]
    if differs:
        raise VersionConflictError(
            f"version {new['version']} is already registered at {folder} with a different "
            f"{', '.join(differs)}; register the new model under a new version"
        )
    return ModelVersion.from_summary(existing, storage.uri(folder))


def _record(at: _Store, event: str, version: str, **fields: Any) -> dict[str, Any]:
    """Write one history event as its own new file (object stores cannot append)."""
    for _ in range(10):
        now = _now()
        entry = {"event": event, "version": version, "time": now.isoformat(), **fields}
        name = f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{event}-{version}.json"
        if at.create(_json(entry), HISTORY_DIR, name):
            return entry
    raise RegistryError(f"could not record the {event} event of {version} in {at.root}")
