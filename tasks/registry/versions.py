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

Nothing read is trusted: ``version.json``, ``champion.json`` and the events are checked
against their contracts (:mod:`tasks.registry.records`), artifacts against the size and
SHA-256 in ``version.json``. A damaged file raises :class:`CorruptStateError` naming it and
the command that repairs it; listings show damaged versions and events beside the others.

Run ``python -m tasks.registry --help`` for the command line (:mod:`tasks.registry.cli`).
"""

from __future__ import annotations

import dataclasses
import getpass
import hashlib
import os
import re
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from tasks import storage
from tasks.registry.records import (
    ARTIFACTS,
    CHAMPION_FILE,
    EVENTS,
    HISTORY_DIR,
    RESERVED,
    VERSION_FILE,
    Champion,
    DamagedVersion,
    ModelVersion,
    valid_name,
)
from tasks.registry.store import (
    LOCK_FILE,
    RegistryError,
    Store,
    checked,
    now,
    registry_path,
    to_json,
)
from tasks.storage.state import CorruptStateError

LOCK_TIMEOUT_SECONDS = 60.0
Settings: TypeAlias = storage.StorageSettings | None
__all__ = [
    "ARTIFACTS",
    "CHAMPION_FILE",
    "EVENTS",
    "HISTORY_DIR",
    "LOCK_FILE",
    "RESERVED",
    "VERSION_FILE",
    "Champion",
    "CorruptStateError",
    "DamagedVersion",
    "ModelVersion",
    "RegistryError",
    "registry_path",
]


class UnknownVersionError(RegistryError, LookupError):
    """No complete version with this id is registered."""


class VersionConflictError(RegistryError):
    """A version is registered again with different content."""


@dataclass(frozen=True)
class Inventory:
    """What a registry folder holds: usable versions and damaged ones, each sorted by id."""

    versions: list[ModelVersion] = field(default_factory=list)
    damaged: list[DamagedVersion] = field(default_factory=list)


@dataclass(frozen=True)
class PromotionResult:
    """Outcome of :func:`promote`.

    ``promoted`` is True only when this call moved the champion. Otherwise ``current`` is
    the champion found (``None``: no champion); when it is not ``version``, the caller's
    ``expected`` was stale and the caller should re-evaluate against ``current``.
    ``replaced`` says what was wrong with a damaged ``champion.json`` this call replaced.
    """

    promoted: bool
    version: str
    expected: str | None
    current: str | None
    champion: Champion | None
    replaced: str | None = None

    @property
    def is_champion(self) -> bool:
        """True when ``version`` serves after the call (promoted now or already)."""
        return self.current == self.version


def version_path(output_path: str, model_name: str, version: str) -> str:
    """``{output_path}/registry/{model_name}/{version}``."""
    return storage.join(registry_path(output_path, model_name), checked(version, "version"))


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
    digests: Digests | None = None,
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
    digests
        Code and config digests and the config's schema version, recorded in
        ``version.json`` (:func:`find_same_build` looks versions up by them).
    actor
        Recorded in the ``registered`` event; defaults to :func:`default_actor`.
    settings
        How to reach object storage (``storage.StorageSettings``; URLs only). Every
        function here takes it.

    Raises
    ------
    VersionConflictError
        ``version`` is already registered with different content.
    CorruptStateError
        ``version`` is already there with a damaged ``version.json``.
    """
    at = Store(output_path, model_name, settings)
    files = _artifact_bytes(model_text, metrics, config_yaml, manifest)
    summary = _summary(version, manifest, metrics, data_digest, git_commit, files)
    summary.update(dataclasses.asdict(digests) if digests is not None else {})
    folder = version_path(output_path, model_name, version)
    existing = at.read_summary(version)
    if existing is not None:
        return _same_or_conflict(existing, summary, folder)
    for name, data in files.items():
        storage.write_bytes_atomic(storage.join(folder, name), data, settings=settings)
    if not at.create(to_json(summary), version, VERSION_FILE):
        # A concurrent register of the same version finished first.
        return _same_or_conflict(at.read_summary(version) or {}, summary, folder)
    at.record(
        "registered",
        version,
        actor=actor or default_actor(),
        reason=f"trained by run {summary['run_id']}",
        data_digest=data_digest,
        git_commit=git_commit,
        gate_passed=summary["metrics"]["gate_passed"],
    )
    return ModelVersion.from_summary(summary, storage.uri(folder))


