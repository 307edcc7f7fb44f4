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

import dataclasses
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


def migrate(config: dict[str, Any], version: int | None) -> dict[str, Any]:
    """``config`` (stored under schema ``version``; None: 1, before versions were recorded)
    brought up to :data:`CONFIG_SCHEMA_VERSION` by the steps of :data:`MIGRATIONS`.

    A config from a newer schema than this code's is returned as it is: its unknown keys
    are set aside by :func:`split_unknown` like any other.
    """
    for step in range(version or 1, CONFIG_SCHEMA_VERSION):
        config = MIGRATIONS[step](config)
    return config


def split_unknown(
    config: dict[str, Any], schema: object, open_keys: dict[str, Callable[[str], bool]]
) -> tuple[dict[str, Any], list[str]]:
    """``config`` without the keys that ``schema`` (a dataclass instance with its
    defaults) does not declare, and the dotted names of those keys, sorted.

    ``open_keys`` maps the dotted path of an open section (``model.hyperparameters``) to
    the test its extra names must pass to be kept (e.g. known to LightGBM).
    """
    dropped: list[str] = []

    def walk(node: dict[str, Any], declared: object, prefix: str) -> dict[str, Any]:
        names = {f.name for f in dataclasses.fields(declared)}  # type: ignore[arg-type]
        keep = open_keys.get(prefix.rstrip("."))
        kept: dict[str, Any] = {}
        for key, value in node.items():
            if key not in names and not (keep is not None and keep(str(key))):
                dropped.append(f"{prefix}{key}")
                continue
            child = getattr(declared, str(key), None)
            is_section = dataclasses.is_dataclass(child) and isinstance(value, dict)
            kept[key] = walk(value, child, f"{prefix}{key}.") if is_section else value
        return kept

    return walk(config, schema, ""), sorted(dropped)
