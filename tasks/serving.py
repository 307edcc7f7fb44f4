"""Serving output: the forecasts consumers read, at a stable location.

```
{output_path}/serving/{YYYY-MM-DD}/{run_id}.parquet   immutable copy per run
{output_path}/serving/latest.parquet                  the newest serving forecasts
{output_path}/serving/latest.json                     pointer: model version, run, source, URIs
```
The immutable copy is written first, then ``latest.parquet``, then the pointer, so a
reader that follows ``latest.json`` always finds a complete file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from tasks import storage


def serving_frame(forecasts: pl.DataFrame, model_version: str, source: str) -> pl.DataFrame:
    """Forecasts with the model version and its role (champion or challenger) on every row."""
    return forecasts.with_columns(
        pl.lit(model_version).alias("model_version"), pl.lit(source).alias("model_role")
    )


def write_serving(
    output_path: str,
    forecasts: pl.DataFrame,
    *,
    model_version: str,
    source: str,
    run_id: str,
    as_of: dt.date,
) -> dict[str, Any]:
    """Publish serving forecasts (dated copy, latest, pointer) and return the pointer."""
    root = storage.join(output_path, "serving")
    frame = serving_frame(forecasts, model_version, source)
    dated = storage.write_parquet_atomic(
        storage.join(root, as_of.isoformat(), f"{run_id}.parquet"), frame
    )
    latest = storage.write_parquet_atomic(storage.join(root, "latest.parquet"), frame)
    pointer = {
        "model_version": model_version,
        "model_role": source,
        "run_id": run_id,
        "as_of": as_of.isoformat(),
        "rows": frame.height,
        "first_date": str(frame["date"].min()),
        "last_date": str(frame["date"].max()),
        "dated_uri": storage.uri(dated),
        "latest_uri": storage.uri(latest),
        "written_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    storage.write_json_atomic(storage.join(root, "latest.json"), pointer)
    return pointer