@dataclass(frozen=True)
class Digests:
    """What a version was built from, besides its data: code, config and config schema."""

    code_digest: str | None
    config_digest: str | None
    config_schema_version: int | None


RUN_ID = re.compile(r"\d{8}T\d{6}Z-[0-9A-Za-z]+")  # tasks.publish.make_run_id


def find_same_build(
    output_path: str,
    model_name: str,
    digests: Digests,
    data_digest: str | None,
    *,
    settings: Settings = None,
) -> ModelVersion | None:
    """The newest usable version built from the same code, config and data, or None.

    Same code + same config + same data give the same model bit for bit, so a run that
    finds one reuses it instead of registering a duplicate. A version missing any of the
    three digests (registered before they were recorded) never matches, nor does one whose
    files no longer match their SHA-256 (a new version is registered instead).
    """
    code, config = digests.code_digest, digests.config_digest
    found = list_versions(output_path, model_name, settings=settings)
    at = Store(output_path, model_name, settings)
    for version in reversed([v for v in found if v.same_build(code, config, data_digest)]):
        try:
            _check_files(at, version)  # a damaged version is never reused
        except CorruptStateError:
            continue
        if not _published(output_path, version.version, settings):
            continue  # its run was killed before publishing: a champion needs a run directory
        return version
    return None


def _published(output_path: str, version: str, settings: Settings) -> bool:
    """Whether the run that registered ``version`` completed its run directory
    (``runs/{YYYY-MM-DD}/{run_id}/manifest.json``, written last; run ids start with the date)."""
    if not RUN_ID.fullmatch(version):
        return False
    day = f"{version[:4]}-{version[4:6]}-{version[6:8]}"
    manifest = storage.join(output_path, "runs", day, version, "manifest.json")
    return storage.exists(manifest, settings=settings)


def recent_champions(
    output_path: str, model_name: str, count: int, *, settings: Settings = None
) -> list[str]:
    """The last ``count`` distinct versions that served (promoted or rolled back to),
    newest first; the current champion comes first whatever the history says."""
    current = champion(output_path, model_name, settings=settings)
    found = [current.version] if current is not None else []
    for event in reversed(history(output_path, model_name, settings=settings)):
        if len(found) >= count:
            break
        if event.get("event") in ("promoted", "rolled_back") and event["version"] not in found:
            found.append(str(event["version"]))
    return found[:count]


def inventory(
    output_path: str, model_name: str, *, verify: bool = False, settings: Settings = None
) -> Inventory:
    """Every complete version, usable or damaged, sorted by version id (oldest first).

    A version is damaged when its ``version.json`` is unusable, or (``verify``: every
    artifact is read) when an artifact is missing or does not match its SHA-256.
    """
    at = Store(output_path, model_name, settings)
    found, damaged = [], []
    for name in storage.list_names(at.root, settings=settings):
        try:
            summary = at.read_summary(name) if valid_name(name) else None
            if summary is None:
                continue  # not a version folder, or an incomplete one
            version = ModelVersion.from_summary(summary, storage.uri(at.path(name)))
            if verify:
                _check_files(at, version)
            found.append(version)
        except CorruptStateError as exc:
            where = storage.uri(at.path(name))
            damaged.append(DamagedVersion(name, where, exc.path, exc.problem, exc.fix))
    return Inventory(found, damaged)


def list_versions(
    output_path: str, model_name: str, *, settings: Settings = None
) -> list[ModelVersion]:
    """Every usable version, sorted by version id (oldest first); damaged ones are left out."""
    return inventory(output_path, model_name, settings=settings).versions


def get_version(
    output_path: str, model_name: str, version: str, *, settings: Settings = None
) -> ModelVersion:
    """One complete version.

    Raises
    ------
    UnknownVersionError
        No such version, or its folder has no ``version.json`` (incomplete).
    CorruptStateError
        Its ``version.json`` is unusable (names the file and the repair command).
    """
    at = Store(output_path, model_name, settings)
    summary = at.read_summary(version) if valid_name(version) else None
    if summary is not None:
        return ModelVersion.from_summary(summary, storage.uri(at.path(version)))
    known = [v.version for v in list_versions(output_path, model_name, settings=settings)]
    raise UnknownVersionError(
        f"unknown version {version!r} of model {model_name!r} under {at.root} "
        f"(registered: {', '.join(known) or 'none'})"
    )


