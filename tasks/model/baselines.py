"""Baseline and statistical candidates: naive, seasonal naive, moving average, and
statsforecast's AutoETS / AutoTheta / MSTL (imported only when one is configured).

Each takes ``history`` (keys, date, revenue: rows before the origin) and ``future``
(keys, date, step: the rows to forecast, step 1 = the first period after the origin) and
returns keys, date, forecast. Unknown periods in the history are forward-filled per series
(then zero) first.
"""

# ruff: noqa: PLC0415  (statsforecast is imported only when a statistical candidate runs)

from __future__ import annotations

from typing import Any

import polars as pl

from tasks.model.features import TARGET

PANDAS_FREQ = {"1d": "D", "1w": "W-MON", "1mo": "MS"}
MAX_ETS_SEASON = 24  # AutoETS with a longer season is slow and unstable: non-seasonal then


def filled(history: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """History sorted per series, unknown targets forward-filled, then zero."""
    return history.sort([*keys, "date"]).with_columns(
        pl.col(TARGET).cast(pl.Float64).forward_fill().over(keys).fill_null(0.0)
    )


def naive(history: pl.DataFrame, future: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Each series' last value, repeated."""
    last = filled(history, keys).group_by(keys).agg(pl.col(TARGET).last().alias("forecast"))
    return future.select(*keys, "date").join(last, on=keys, how="left")


def moving_average(
    history: pl.DataFrame, future: pl.DataFrame, keys: list[str], window: int
) -> pl.DataFrame:
    """Mean of each series' last ``window`` periods, flat."""
    mean = (
        filled(history, keys)
        .group_by(keys, maintain_order=True)
        .agg(pl.col(TARGET).tail(window).mean().alias("forecast"))
    )
    return future.select(*keys, "date").join(mean, on=keys, how="left")


def seasonal_naive(
    history: pl.DataFrame, future: pl.DataFrame, keys: list[str], season: int, window: int
) -> pl.DataFrame:
    """Step h takes the value ``season`` periods back; the moving average where history is short."""
    last = (
        filled(history, keys)
        .group_by(keys, maintain_order=True)
        .tail(season)
        .with_columns(
            pl.int_range(pl.len()).over(keys).alias("pos"), pl.len().over(keys).alias("m")
        )
        .filter(pl.col("m") == season)
        .select(*keys, "pos", pl.col(TARGET).alias("forecast"))
    )
    steps = future.select(*keys, "date", ((pl.col("step") - 1) % season).alias("pos"))
    out = steps.join(last, on=[*keys, "pos"], how="left").drop("pos")
    ma = moving_average(history, future, keys, window).rename({"forecast": "ma"})
    return out.join(ma, on=[*keys, "date"], how="left").select(
        *keys, "date", pl.coalesce("forecast", "ma").alias("forecast")
    )


def _model(name: str, season: int) -> Any:
    from statsforecast.models import MSTL, AutoETS, AutoTheta

    if name == "auto_ets":
        return AutoETS(season_length=season if season <= MAX_ETS_SEASON else 1)
    if name == "auto_theta":
        return AutoTheta(season_length=season)
    if name == "mstl":
        return MSTL(season_length=[season], trend_forecaster=AutoETS(model="ZZN"))
    raise ValueError(f"statistical candidate {name!r} is not one of auto_ets, auto_theta, mstl")


def statistical(
    name: str,
    history: pl.DataFrame,
    future: pl.DataFrame,
    keys: list[str],
    season: int,
    frequency: str,
) -> pl.DataFrame:
    """A statsforecast model fitted per series (naive where it fails), forecast by step."""
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    ids = pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator="\x1f")
    train = filled(history, keys).select(
        ids.alias("unique_id"), pl.col("date").alias("ds"), pl.col(TARGET).alias("y")
    )
    frame = train.to_pandas()
    frame["ds"] = frame["ds"].astype("datetime64[ns]")
    model = _model(name, season)
    sf = StatsForecast(
        models=[model], freq=PANDAS_FREQ[frequency], n_jobs=1, fallback_model=Naive()
    )
    horizon = future["step"].cast(pl.Int64).max()
    assert isinstance(horizon, int)
    out = pl.from_pandas(sf.forecast(df=frame, h=horizon))
    column = next(c for c in out.columns if c not in ("unique_id", "ds"))
    steps = out.select(
        pl.col("unique_id").cast(pl.String),
        pl.int_range(1, pl.len() + 1).over("unique_id").cast(pl.Int32).alias("step"),
        pl.col(column).cast(pl.Float64).alias("forecast"),
    )
    return (
        future.with_columns(ids.alias("unique_id"), pl.col("step").cast(pl.Int32))
        .join(steps, on=["unique_id", "step"], how="left")
        .select(*keys, "date", "forecast")
    )
