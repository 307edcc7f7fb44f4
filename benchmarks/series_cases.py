"""The series-axis cases: ours (:mod:`tasks.chain`, backtest included) and mlforecast
(``cross_validation`` + final ``fit`` + ``predict``) on one panel of many series, and the
untimed check that both compute the same features.

Each runs in its own process (``python -m benchmarks.case series-ours ...``), so its peak
RSS is that of a process doing only that measurement.
"""

# ruff: noqa: PLC0415  (imports inside functions: a case process loads only what it measures)

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from benchmarks import mlf
from benchmarks.measure import Recorder
from benchmarks.params import BenchParams

PANEL = "panel.parquet"
CHECK_SERIES = 200  # series compared in the feature check (all of their rows)
FEATURE_RTOL = 1e-6  # of the series' mean revenue: sliding-window sums of both sides
# leave different rounding residue (ours 0.0, theirs 2e-6 on a window of zeros)
# mlforecast's names for our raw (not normalised) target features and date features
DATE_FEATURES = {  # ours -> (mlforecast, offset): ours = theirs + offset (same order, same splits)
    "day_of_week": ("dayofweek", 1),  # pandas Monday = 0, polars Monday = 1
    "day_of_month": ("day", 0),
    "week_of_year": ("week", 0),
    "month": ("month", 0),
}


def mlf_names(p: BenchParams) -> dict[str, str]:
    """Our raw lag and window columns -> mlforecast's column names."""
    out = {f"lag_{k}": f"lag{k}" for k in p.lags}
    for w in p.window_sizes:
        out[f"roll_mean_{w}"] = f"rolling_mean_lag1_window_size{w}_min_samples1"
        out[f"roll_std_{w}"] = f"rolling_std_lag1_window_size{w}_min_samples2"
    return out


@contextmanager
def profiled(rec: Recorder, name: str, enabled: bool, top: int = 25) -> Iterator[None]:
    """Time a stage; with ``enabled`` also cProfile it and keep the top functions (cumulative)."""
    if not enabled:
        with rec.stage(name):
            yield
        return
    prof = cProfile.Profile()
    with rec.stage(name):
        prof.enable()
        yield
        prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    rec.info.setdefault("profile", {})[name] = out.getvalue()


def run_ours(p: BenchParams, rec: Recorder, profile: bool) -> None:
    """ingest → clean → aggregate → features → train → evaluate (backtest) → forecast."""
    from benchmarks import ours
    from tasks import chain

    c = ours.params(p.overrides)
    with rec.stage("ingest"):
        source = chain.ingest(c.source)
    with rec.stage("clean"):
        cleaned = chain.clean(source, c.clean)
    with rec.stage("aggregate"):
        panel = chain.aggregate(cleaned.daily, c.panel).panel
    del cleaned
    with profiled(rec, "features", profile):
        frame = chain.features(panel, c.features)
    with profiled(rec, "train", profile):
        model = chain.train(frame, c.features, c.train)
    del frame
    with profiled(rec, "evaluate", profile):
        result = chain.evaluate(panel, c.features, c.backtest, c.train)
    with profiled(rec, "forecast", profile):
        out = chain.forecast(model, panel, c.features, c.forecast)
    rec.info.update(
        series=panel.select(c.features.series_keys).n_unique(),
        panel_rows=panel.height,
        forecast_rows=out.height,
        backtest_wape=result.metrics["backtest"]["model"]["wape"],
        seasonal_naive_wape=result.metrics["backtest"]["seasonal_naive"]["wape"],
    )