def read_version_file(
    output_path: str, model_name: str, version: str, name: str, *, settings: Settings = None
) -> bytes:
    """One artifact of a version (``model.txt``, ``config.yaml``...), checked against the
    size and SHA-256 its ``version.json`` recorded.

    Raises
    ------
    CorruptStateError
        The artifact is missing, or changed since it was registered (names the file, the
        recorded and the actual digest, and the repair command).
    """
    at = Store(output_path, model_name, settings)
    return at.verified(get_version(output_path, model_name, version, settings=settings), name)


def read_model_text(
    output_path: str, model_name: str, version: str, *, settings: Settings = None
) -> str:
    """The verified LightGBM text of a version (``lgb.Booster(model_str=...)`` loads it)."""
    data = read_version_file(output_path, model_name, version, "model.txt", settings=settings)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:  # only if version.json was rewritten to match
        at = Store(output_path, model_name, settings)
        path, what = at.path(version, "model.txt"), "registry artifact model.txt"
        raise CorruptStateError(path, "not UTF-8 text", at.version_fix(version), what) from exc


def verify_version(
    output_path: str, model_name: str, version: str, *, settings: Settings = None
) -> ModelVersion:
    """A version whose every artifact matches its recorded SHA-256, else CorruptStateError."""
    found = get_version(output_path, model_name, version, settings=settings)
    _check_files(Store(output_path, model_name, settings), found)
    return found


def file_status(
    output_path: str, model_name: str, version: ModelVersion, *, settings: Settings = None
) -> dict[str, CorruptStateError | None]:
    """Each artifact of ``version``: ``None`` when it verifies, else what is wrong with it."""
    at = Store(output_path, model_name, settings)
    status: dict[str, CorruptStateError | None] = {}
    for name in version.files:
        try:
            at.verified(version, name)
            status[name] = None
        except CorruptStateError as exc:
            status[name] = exc
    return status


def repair_advice(
    output_path: str, model_name: str, version: str, *, settings: Settings = None
) -> str:
    """What to do about a damaged ``version`` (the registry commands, ready to paste)."""
    return Store(output_path, model_name, settings).version_fix(version)


def champion(output_path: str, model_name: str, *, settings: Settings = None) -> Champion | None:
    """The serving version from ``champion.json``, or ``None`` before the first promotion.

    Raises
    ------
    CorruptStateError
        ``champion.json`` is unusable; the message names the rollback command that repairs it.
    """
    return Store(output_path, model_name, settings).read_champion()


