"""Monitoring I/O: history tables, drift profiles and serving forecasts, via :mod:`tasks.storage`.

Layout (``monitoring.history_path``, by default ``{data.output_path}/monitoring``)::

    quality_history.parquet    one row per run (quality.history_row), key run_id
    realised_history.parquet   forecast/actual pairs (realised), key run_id/series/date
    .{table}.lock              serialises read-modify-write of a table across runs

Tables are appended idempotently: rows whose key is already there are replaced, so a
re-run of the same run never duplicates. Everything else in monitoring is pure.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from tasks import storage
from tasks.registry import serving

QUALITY_HISTORY = "quality_history.parquet"
REALISED_HISTORY = "realised_history.parquet"
PROFILE_FILE = "profile.json"
LOCK_TIMEOUT_SECONDS = 60.0
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
Settings = storage.StorageSettings | None


def upsert(existing: pl.DataFrame | None, new: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """``existing`` with ``new`` appended; a key present in both keeps the row from ``new``."""
    if existing is None or existing.height == 0:
        return new.unique(list(keys), keep="last", maintain_order=True).sort(list(keys))
    both = pl.concat([existing, new], how="diagonal_relaxed")
    return both.unique(list(keys), keep="last", maintain_order=True).sort(list(keys))


def read_table(root: str, name: str, *, settings: Settings = None) -> pl.DataFrame | None:
    """A history table, or ``None`` when none has been written yet."""
    path = storage.join(root, name)
    return (
        storage.read_parquet(path, settings=settings)
        if storage.exists(path, settings=settings)
        else None
    )


def append_table(
    root: str, name: str, new: pl.DataFrame, keys: Sequence[str], *, settings: Settings = None
) -> pl.DataFrame:
    """Upsert ``new`` into the table under its lock and write it back atomically; returns it."""
    with storage.lock(storage.join(root, f".{name}.lock"), LOCK_TIMEOUT_SECONDS, settings=settings):
        table = upsert(read_table(root, name, settings=settings), new, keys)
        storage.write_parquet_atomic(storage.join(root, name), table, settings=settings)
    return table


def save_profile(folder: str, profile: dict[str, Any], *, settings: Settings = None) -> str:
    """Write a drift profile as ``{folder}/profile.json`` (next to the model it describes)."""
    return storage.write_json_atomic(storage.join(folder, PROFILE_FILE), profile, settings=settings)


def load_profile(folder: str, *, settings: Settings = None) -> dict[str, Any] | None:
    """The drift profile saved in ``folder``, or ``None`` (e.g. a champion from before profiles)."""
    path = storage.join(folder, PROFILE_FILE)
    if not storage.exists(path, settings=settings):
        return None
    profile: dict[str, Any] = json.loads(storage.read_text(path, settings=settings))
    return profile


def read_serving_history(
    output_path: str,
    model_name: str,
    since: dt.date | None = None,
    *,
    settings: Settings = None,
) -> pl.DataFrame | None:
    """Every dated serving forecast (``{serving root}/{as_of}/{run_id}.parquet``) from ``since``.

    Adds ``run_id`` and ``as_of`` (from the path); ``None`` when nothing was published.
    """
    root = serving.serving_root(output_path, model_name)
    frames = []
    for day in storage.list_names(root, settings=settings):
        if not _DAY.match(day) or (since is not None and dt.date.fromisoformat(day) < since):
            continue
        for name in storage.list_names(storage.join(root, day), settings=settings):
            if not name.endswith(".parquet") or name.startswith((".", "_")):
                continue
            frame = storage.read_parquet(storage.join(root, day, name), settings=settings)
            frames.append(
                frame.with_columns(
                    pl.lit(name.removesuffix(".parquet")).alias("run_id"),
                    pl.lit(dt.date.fromisoformat(day)).alias("as_of"),
                )
            )
    return pl.concat(frames, how="diagonal_relaxed") if frames else None
