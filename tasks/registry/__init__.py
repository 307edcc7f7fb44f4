"""Model registry and serving location (plain Python: no Prefect).

``versions`` registers every run's model as a version and moves the champion pointer
(compare-and-swap under a lock), with a history of every event; ``records`` checks what
is read back (version summaries, the champion pointer, events) against its contract;
``store`` reads and writes the registry's files under its lock; ``serving`` writes the
forecasts consumers read and their ``latest.json`` pointer; ``recovery`` repairs what a
killed run left (serving behind the champion, temp files); ``cli`` is the command line,
``python -m tasks.registry``. The registry API is re-exported here:
``from tasks import registry; registry.champion(output_path, model_name)``.
"""

from __future__ import annotations

from tasks.registry.versions import (
    CHAMPION_FILE,
    EVENTS,
    HISTORY_DIR,
    LOCK_FILE,
    LOCK_TIMEOUT_SECONDS,
    VERSION_FILE,
    Champion,
    CorruptStateError,
    DamagedVersion,
    Inventory,
    ModelVersion,
    PromotionResult,
    RegistryError,
    UnknownVersionError,
    VersionConflictError,
    champion,
    default_actor,
    file_status,
    forget,
    get_version,
    history,
    inventory,
    list_versions,
    promote,
    read_model_text,
    read_version_file,
    register,
    registry_path,
    reject,
    repair_advice,
    rollback,
    verify_version,
    version_path,
)

__all__ = [
    "CHAMPION_FILE",
    "EVENTS",
    "HISTORY_DIR",
    "LOCK_FILE",
    "LOCK_TIMEOUT_SECONDS",
    "VERSION_FILE",
    "Champion",
    "CorruptStateError",
    "DamagedVersion",
    "Inventory",
    "ModelVersion",
    "PromotionResult",
    "RegistryError",
    "UnknownVersionError",
    "VersionConflictError",
    "champion",
    "default_actor",
    "file_status",
    "forget",
    "get_version",
    "history",
    "inventory",
    "list_versions",
    "promote",
    "read_model_text",
    "read_version_file",
    "register",
    "registry_path",
    "reject",
    "repair_advice",
    "rollback",
    "verify_version",
    "version_path",
]