def run_mlforecast(p: BenchParams, rec: Recorder, work_dir: str) -> None:
    """``cross_validation`` (same windows, refit per window), final ``fit`` and ``predict``."""
    statics = list(p.categorical_columns)
    with rec.stage("load"):  # reads the panel into pandas: not compared
        df = mlf.model_frame(Path(work_dir) / PANEL, p)
    with rec.stage("evaluate"):
        cv = mlf.forecaster(p).cross_validation(
            df,
            n_windows=p.backtest_windows,
            h=p.horizon,
            step_size=p.horizon,
            static_features=statics,
            refit=True,
        )
    y, yhat = cv["y"].to_numpy(), cv["lgbm"].to_numpy()
    rec.info["backtest_wape"] = float(np.abs(y - yhat).sum() / np.abs(y).sum())
    del cv
    with rec.stage("train"):
        fcst = mlf.forecaster(p).fit(df, static_features=statics)
    with rec.stage("forecast"):
        future = fcst.make_future_dataframe(p.horizon)
        future["promo"] = 0.0
        out = fcst.predict(p.horizon, X_df=future)
    rec.info.update(series=int(df["unique_id"].nunique()), forecast_rows=len(out))


def compare_features(p: BenchParams, panel: pl.DataFrame) -> dict[str, Any]:
    """Our feature frame vs mlforecast's ``preprocess`` on the first series of the panel.

    Lags and windows must agree within ``FEATURE_RTOL`` of the larger of the value and
    the series' mean revenue (ours before normalising: the
    model divides them by the row's scale afterwards), date features up to a constant
    offset (numbering from 0 or 1), on every row mlforecast keeps (it drops the rows
    whose longest lag is missing).
    """
    from benchmarks import ours
    from tasks import chain

    keys = p.series_keys
    first = panel.select(keys).unique().sort(keys).head(CHECK_SERIES)
    panel = panel.join(first, on=keys, how="semi")
    spec = ours.params(p.overrides).features
    mine = chain.features(panel, spec)
    path = Path(p.input_path).parent / "_check-panel.parquet"
    panel.write_parquet(path)
    try:
        df = mlf.model_frame(path, p)
    finally:
        path.unlink()
    theirs = mlf.forecaster(p).preprocess(df, static_features=list(p.categorical_columns))
    theirs_pl = pl.from_pandas(theirs[["unique_id", "ds", *_their_columns(p)]]).with_columns(
        pl.col("ds").cast(pl.Date).alias("date")
    )
    mine = mine.with_columns(
        pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator="|").alias("unique_id")
    )
    joined = mine.join(theirs_pl, on=["unique_id", "date"], how="inner")
    level = joined.select(pl.col("revenue").abs().mean().over("unique_id")).to_series().to_numpy()
    problems: list[str] = []
    worst = 0.0
    for ours_col, their_col in mlf_names(p).items():
        a, b = joined[ours_col].to_numpy(), joined[their_col].to_numpy()
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            problems.append(f"{ours_col}: missing values differ from {their_col}")
            continue
        ok = ~np.isnan(a)
        rel = np.abs(a[ok] - b[ok]) / np.maximum(np.maximum(np.abs(a[ok]), level[ok]), 1e-9)
        worst = max(worst, float(rel.max(initial=0.0)))
        if (rel > FEATURE_RTOL).any():
            problems.append(f"{ours_col} vs {their_col}: max rel diff {rel.max():.3g}")
    for ours_col, (their_col, shift) in DATE_FEATURES.items():
        if ours_col in joined.columns and (joined[ours_col] != joined[their_col] + shift).any():
            problems.append(f"{ours_col} != {their_col} + {shift}")
    return {
        "passed": not problems and joined.height == len(theirs) > 0,
        "series": first.height,
        "rows_compared": joined.height,
        "mlforecast_rows": len(theirs),
        "max_rel_diff": worst,
        "problems": problems,
    }


def _their_columns(p: BenchParams) -> list[str]:
    return [*mlf_names(p).values(), *(v[0] for v in DATE_FEATURES.values())]


def run_check(p: BenchParams, rec: Recorder, work_dir: str) -> None:
    """Untimed: build and save the panel (once per data set), then compare features."""
    from benchmarks import ours
    from tasks import chain

    path = Path(work_dir) / PANEL
    if path.exists():
        panel = pl.read_parquet(path)
    else:
        panel = chain.prepare(ours.params(p.overrides))[1].panel
        panel.write_parquet(path)
    rec.info["equivalence"] = compare_features(p, panel)
