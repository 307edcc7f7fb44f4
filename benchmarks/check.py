"""Equivalence: the pandas reference and the floor must compute what the pipeline computes.

Run before anything is timed: the pandas panel and features must equal ours (same rows
sorted by series and date, same columns, floats within 1e-9 relative), the floor's daily
roll-up must equal our clean daily roll-up, and the pandas reference's recursive forecasts
(its own LightGBM fit) must equal ours within 1e-6 relative.
"""

# ruff: noqa: PLC0415  (imports inside functions: a case process loads only what it measures)

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from benchmarks import floor, ours, pandas_ref
from benchmarks.measure import Recorder
from benchmarks.params import BenchParams

RTOL = 1e-9
ATOL = 1e-9
FORECAST_RTOL = 1e-6  # recursive forecasts of two LightGBM fits on equal matrices


def _to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    out = frame.to_pandas()
    if "date" in out.columns:
        out["date"] = pd.to_datetime(out["date"])
    return out


def compare(ours_df: pd.DataFrame, ref: pd.DataFrame, keys: list[str], what: str) -> dict[str, Any]:
    """Compare two frames column by column after sorting; max differences and mismatches."""
    problems: list[str] = []
    if sorted(ours_df.columns) != sorted(ref.columns):
        problems.append(
            f"{what}: columns differ: {sorted(ours_df.columns)} vs {sorted(ref.columns)}"
        )
        return {"passed": False, "rows": len(ours_df), "problems": problems, "max_abs_diff": None}
    order = [*keys, "date"]
    a = ours_df.sort_values(order).reset_index(drop=True)
    b = ref[list(ours_df.columns)].sort_values(order).reset_index(drop=True)
    if len(a) != len(b):
        problems.append(f"{what}: {len(a)} rows vs {len(b)} in the reference")
        return {"passed": False, "rows": len(a), "problems": problems, "max_abs_diff": None}
    worst = 0.0
    for col in a.columns:
        x, y = a[col], b[col]
        if col in order or object in (x.dtype, y.dtype):
            if not (x.astype(str).to_numpy() == y.astype(str).to_numpy()).all():
                problems.append(f"{what}.{col}: values differ")
            continue
        xf, yf = x.astype("float64").to_numpy(), y.astype("float64").to_numpy()
        if not np.array_equal(np.isnan(xf), np.isnan(yf)):
            problems.append(f"{what}.{col}: missing values differ")
            continue
        ok = ~np.isnan(xf)
        diff = np.abs(xf[ok] - yf[ok])
        worst = max(worst, float(diff.max(initial=0.0)))
        if not np.allclose(xf[ok], yf[ok], rtol=RTOL, atol=ATOL):
            problems.append(f"{what}.{col}: max abs diff {diff.max():.3g}")
    return {"passed": not problems, "rows": len(a), "problems": problems, "max_abs_diff": worst}


def run(p: BenchParams, rec: Recorder) -> None:
    """Compute both sides on ``p.input_path`` and record the comparison in ``rec.info``."""
    mine = ours.prepare(ours.params(p.overrides), rec)
    keys = p.series_keys
    ref_rec = Recorder("pandas-check", rec.sampler)
    ref_panel, ref_features = pandas_ref.prepare(p, ref_rec)
    panel = compare(_to_pandas(mine.panel), ref_panel, keys, "panel")
    feats = compare(_to_pandas(mine.features), ref_features, keys, "features")
    fl = floor.scan_to_daily(p)
    daily_cols = ["revenue", "units", "promo", "n_rows"]
    flo = compare(
        _to_pandas(mine.daily.select(*keys, "date", *daily_cols)),
        _to_pandas(fl.select(*keys, "date", *daily_cols)),
        keys,
        "floor_daily",
    )
    fc = compare_forecasts(p, mine, ref_panel, ref_features)
    rec.info["equivalence"] = {
        "passed": panel["passed"] and feats["passed"] and flo["passed"] and fc["passed"],
        "panel": panel,
        "features": feats,
        "floor_daily": flo,
        "rtol": RTOL,
        "atol": ATOL,
        "forecast": fc,
    }


def compare_forecasts(
    p: BenchParams, mine: ours.Prepared, ref_panel: pd.DataFrame, ref_features: pd.DataFrame
) -> dict[str, Any]:
    """Train and forecast on both sides: same rows, forecasts within ``FORECAST_RTOL``."""
    from tasks import chain

    params = ours.params(p.overrides)
    model = chain.train_lightgbm(mine.features, params.features, params.train)
    a = _to_pandas(chain.forecast_lightgbm(model, mine.panel, params.features, params.forecast))
    booster, levels = pandas_ref.fit(ref_features, p)
    b = pandas_ref.forecast(booster, levels, ref_panel, p)
    keys = [*p.series_keys, "date"]
    a, b = a.sort_values(keys).reset_index(drop=True), b.sort_values(keys).reset_index(drop=True)
    out: dict[str, Any] = {"rows": len(a), "reference_rows": len(b), "max_rel_diff": None}
    same_rows = len(a) == len(b) and all(
        (a[k].astype(str).to_numpy() == b[k].astype(str).to_numpy()).all() for k in keys
    )
    if not same_rows:
        return {**out, "passed": False}
    x, y = a["forecast"].to_numpy(), b["forecast"].to_numpy()
    rel = np.abs(x - y) / np.maximum(np.abs(x), 1e-9)
    ok = bool(np.allclose(x, y, rtol=FORECAST_RTOL, atol=ATOL))
    return {**out, "max_rel_diff": float(rel.max(initial=0.0)), "passed": ok}
