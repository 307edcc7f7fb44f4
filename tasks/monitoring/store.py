"""Monitoring I/O: history tables, drift profiles and serving forecasts, via :mod:`tasks.storage`.

Layout (``monitoring.history_path``, by default ``{data.output_path}/monitoring``)::

    quality_history.parquet    one row per run (quality.history_row), key run_id
    realised_history.parquet   forecast/actual pairs (realised), key run_id/series/date
    .{table}.lock              serialises read-modify-write of a table across runs

Tables are appended idempotently: rows whose key is already there are replaced, so a
re-run of the same run never duplicates. Everything else in monitoring is pure.

Reads are checked (:mod:`tasks.storage.state`): a table, profile or dated serving copy that is
truncated or lacks its columns or fields raises :class:`tasks.storage.state.CorruptStateError`
naming it. Monitoring never stops the pipeline for its own history: the tasks set a
damaged table aside (:func:`set_aside_table`, renamed, never deleted) and start a new one,
skip a damaged profile or serving copy, and log a warning with the file and the problem.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from tasks import storage
from tasks.monitoring import drift
from tasks.monitoring.quality import HISTORY_SCHEMA
from tasks.registry import serving
from tasks.storage import state

QUALITY_HISTORY = "quality_history.parquet"
REALISED_HISTORY = "realised_history.parquet"
PROFILE_FILE = "profile.json"
LOCK_TIMEOUT_SECONDS = 60.0
Settings = storage.StorageSettings | None
TABLE_SCHEMAS: dict[str, dict[str, Any]] = {QUALITY_HISTORY: HISTORY_SCHEMA, REALISED_HISTORY: {}}
TABLE_COLUMNS = {
    QUALITY_HISTORY: (),
    REALISED_HISTORY: ("run_id", "origin", "step", "date", "forecast", "actual"),
}
SERVED_COLUMNS = ("date", "forecast")


def upsert(existing: pl.DataFrame | None, new: pl.DataFrame, keys: Sequence[str]) -> pl.DataFrame:
    """``existing`` with ``new`` appended; a key present in both keeps the row from ``new``."""
    if existing is None or existing.height == 0:
        return new.unique(list(keys), keep="last", maintain_order=True).sort(list(keys))
    both = pl.concat([existing, new], how="diagonal_relaxed")
    return both.unique(list(keys), keep="last", maintain_order=True).sort(list(keys))


def read_table(root: str, name: str, *, settings: Settings = None) -> pl.DataFrame | None:
    """A history table, or ``None`` when none has been written yet.

    Raises
    ------
    state.CorruptStateError
        The table is not readable parquet or lacks its columns (names the file).
    """
    path = storage.join(root, name)
    fix = (
        f"the next pipeline run renames it to {name}.damaged-<time> and starts a new "
        "history (or move it aside yourself); restore it from a backup to keep the history"
    )
    table = state.read_parquet(
        path,
        what="monitoring history table",
        fix=fix,
        schema=TABLE_SCHEMAS.get(name, {}),
        columns=TABLE_COLUMNS.get(name, ()),
        settings=settings,
    )
    bad = _bad_categories(table) if table is not None and name == QUALITY_HISTORY else []
    if bad:
        problem = f"'categories' is not a JSON object in the rows of runs {bad[:5]}"
        raise state.CorruptStateError(path, problem, fix, "monitoring history table")
    return table


def _bad_categories(table: pl.DataFrame) -> list[str]:
    """Runs whose ``categories`` cell (JSON text, read by the next quality check) is unusable."""
    bad = []
    for run_id, text in table.select("run_id", "categories").iter_rows():
        try:
            ok = isinstance(json.loads(text), dict)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            bad.append(str(run_id))
    return bad


def _table_lock(root: str, name: str, settings: Settings) -> Any:
    return storage.lock(
        storage.join(root, f".{name}.lock"), LOCK_TIMEOUT_SECONDS, settings=settings
    )


def append_table(
    root: str, name: str, new: pl.DataFrame, keys: Sequence[str], *, settings: Settings = None
) -> pl.DataFrame:
    """Upsert ``new`` into the table under its lock and write it back atomically; returns it."""
    with _table_lock(root, name, settings):
        table = upsert(read_table(root, name, settings=settings), new, keys)
        storage.write_parquet_atomic(storage.join(root, name), table, settings=settings)
    return table


def set_aside_table(root: str, name: str, *, settings: Settings = None) -> str | None:
    """Rename a damaged table to ``{name}.damaged-{time}`` (under its lock); returns where
    it went, or ``None`` if it is readable again (another run already replaced it)."""
    with _table_lock(root, name, settings):
        try:
            read_table(root, name, settings=settings)
        except state.CorruptStateError:
            return state.set_aside(storage.join(root, name), settings=settings)
    return None


def save_profile(folder: str, profile: dict[str, Any], *, settings: Settings = None) -> str:
    """Write a drift profile as ``{folder}/profile.json`` (next to the model it describes)."""
    return storage.write_json_atomic(storage.join(folder, PROFILE_FILE), profile, settings=settings)


def load_profile(folder: str, *, settings: Settings = None) -> dict[str, Any] | None:
    """The drift profile saved in ``folder``, or ``None`` (e.g. a champion from before profiles).

    Raises
    ------
    state.CorruptStateError
        The profile is unusable (names the file).
    """
    path, what = storage.join(folder, PROFILE_FILE), "drift profile"
    fix = (
        "drift is not measured against this model until it is replaced: the next promoted "
        "version brings its own profile; delete the file to silence this warning"
    )
    profile = state.read_json(
        path, what=what, fix=fix, required=drift.PROFILE_FIELDS, settings=settings
    )
    problems = [] if profile is None else drift.profile_problems(profile)
    if problems:
        raise state.CorruptStateError(path, "; ".join(problems[:5]), fix, what)
    return profile


def read_serving_history(
    output_path: str,
    model_name: str,
    since: dt.date | None = None,
    *,
    on_damaged: Callable[[state.CorruptStateError], None] | None = None,
    settings: Settings = None,
) -> pl.DataFrame | None:
    """Every dated serving forecast (``{serving root}/{as_of}/{run_id}.parquet``) from ``since``.

    Adds ``run_id`` and ``as_of`` (from the path); ``None`` when nothing was published.
    A damaged copy raises :class:`tasks.storage.state.CorruptStateError`, or, with ``on_damaged``,
    is passed to it and skipped.
    """
    frames = []
    for copy in serving.dated_copies(output_path, model_name, since, settings=settings):
        try:
            frame = _read_served(copy.path, settings)
        except state.CorruptStateError as exc:
            if on_damaged is None:
                raise
            on_damaged(exc)
            continue
        if frame is None:  # listed a moment ago, gone now
            continue
        frames.append(
            frame.with_columns(
                pl.lit(copy.run_id).alias("run_id"),
                pl.lit(dt.date.fromisoformat(copy.day)).alias("as_of"),
            )
        )
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


def _read_served(path: str, settings: Settings) -> pl.DataFrame | None:
    fix = "realised accuracy skips it; restore it from a backup to count it again, or delete it"
    return state.read_parquet(
        path, what="served forecast copy", fix=fix, columns=SERVED_COLUMNS, settings=settings
    )
