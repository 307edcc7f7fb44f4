"""Parity: the pipeline reproduces the "before" notebook's panel, features and forecasts.

The notebook (``notebooks/sales_forecast_exploration.ipynb``) runs once, top to bottom, on
the small configuration's generated data (``conftest.py``); a cell appended after its own
saves the frames it built. The pipeline's own stage functions (ingest → clean → aggregate →
features → train → forecast, :mod:`tests.support.pipeline`) run on the same files. Compared:

- the panel: the same (region, product type, day) rows; ``revenue``, ``units`` and
  ``promo`` equal (floats within 1e-9 relative: the order of float sums differs);
- the features: the same rows and every feature equal, after the renaming below;
- the forecasts: the same 28 days for every series, within :data:`FORECAST_TOLERANCE`.

Deliberate differences, each aligned in one visible place below and counted by a test:

1. **Missing revenue.** The notebook drops the row (``dropna``); the pipeline repairs it
   from ``units × unit_price`` (rounded to the cent) and counts it as repaired. Aligned with
   ``preprocessing.repair_revenue=false`` (:data:`ALIGN`).
2. **Scale.** The notebook fits raw revenue; the pipeline, by default, fits revenue divided by
   each series' recent level. Aligned with ``features.normalize=false``.
3. **Names and encodings.** ``rmean_7`` is ``roll_mean_7``, ``dow`` (0 = Monday) is
   ``day_of_week`` (1 = Monday), and so on (:data:`RENAME`).
4. **What the model cannot be configured out of.** The pipeline forces the forecast to rise
   with ``promo`` (a monotone constraint), seeds every LightGBM seed from ``random_seed``,
   trains deterministically, and orders the features its own way; the notebook trains with
   LightGBM's default seeds. Two such models differ as much as the notebook's own model
   trained with two seeds: :data:`FORECAST_TOLERANCE` is set from that spread.
5. **One model or several.** The pipeline serves a combination of candidates (LightGBM
   members on per-series scaled targets, baselines; :mod:`tasks.model.ensemble`), chosen on
   the backtest. The notebook's one LightGBM model is compared with the pipeline's LightGBM
   core (:func:`tasks.chain.train_lightgbm`, the model the candidates are built from).

The same, and checked here: category spelling (the notebook trims and lower-cases
``region`` and ``product_type`` before keeping the known values; so does the pipeline's
clean rule, ``preprocessing.normalize_categories``, which counts those rows as
``rows_normalised``); exact duplicates (the notebook drops copies before
filtering, the pipeline quarantines later copies of good rows: the same rows are kept);
rows dated after their arrival folder (the pipeline quarantines them; the notebook ignores
folders; the generated data has none); partial periods (daily data has none); the calendar
(both complete each series from its first to its last day of sales).
"""

from __future__ import annotations

import pandas as pd
import polars as pl
import pytest

from flows import config as conf
from flows import plan
from tasks import chain
from tasks.data import clean
from tests.notebooks.conftest import NotebookRun
from tests.support import SMALL
from tests.support.pipeline import app_config

KEYS = ["region", "product_type", "date"]
# The notebook's settings (HORIZON, num_boost_round; the rest are the pipeline's defaults),
# then differences 1 and 2 of the module docstring.
ALIGN = [
    "forecast.horizon=28",
    "model.num_boost_round=300",
    "preprocessing.repair_revenue=false",
    "features.normalize=false",
]
RENAME = {
    "rmean_7": "roll_mean_7",
    "rstd_7": "roll_std_7",
    "rmean_28": "roll_mean_28",
    "rstd_28": "roll_std_28",
    "dow": "day_of_week",
    "dom": "day_of_month",
    "woy": "week_of_year",
    "holiday": "is_holiday",
}
FLOAT_RTOL = 1e-9
# Σ|pipeline − notebook| / Σ|notebook| over the 6 series x 28 days. Measured 2026-12-05:
# 0.126 (totals +1.9%), while the notebook's own model trained with seed 7 instead of
# LightGBM's default moves its forecasts by 0.121: the pipeline is as close to the notebook
# as the notebook is to itself.
FORECAST_TOLERANCE = 0.15
SEED_SPREAD_FACTOR = 1.25
TOTAL_TOLERANCE = 0.03


def pipeline_clean(cfg: conf.AppConfig) -> clean.CleanResult:
    """The pipeline's ingest and clean stages on the raw files, counts reconciled."""
    params = plan.chain_params(cfg)
    return chain.clean(chain.ingest(params.source), params.clean)