def promote(
    output_path: str,
    model_name: str,
    version: str,
    *,
    actor: str,
    reason: str,
    expected: str | None,
    replace_damaged: bool = False,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    settings: Settings = None,
    gate_passed: bool | None = None,
) -> PromotionResult:
    """Make ``version`` the champion if the champion is still ``expected`` (compare-and-swap).

    Under the registry lock, ``champion.json`` is re-read. If it names ``expected`` (the
    version the caller's gate compared against; ``None`` for no champion), it is replaced
    atomically and a ``promoted`` event recorded. If it names ``version`` already, nothing
    changes. Otherwise nothing is written but a ``rejected`` event, and the result's
    ``current`` says which version the caller should re-evaluate against. With
    ``replace_damaged`` (the caller found ``champion.json`` unreadable and judged
    ``version`` without a champion), a ``champion.json`` that is still unreadable is
    replaced as well, and the event records what was wrong with it. ``gate_passed`` is
    the caller's own gate decision for a reused version (its recorded gate was taken
    against an earlier champion); by default the gate recorded at registration decides.

    Raises
    ------
    UnknownVersionError
        ``version`` is not a complete registered version.
    RegistryError
        ``version`` failed its promotion gate (use :func:`rollback` to serve it on purpose).
    CorruptStateError
        ``champion.json`` is unreadable and ``replace_damaged`` is not set.
    storage.LockTimeoutError
        The registry lock was not acquired within ``lock_timeout`` seconds.
    """
    at = Store(output_path, model_name, settings)
    recorded = get_version(output_path, model_name, version, settings=settings).gate_passed
    if (recorded if gate_passed is None else gate_passed) is False:
        raise RegistryError(f"version {version} failed its promotion gate; not promoted")
    with at.lock(lock_timeout):
        current, damage = at.read_champion_or_damage()
        found = current.version if current else None
        if found == version:
            return PromotionResult(False, version, expected, found, current)
        if found != expected or (damage is not None and not replace_damaged):
            shown = "a damaged champion.json" if damage else found or "none"
            stale = f"champion is {shown}, not the expected {expected or 'none'}"
            fields = {"expected": expected, "current": found}
            at.record("rejected", version, actor=actor, reason=f"{stale} ({reason})", **fields)
            return PromotionResult(False, version, expected, found, current)
        new = Champion(version, now().isoformat(), actor, reason, previous=found)
        at.write_json(new.to_dict(), CHAMPION_FILE)
        extra = {} if damage is None else {"replaced_damaged": damage}
        at.record("promoted", version, actor=actor, reason=reason, previous=found, **extra)
    return PromotionResult(True, version, expected, version, new, damage)


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
    at = Store(output_path, model_name, settings)
    return at.record("rejected", version, actor=actor, reason=reason)


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
    a rollback is a human decision. Every artifact of ``version`` is verified first. A
    damaged ``champion.json`` is replaced (this is how it is repaired).

    Raises
    ------
    UnknownVersionError
        ``version`` is not a complete registered version.
    CorruptStateError
        ``version`` is damaged (an artifact differs from its recorded SHA-256).
    RegistryError
        ``version`` already serves, or ``actor``/``reason`` is empty.
    """
    if not reason.strip() or not actor.strip():
        raise RegistryError("a rollback needs an actor and a reason")
    verify_version(output_path, model_name, version, settings=settings)
    at = Store(output_path, model_name, settings)
    with at.lock(lock_timeout):
        current, damage = at.read_champion_or_damage()
        found = current.version if current else None
        if found == version:
            raise RegistryError(f"version {version} is already the champion of {model_name}")
        new = Champion(version, now().isoformat(), actor, reason, found, "rolled_back")
        at.write_json(new.to_dict(), CHAMPION_FILE)
        extra = {} if damage is None else {"replaced_damaged": damage}
        at.record("rolled_back", version, actor=actor, reason=reason, previous=found, **extra)
    return new


def forget(
    output_path: str,
    model_name: str,
    version: str,
    *,
    actor: str,
    reason: str,
    lock_timeout: float = LOCK_TIMEOUT_SECONDS,
    settings: Settings = None,
) -> str:
    """Take a (typically damaged) version out of the registry; returns its folder's URI.

    Only its ``version.json`` is deleted: the folder becomes incomplete, which every reader
    skips, and its other files stay for inspection. Recorded as a ``forgotten`` event.

    Raises
    ------
    UnknownVersionError
        No ``version.json`` for ``version``.
    RegistryError
        ``version`` is the champion (roll back first), or ``actor``/``reason`` is empty.
    """
    if not reason.strip() or not actor.strip():
        raise RegistryError("forgetting a version needs an actor and a reason")
    at = Store(output_path, model_name, settings)
    summary = at.path(checked(version, "version"), VERSION_FILE)
    with at.lock(lock_timeout):
        current, _ = at.read_champion_or_damage()
        if current is not None and current.version == version:
            back = at.command("rollback", "<VERSION>", "--reason", "...")
            raise RegistryError(f"version {version} is the champion: roll back first (`{back}`)")
        if not storage.remove(summary, settings=settings):
            raise UnknownVersionError(f"no {VERSION_FILE} at {summary}: nothing to forget")
        at.record("forgotten", version, actor=actor, reason=reason)
    return storage.uri(at.path(version))


def history(
    output_path: str, model_name: str, *, settings: Settings = None
) -> list[dict[str, Any]]:
    """Every recorded event, oldest first: ``time``, ``event``, ``version``, ``actor``, ...

    An event file that cannot be read is listed as event ``damaged`` with the problem in
    ``reason`` (and ``file``, ``fix``), so one bad file hides nothing else.
    """
    return Store(output_path, model_name, settings).events()


# --- helpers -----------------------------------------------------------------------------


def _check_files(at: Store, version: ModelVersion) -> None:
    for name in version.files:
        at.verified(version, name)


def _artifact_bytes(
    model_text: str, metrics: dict[str, Any], config_yaml: str, manifest: dict[str, Any]
) -> dict[str, bytes]:
    found = {
        "model.txt": model_text.encode(),
        "metrics.json": to_json(metrics),
        "config.yaml": config_yaml.encode(),
        "manifest.json": to_json(manifest),
    }
    return {name: found[name] for name in ARTIFACTS}


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
        "created_at": now().isoformat(),
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
