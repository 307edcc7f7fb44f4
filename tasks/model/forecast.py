"""Forecast: recursive multi-step forecasts from a trained model and the panel's history.

Step by step, each period's prediction becomes the history the next period's lags and
windows read, so no feature ever sees an actual target at or after its own period.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tasks.data.aggregate import offset
from tasks.model.features import TARGET, FeatureSpec, build_features
from tasks.model.train import TrainedModel, predict


@dataclass(frozen=True)
class ForecastParams:
    """How far to forecast (periods) and an optional file of planned promotions."""

    horizon: int
    promo_plan_path: str | None


def future_periods(
    history: pl.DataFrame, series_keys: list[str], frequency: str, horizon: int
) -> pl.DataFrame:
    """For each series, every period after its last one up to ``horizon`` past the global end."""
    if horizon < 1:
        raise ValueError(f"forecast.horizon must be >= 1, got {horizon}")
    end = pl.lit(history["date"].max()).dt.offset_by(offset(frequency, horizon))
    return (
        history.group_by(series_keys)
        .agg(pl.col("date").max().alias("last"))
        .with_columns(
            pl.date_ranges(pl.col("last").dt.offset_by(frequency), end, interval=frequency).alias(
                "date"
            )
        )
        .explode("date")
        .drop("last")
        .sort([*series_keys, "date"])
    )


def attach_promo(
    future: pl.DataFrame, series_keys: list[str], promo_plan: pl.DataFrame | None
) -> pl.DataFrame:
    """Planned promo share per (series, period); 0 where no plan says otherwise."""
    if promo_plan is None or promo_plan.height == 0:
        return future.with_columns(pl.lit(0.0).alias("promo"))
    plan = promo_plan.select(*series_keys, "date", pl.col("promo").cast(pl.Float64))
    return future.join(plan, on=[*series_keys, "date"], how="left").with_columns(
        pl.col("promo").fill_null(0.0)
    )


def recursive_forecast(
    model: TrainedModel, history: pl.DataFrame, future: pl.DataFrame, spec: FeatureSpec
) -> pl.DataFrame:
    """Predict every row of ``future`` (keys, date, promo) in date order, feeding predictions back.

    Returns keys, date and ``forecast`` (never negative) for each future row whose series
    has history; series without history are left out.
    """
    keys = spec.series_keys
    columns = [*keys, "date", TARGET, "promo"]
    tail = history.sort([*keys, "date"]).group_by(keys, maintain_order=True).tail(spec.lookback)
    known = tail.select(keys).unique()
    todo = future.join(known, on=keys, how="semi").with_columns(
        pl.lit(None, dtype=pl.Float64).alias(TARGET)
    )
    work = pl.concat(
        [
            tail.select(columns).with_columns(pl.col(TARGET).cast(pl.Float64)),
            todo.select(columns),
        ],
        how="vertical_relaxed",
    )
    for day in todo["date"].unique().sort():
        # features look back only: the rows after ``day`` change nothing for it
        rows = build_features(work.filter(pl.col("date") <= day), spec).filter(
            pl.col("date") == day
        )
        step = rows.select(*keys, "date").with_columns(pl.Series(TARGET, predict(model, rows)))
        work = work.update(step, on=[*keys, "date"])
    return (
        work.join(todo.select(*keys, "date"), on=[*keys, "date"], how="semi")
        .rename({TARGET: "forecast"})
        .select(*keys, "date", "forecast")
        .sort([*keys, "date"])
    )


def active_series(panel: pl.DataFrame, spec: FeatureSpec, horizon: int) -> pl.DataFrame:
    """Keys of the series seen within the last ``horizon`` periods of the panel."""
    cutoff = pl.lit(panel["date"].max()).dt.offset_by(f"-{offset(spec.frequency, horizon)}")
    return (
        panel.group_by(spec.series_keys)
        .agg(pl.col("date").max().alias("last"))
        .filter(pl.col("last") >= cutoff)
        .select(spec.series_keys)
    )


def forecast_next(
    model: TrainedModel,
    panel: pl.DataFrame,
    spec: FeatureSpec,
    horizon: int,
    promo_plan: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Forecasts for the ``horizon`` periods after the panel's last period, for every series.

    A series whose last period is more than ``horizon`` periods before the panel's end has
    stopped reporting (see :func:`active_series`) and is not forecast.
    """
    panel = panel.join(active_series(panel, spec, horizon), on=spec.series_keys, how="semi")
    future = future_periods(panel, spec.series_keys, spec.frequency, horizon)
    future = attach_promo(future, spec.series_keys, promo_plan)
    out = recursive_forecast(model, panel, future, spec)
    last = panel["date"].max()
    return out.filter(pl.col("date") > last)
