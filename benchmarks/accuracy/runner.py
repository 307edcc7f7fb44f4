"""Run methods over the same windows, cache each (data set, method, window) forecast on disk.

Cache: ``{data_dir}/accuracy/cache/{dataset}-{digest}/{method}-v{version}/{origin}.parquet``
plus a ``.json`` with the seconds it took. A changed data set gets a new digest; a changed
method must bump its entry in ``VERSIONS``. Delete the folder to re-measure times.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import polars as pl

from benchmarks.accuracy.conformal import series_scale
from benchmarks.accuracy.data import Dataset
from benchmarks.accuracy.methods import Method, naive
from benchmarks.accuracy.windows import Window, split

log = logging.getLogger(__name__)
VERSIONS: dict[str, int] = {"lgbm_mean": 2}  # method -> cache version (default 1)


def _forecast_window(
    name: str, fn: Method, panel: pl.DataFrame, window: Window, ds: Dataset, cache: Path
) -> tuple[pl.DataFrame, float]:
    path = cache / f"{name}-v{VERSIONS.get(name, 1)}" / f"{window.origin.isoformat()}.parquet"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return pl.read_parquet(path), float(json.loads(meta.read_text())["seconds"])
    history, future = split(panel, window)
    start = time.perf_counter()
    out = fn(history, future.drop("y"), ds)
    seconds = time.perf_counter() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    out.write_parquet(path)
    meta.write_text(json.dumps({"seconds": seconds}))
    log.info("%s %s window %s: %.1fs", ds.name, name, window.origin, seconds)
    return out, seconds


def window_rows(panel: pl.DataFrame, window: Window, ds: Dataset) -> pl.DataFrame:
    """The rows every method is scored on: window, unique_id, date, step, y, scale, naive."""
    history, future = split(panel, window)
    fallback = naive(history, future, ds).rename({"forecast": "fallback"})
    return (
        future.select("unique_id", "date", "step", "y")
        .join(series_scale(history, ds.season), on="unique_id", how="left")
        .join(fallback, on=["unique_id", "date"], how="left")
        .with_columns(pl.lit(window.index).alias("window"))
    )


def run_method(
    name: str,
    fn: Method,
    panel: pl.DataFrame,
    windows: list[Window],
    ds: Dataset,
    cache: Path,
    rows: dict[int, pl.DataFrame],
) -> tuple[pl.DataFrame, dict[int, float]]:
    """Predictions of one method on every window (with ``y``, ``step``, ``scale``) and seconds.

    A forecast the method left out (null or NaN) is the naive one, counted in ``filled``.
    """
    parts, seconds = [], {}
    for w in windows:
        out, secs = _forecast_window(name, fn, panel, w, ds, cache)
        seconds[w.index] = secs
        keep = [c for c in ("forecast", "p10", "p90") if c in out.columns]
        joined = rows[w.index].join(
            out.select("unique_id", "date", *[pl.col(c).fill_nan(None) for c in keep]),
            on=["unique_id", "date"],
            how="left",
        )
        parts.append(joined)
    preds = pl.concat(parts, how="diagonal_relaxed")
    preds = preds.with_columns(pl.col("forecast").is_null().alias("filled")).with_columns(
        pl.coalesce("forecast", "fallback").clip(lower_bound=0.0).alias("forecast")
    )
    if "p10" in preds.columns:
        preds = preds.with_columns(
            pl.col("p10").clip(lower_bound=0.0), pl.col("p90").clip(lower_bound=0.0)
        )
    return preds.drop("fallback"), seconds
