"""Serving output: the forecasts consumers read, at a stable location.

```
{output_path}/serving/{model_name}/{YYYY-MM-DD}/{run_id}.parquet   immutable copy per run
{output_path}/serving/{model_name}/latest.parquet                  the newest serving forecasts
{output_path}/serving/{model_name}/latest.json                     pointer to both, with the version
```
The immutable copy is written first, then ``latest.parquet``, then the pointer. Readers
that must never see a mix follow ``latest.json``'s ``dated_uri`` (never overwritten).
``latest`` only moves forward: under a lock, a run older than the one already published
(run ids sort by start time) writes its dated copy but leaves ``latest`` alone.
A damaged ``latest.json`` (truncated, not JSON, fields missing) is named by
:func:`read_pointer`; :func:`write_serving` replaces it and says so in the pointer it
returns (``replaced_damaged``), so a damaged pointer never blocks the next run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from tasks import storage
from tasks.storage import state

LATEST_POINTER = "latest.json"
LATEST_FRAME = "latest.parquet"
LOCK_FILE = ".serving.lock"
POINTER_FIELDS: state.Schema = {
    "model_name": str,
    "model_version": str,
    "model_role": str,
    "run_id": str,
    "as_of": str,
    "rows": int,
    "first_date": str,
    "last_date": str,
    "dated_uri": str,
    "latest_uri": str,
    "written_at": str,
}
POINTER_FIX = (
    "delete it (or let the next pipeline run replace it): the dated copies under the same "
    "folder are the record of what was served"
)


def serving_root(output_path: str, model_name: str) -> str:
    """``{output_path}/serving/{model_name}``."""
    return storage.join(output_path, "serving", model_name)


def serving_frame(forecasts: pl.DataFrame, model_version: str, role: str) -> pl.DataFrame:
    """Forecasts with the model version and its role (champion or challenger) on every row."""
    return forecasts.with_columns(
        pl.lit(model_version).alias("model_version"), pl.lit(role).alias("model_role")
    )


def read_pointer(
    output_path: str, model_name: str, *, settings: storage.StorageSettings | None = None
) -> dict[str, Any] | None:
    """The current ``latest.json``, or ``None`` before anything was served.

    Raises
    ------
    state.CorruptStateError
        The pointer is unusable (names the file and what to do).
    """
    path = storage.join(serving_root(output_path, model_name), LATEST_POINTER)
    return state.read_json(
        path, what="serving pointer", fix=POINTER_FIX, required=POINTER_FIELDS, settings=settings
    )


def write_serving(
    output_path: str,
    model_name: str,
    forecasts: pl.DataFrame,
    *,
    model_version: str,
    role: str,
    run_id: str,
    as_of: dt.date,
    settings: storage.StorageSettings | None = None,
) -> dict[str, Any]:
    """Publish serving forecasts (dated copy, then latest and its pointer); returns the pointer.

    The returned pointer has ``"latest": False`` when a newer run already holds ``latest``,
    and ``"replaced_damaged"`` (the error, naming the file) when it replaced a damaged one.
    """
    root = serving_root(output_path, model_name)
    frame = serving_frame(forecasts, model_version, role)
    dated_path = storage.join(root, as_of.isoformat(), f"{run_id}.parquet")
    dated = storage.write_parquet_atomic(dated_path, frame, settings=settings)
    pointer: dict[str, Any] = {
        "model_name": model_name,
        "model_version": model_version,
        "model_role": role,
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "rows": frame.height,
        "first_date": str(frame["date"].min()),
        "last_date": str(frame["date"].max()),
        "dated_uri": storage.uri(dated),
        "latest_uri": storage.uri(storage.join(root, LATEST_FRAME)),
        "written_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    damaged: dict[str, str] = {}
    with storage.lock(storage.join(root, LOCK_FILE), settings=settings):
        try:
            current = read_pointer(output_path, model_name, settings=settings)
        except state.CorruptStateError as exc:  # whose run it named is unknown: replace it
            current, damaged = None, {"replaced_damaged": str(exc)}
        if current is not None and current["run_id"] > run_id:
            return {**pointer, "latest": False, "latest_run_id": current["run_id"]}
        storage.write_parquet_atomic(storage.join(root, LATEST_FRAME), frame, settings=settings)
        storage.write_json_atomic(storage.join(root, LATEST_POINTER), pointer, settings=settings)
    return {**pointer, "latest": True, **damaged}
