"""mlforecast (optional extra): preprocessing and fit with the same lags, windows and
date features as the pipeline, LightGBM with the same parameters and rounds.

Starts from the pipeline's panel (saved by the ``ours`` case): mlforecast has no ingest
or cleaning, so the comparison is features vs ``preprocess`` and features + train vs
``fit``. Not a runtime dependency: when it is not importable the case is skipped.
"""

# ruff: noqa: PLC0415  (imports inside functions: a case process loads only what it measures)

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.measure import Recorder
from benchmarks.params import BenchParams


def available() -> bool:
    """Whether mlforecast (and pandas) can be imported."""
    try:
        import mlforecast  # noqa: F401
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def _holiday_flag(country: str) -> Any:
    import holidays
    import numpy as np
    import pandas as pd

    def is_holiday(dates: pd.DatetimeIndex) -> np.ndarray:
        years = range(int(dates.year.min()), int(dates.year.max()) + 1)
        days = pd.to_datetime(list(holidays.country_holidays(country, years=years)))
        return np.asarray(dates.isin(days), dtype=np.int32)

    return is_holiday


def model_frame(panel_path: Path, p: BenchParams) -> Any:
    """The panel as mlforecast wants it: unique_id, ds, y, promo and static categoricals."""
    import pandas as pd

    df = pd.read_parquet(panel_path)
    df["date"] = pd.to_datetime(df["date"])
    keys = p.series_keys
    df["unique_id"] = df[keys].astype(str).agg("|".join, axis=1)
    for c in p.categorical_columns:
        df[c] = df[c].astype("category")
    df = df.rename(columns={"date": "ds", "revenue": "y"})
    return df[["unique_id", "ds", "y", "promo", *p.categorical_columns]]


def forecaster(p: BenchParams) -> Any:
    """MLForecast with the pipeline's lags, windows (over the target shifted by one) and dates."""
    import lightgbm as lgb
    from mlforecast import MLForecast
    from mlforecast.lag_transforms import RollingMean, RollingStd

    windows: list[Any] = []
    for w in p.window_sizes:
        windows += [
            RollingMean(window_size=w, min_samples=1),
            RollingStd(window_size=w, min_samples=2),
        ]
    dates: list[Any] = ["dayofweek", "day", "week", "month"]
    if p.holiday_country:
        dates.append(_holiday_flag(p.holiday_country))
    params = {
        **p.hyperparameters,
        "n_estimators": p.num_boost_round,
        "random_state": p.seed,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    return MLForecast(
        models={"lgbm": lgb.LGBMRegressor(**params)},
        freq="D",
        lags=list(p.lags),
        lag_transforms={1: windows},
        date_features=dates,
    )


def run(p: BenchParams, rec: Recorder, work_dir: str) -> None:
    """Time ``preprocess`` (features) and ``fit`` (features + train) on the saved panel."""
    statics = list(p.categorical_columns)
    with rec.stage("load"):  # imports mlforecast, reads the panel: not compared
        df = model_frame(Path(work_dir) / "panel.parquet", p)
        model = forecaster(p)
    with rec.stage("preprocess"):
        prep = model.preprocess(df, static_features=statics)
    rec.info["preprocess_rows"] = len(prep)
    rec.info["preprocess_columns"] = list(prep.columns)
    with rec.stage("fit"):
        fcst = forecaster(p).fit(df, static_features=statics)
    with rec.stage("forecast"):
        future = fcst.make_future_dataframe(p.horizon)
        future["promo"] = 0.0
        out = fcst.predict(p.horizon, X_df=future)
    rec.info["forecast_rows"] = len(out)
