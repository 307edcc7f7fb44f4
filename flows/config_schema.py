"""The config's schema version and the migrations that bring a stored config up to it.

Every registered version records ``config_schema_version`` (this module's
:data:`CONFIG_SCHEMA_VERSION`) beside its resolved ``config.yaml``. Reading a stored config
(a champion's, to re-score it), :func:`migrate` applies the steps of :data:`MIGRATIONS`
from its version up to this code's, then sets aside every key this code does not know,
so that an old champion is always judged with the config it was trained with, in today's
terms. Renaming or removing a config key means: bump :data:`CONFIG_SCHEMA_VERSION` and add
the step that maps the old key to the new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CONFIG_SCHEMA_VERSION = 2
# Schema 1: every config registered before versions recorded a schema (no ``mode``,
# no ``evaluation.tolerance_reference_champions``; both are filled with their defaults).

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def _v1_to_v2(config: dict[str, Any]) -> dict[str, Any]:
    """Schema 2 added ``mode``; a stored config says what it built, so it is an experiment."""
    return {**config, "mode": config.get("mode", "experiment")}


MIGRATIONS: dict[int, Migration] = {1: _v1_to_v2}  # from version n to n + 1