@pytest.fixture(scope="module")
def aligned(before_run: NotebookRun) -> dict[str, pl.DataFrame]:
    """The pipeline's panel, features and forecasts with the differences aligned."""
    cfg = app_config(before_run.data, [*SMALL, *ALIGN])
    params = plan.chain_params(cfg)
    _, panel = chain.prepare(params)
    frame = chain.features(panel.panel, params.features)
    model = chain.train_lightgbm(frame, params.features, params.train)
    forecast = chain.forecast_lightgbm(model, panel.panel, params.features, params.forecast)
    return {"panel": panel.panel, "features": frame, "forecast": forecast}


def as_pandas(frame: pl.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame.select(columns).to_pandas()
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    return out.sort_values(KEYS).reset_index(drop=True)


def notebook_frame(run: NotebookRun, name: str, columns: list[str]) -> pd.DataFrame:
    frame = pd.read_parquet(run.saved / f"{name}.parquet").rename(columns=RENAME)
    if "day_of_week" in frame:
        frame["day_of_week"] = frame["day_of_week"] + 1
    for key in ("region", "product_type"):
        frame[key] = frame[key].astype(str)
    frame["date"] = frame["date"].astype("datetime64[ns]")
    return frame[columns].sort_values(KEYS).reset_index(drop=True)


def test_panel_equals_the_notebooks(
    before_run: NotebookRun, aligned: dict[str, pl.DataFrame]
) -> None:
    columns = [*KEYS, "revenue", "units", "promo"]
    ours = as_pandas(aligned["panel"], columns)
    theirs = notebook_frame(before_run, "panel", columns)
    assert len(ours) == len(theirs) > 0
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, rtol=FLOAT_RTOL)


def test_features_equal_the_notebooks(
    before_run: NotebookRun, aligned: dict[str, pl.DataFrame]
) -> None:
    columns = aligned["features"].columns
    assert set(columns) - set(KEYS) - {"revenue"} == {
        *RENAME.values(),
        "lag_1",
        "lag_7",
        "lag_14",
        "lag_28",
        "month",
        "promo",
    }
    ours = as_pandas(aligned["features"], columns)
    theirs = notebook_frame(before_run, "features", columns)
    pd.testing.assert_frame_equal(ours, theirs, check_dtype=False, rtol=FLOAT_RTOL)


def spread(a: pd.DataFrame, b: pd.DataFrame) -> float:
    """Σ|a − b| / Σ|b| over the same (series, day) rows."""
    both = a.merge(b, on=KEYS, suffixes=("_a", "_b"), validate="one_to_one")
    assert len(both) == len(a) == len(b)
    return float((both.forecast_a - both.forecast_b).abs().sum() / both.forecast_b.abs().sum())


def test_forecasts_match_the_notebooks_within_its_own_seed_spread(
    before_run: NotebookRun, aligned: dict[str, pl.DataFrame]
) -> None:
    columns = [*KEYS, "forecast"]
    ours = as_pandas(aligned["forecast"], columns)
    theirs = notebook_frame(before_run, "forecast", columns)
    reseeded = notebook_frame(before_run, "forecast_seed7", columns)
    to_notebook, seed_spread = spread(ours, theirs), spread(reseeded, theirs)
    total = ours.forecast.sum() / theirs.forecast.sum() - 1
    assert to_notebook <= FORECAST_TOLERANCE
    assert to_notebook <= SEED_SPREAD_FACTOR * seed_spread
    assert abs(total) <= TOTAL_TOLERANCE


def test_kept_rows_reconcile_and_every_difference_is_counted(before_run: NotebookRun) -> None:
    files, raw_rows, notebook_kept = before_run.rows()
    aligned_cfg = app_config(before_run.data, [*SMALL, *ALIGN])
    default_cfg = app_config(before_run.data, SMALL)
    aligned_counts = pipeline_clean(aligned_cfg).counts
    default_counts = pipeline_clean(default_cfg).counts
    assert files == 240
    assert aligned_counts["rows_in"] == default_counts["rows_in"] == raw_rows
    assert aligned_counts["rows_kept"] == notebook_kept  # aligned, the same rows are kept
    # 1. rows the notebook dropped for missing revenue, which the pipeline repairs by default
    repaired = default_counts["rows_repaired"]
    assert repaired > 0
    assert aligned_counts["null_revenue"] == repaired + default_counts["null_revenue"]
    assert default_counts["rows_kept"] == notebook_kept + repaired
    # the same: case and space variants of the categories, kept by both, counted here
    assert aligned_counts["rows_normalised"] == default_counts["rows_normalised"] > 0
    # the same on this data: nothing is dated after its arrival folder
    assert "future_date" not in default_counts
