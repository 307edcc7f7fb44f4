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
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import polars as pl

from tasks import storage

LATEST_POINTER = "latest.json"
LATEST_FRAME = "latest.parquet"
LOCK_FILE = ".serving.lock"


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
    """The current ``latest.json``, or ``None`` before anything was served."""
    path = storage.join(serving_root(output_path, model_name), LATEST_POINTER)
    if not storage.exists(path, settings=settings):
        return None
    data: dict[str, Any] = json.loads(storage.read_text(path, settings=settings))
    return data


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

    The returned pointer has ``"latest": False`` when a newer run already holds ``latest``.
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
    with storage.lock(storage.join(root, LOCK_FILE), settings=settings):
        current = read_pointer(output_path, model_name, settings=settings)
        if current is not None and str(current.get("run_id", "")) > run_id:
            return {**pointer, "latest": False, "latest_run_id": current["run_id"]}
        storage.write_parquet_atomic(storage.join(root, LATEST_FRAME), frame, settings=settings)
        storage.write_json_atomic(storage.join(root, LATEST_POINTER), pointer, settings=settings)
    return {**pointer, "latest": True}
