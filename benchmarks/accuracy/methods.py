"""Forecasting methods, each ``fn(history, future, dataset) -> frame``.

``history``: unique_id, region, product_type, date, y, promo (rows before the origin);
``future``: the same keys, date, step and promo of the rows to forecast (no ``y``).
A method returns unique_id, date, ``forecast`` and, when it gives intervals itself,
``p10`` and ``p90`` (the bounds of its 80% interval).
"""

# ruff: noqa: PLC0415  (statsforecast / mlforecast are imported only by the methods using them)

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import polars as pl

from benchmarks.accuracy import pipeline
from benchmarks.accuracy.data import Dataset

Method = Callable[[pl.DataFrame, pl.DataFrame, Dataset], pl.DataFrame]
LEVEL = 80  # native interval of the statistical models: P10..P90


def _filled(history: pl.DataFrame) -> pl.DataFrame:
    """History with unknown periods forward-filled per series (then zero)."""
    return history.sort("unique_id", "date").with_columns(
        pl.col("y").forward_fill().over("unique_id").fill_null(0.0)
    )


def naive(history: pl.DataFrame, future: pl.DataFrame, _ds: Dataset) -> pl.DataFrame:
    """Each series' last value, repeated."""
    last = _filled(history).group_by("unique_id").agg(pl.col("y").last().alias("forecast"))
    return future.select("unique_id", "date").join(last, on="unique_id", how="left")


def moving_average(history: pl.DataFrame, future: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
    """Mean of each series' last season (the pipeline's default window), flat."""
    mean = (
        _filled(history)
        .group_by("unique_id", maintain_order=True)
        .agg(pl.col("y").tail(ds.season).mean().alias("forecast"))
    )
    return future.select("unique_id", "date").join(mean, on="unique_id", how="left")


def seasonal_naive(history: pl.DataFrame, future: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
    """Value one season before each step's period; the moving average where history is short."""
    tail = (
        _filled(history)
        .group_by("unique_id", maintain_order=True)
        .tail(ds.season)
        .with_columns(
            pl.int_range(pl.len()).over("unique_id").alias("pos"),
            pl.len().over("unique_id").alias("m"),
        )
        .filter(pl.col("m") == ds.season)
        .select("unique_id", "pos", pl.col("y").alias("forecast"))
    )
    steps = future.select("unique_id", "date", ((pl.col("step") - 1) % ds.season).alias("pos"))
    out = steps.join(tail, on=["unique_id", "pos"], how="left").drop("pos")
    ma = moving_average(history, future, ds).rename({"forecast": "ma"})
    return out.join(ma, on=["unique_id", "date"], how="left").select(
        "unique_id", "date", pl.coalesce("forecast", "ma").alias("forecast")
    )


def _pandas(history: pl.DataFrame) -> Any:
    frame = _filled(history).select("unique_id", pl.col("date").alias("ds"), "y").to_pandas()
    frame["ds"] = frame["ds"].astype("datetime64[ns]")
    return frame


def _from_pandas(frame: Any, column: str, with_interval: bool) -> pl.DataFrame:
    out = pl.from_pandas(frame.reset_index() if "unique_id" not in frame.columns else frame)
    cols = [
        pl.col("unique_id").cast(pl.String),
        pl.col("ds").cast(pl.Date).alias("date"),
        pl.col(column).cast(pl.Float64).alias("forecast"),
    ]
    if with_interval:
        cols += [
            pl.col(f"{column}-lo-{LEVEL}").cast(pl.Float64).alias("p10"),
            pl.col(f"{column}-hi-{LEVEL}").cast(pl.Float64).alias("p90"),
        ]
    return out.select(cols)


def statsforecast_method(make_model: Callable[[Dataset], Any], column: str) -> Method:
    """A statsforecast model (one per series), with its own 80% interval; naive where it fails."""

    def run(history: pl.DataFrame, future: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
        from statsforecast import StatsForecast
        from statsforecast.models import Naive

        sf = StatsForecast(
            models=[make_model(ds)], freq=ds.pandas_freq, n_jobs=1, fallback_model=Naive()
        )
        fc = sf.forecast(df=_pandas(history), h=ds.horizon, level=[LEVEL])
        out = _from_pandas(fc, column, True)
        return future.select("unique_id", "date").join(out, on=["unique_id", "date"], how="left")

    return run


def _auto_ets(ds: Dataset) -> Any:
    from statsforecast.models import AutoETS

    return AutoETS(season_length=ds.season if ds.season <= 24 else 1)


def _auto_theta(ds: Dataset) -> Any:
    from statsforecast.models import AutoTheta

    return AutoTheta(season_length=ds.season)


def _mstl(ds: Dataset) -> Any:
    from statsforecast.models import MSTL, AutoETS

    return MSTL(season_length=list(ds.long_seasons), trend_forecaster=AutoETS(model="ZZN"))


def _holiday_flag(country: str) -> Callable[[Any], Any]:
    import holidays
    import numpy as np
    import pandas as pd

    def is_holiday(dates: Any) -> Any:
        years = range(int(dates.year.min()), int(dates.year.max()) + 1)
        days = pd.to_datetime(list(holidays.country_holidays(country, years=years)))
        return np.asarray(dates.isin(days), dtype=np.int32)

    return is_holiday


def mlforecast_method(scaled: bool) -> Method:
    """mlforecast LightGBM with the pipeline's lags, windows, date features and parameters.

    ``scaled`` adds mlforecast's ``LocalStandardScaler`` (per-series standardised target);
    LightGBM's tweedie objective needs non-negative labels, so that variant uses L2.
    """

    def run(history: pl.DataFrame, future: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
        import lightgbm as lgb
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import RollingMean, RollingStd
        from mlforecast.target_transforms import LocalStandardScaler

        spec = pipeline.feature_spec(_ours_settings(ds))
        hyper, rounds, seed = pipeline.default_model_settings()
        params = {**hyper, "n_estimators": rounds, "random_state": seed, "verbosity": -1}
        params.update(deterministic=True, force_row_wise=True)
        if scaled:
            params["objective"] = "regression"
        windows: list[Any] = []
        for w in spec.window_sizes:
            windows += [RollingMean(w, min_samples=1), RollingStd(w, min_samples=2)]
        dates: list[Any] = {
            "1d": ["dayofweek", "day", "week", "month"],
            "1w": ["week", "month"],
            "1mo": ["month"],
        }[ds.frequency]
        if ds.frequency == "1d" and ds.holiday_country:
            dates.append(_holiday_flag(ds.holiday_country))
        fcst = MLForecast(
            models={"lgbm": lgb.LGBMRegressor(**params)},
            freq=ds.pandas_freq,
            lags=list(spec.lags),
            lag_transforms={1: windows},
            date_features=dates,
            target_transforms=[LocalStandardScaler()] if scaled else None,
        )
        cols = ["unique_id", "region", "product_type", "date", "y"]
        cols += ["promo"] if ds.has_promo else []
        train = _filled(history).select(cols).rename({"date": "ds"}).to_pandas()
        for c in ("region", "product_type"):
            train[c] = train[c].astype("category")
        train["ds"] = train["ds"].astype("datetime64[ns]")
        fcst.fit(train, static_features=["region", "product_type"])
        x_df = None
        if ds.has_promo:
            x_df = future.select("unique_id", pl.col("date").alias("ds"), "promo").to_pandas()
            x_df["ds"] = x_df["ds"].astype("datetime64[ns]")
        pred = fcst.predict(ds.horizon, X_df=x_df)
        out = _from_pandas(pred, "lgbm", False)
        return future.select("unique_id", "date").join(out, on=["unique_id", "date"], how="left")

    return run


def _ours_settings(ds: Dataset) -> pipeline.OursSettings:
    hyper, rounds, seed = pipeline.default_model_settings()
    return pipeline.OursSettings(
        frequency=ds.frequency,
        holiday_country=ds.holiday_country,
        use_promo=ds.has_promo,
        hyperparameters=hyper,
        num_boost_round=rounds,
        seed=seed,
    )


def ours(history: pl.DataFrame, future: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
    """The pipeline's model as it is today (through the adapter)."""
    out = pipeline.ours_forecast(history, future, _ours_settings(ds))
    return future.select("unique_id", "date").join(out, on=["unique_id", "date"], how="left")


# Chosen on the windows before the scored ones (mean relative WAPE change over the four
# data sets' first three windows): min_data_in_leaf 100 helps the mean-scaled model
# (-1.6%) and hurts the standardised one (+1.5%), which keeps the project's 20.
SCALED_OVERRIDES: dict[str, dict[str, Any]] = {"mean": {"min_data_in_leaf": 100}, "standard": {}}


def scaled_lgbm(scaling: str) -> Method:
    """The pipeline's LightGBM with a per-series target scaling (a candidate of the ensemble)."""

    def run(history: pl.DataFrame, future: pl.DataFrame, ds: Dataset) -> pl.DataFrame:
        base = _ours_settings(ds)
        hyper = {**base.hyperparameters, **SCALED_OVERRIDES[scaling]}
        settings = dataclasses.replace(base, hyperparameters=hyper)
        out = pipeline.scaled_lgbm_forecast(history, future, settings, scaling)
        return future.select("unique_id", "date").join(out, on=["unique_id", "date"], how="left")

    return run


def registry(ds: Dataset) -> dict[str, Method]:
    """The methods run on ``ds``: baselines, statistical, mlforecast, ours and candidates."""
    methods: dict[str, Method] = {
        "naive": naive,
        "seasonal_naive": seasonal_naive,
        "moving_average": moving_average,
        "auto_ets": statsforecast_method(_auto_ets, "AutoETS"),
        "auto_theta": statsforecast_method(_auto_theta, "AutoTheta"),
    }
    if ds.long_seasons:
        methods["mstl"] = statsforecast_method(_mstl, "MSTL")
    methods["mlf_lgbm"] = mlforecast_method(scaled=False)
    methods["mlf_lgbm_scaled"] = mlforecast_method(scaled=True)
    methods["ours"] = ours
    methods["lgbm_mean"] = scaled_lgbm("mean")
    methods["lgbm_standard"] = scaled_lgbm("standard")
    return methods
