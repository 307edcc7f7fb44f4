"""Evaluate: rolling-origin backtest of the model against seasonal-naive and moving-average
baselines, scored overall, per horizon step and per segment (the gate is :mod:`tasks.model.gate`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import polars as pl

from tasks.errors import DataError
from tasks.model.features import TARGET, FeatureSpec, build_features
from tasks.model.forecast import recursive_forecast
from tasks.model.metrics import score_by, score_methods
from tasks.model.train import TrainParams, train_model, training_rows


@dataclass(frozen=True)
class BacktestParams:
    """How to backtest: windows of ``horizon`` periods, baseline settings, segment column."""

    horizon: int
    windows: int
    season_length: int
    moving_average_window: int
    segment_by: str


@dataclass(frozen=True)
class BacktestResult:
    """Per-row backtest predictions and the metrics computed from them."""

    predictions: pl.DataFrame
    metrics: dict[str, Any]


class ShortHistoryError(DataError):
    """The panel has fewer periods than the features and the backtest need."""


def periods_needed(lookback: int, horizon: int, windows: int) -> int:
    """Periods a run needs: the longest lag/window plus one to learn from, then the windows."""
    return lookback + 1 + windows * horizon


def short_history(available: int, lookback: int, horizon: int, windows: int) -> ShortHistoryError:
    """The error for too little history: periods needed and available, and keys to change."""
    needed = periods_needed(lookback, horizon, windows)
    ways = []
    if (fit := (available - lookback - 1) // horizon) >= 1:
        ways.append(f"set evaluation.backtest_windows={fit}")
    if (fit := (available - lookback - 1) // max(windows, 1)) >= 1:
        ways.append(f"set forecast.horizon={fit}")
    if (fit := available - 1 - windows * horizon) >= 1:
        ways.append(f"use features.lags and features.window_sizes of at most {fit}")
    ways.append("add history to data.input_path")
    return ShortHistoryError(
        f"history: the panel has {available} period(s); this run needs {needed}: the longest "
        f"lag or window ({lookback}) plus 1 to learn from, then {windows} backtest window(s) "
        f"of {horizon} (forecast.horizon)",
        fix="; or ".join(ways),
    )


def check_history(panel: pl.DataFrame, spec: FeatureSpec, params: BacktestParams) -> None:
    """Raise :class:`ShortHistoryError` before training when the panel is too short."""
    available = panel["date"].n_unique()
    if available < periods_needed(spec.lookback, params.horizon, params.windows):
        raise short_history(available, spec.lookback, params.horizon, params.windows)


def origins(dates: list[dt.date], horizon: int, windows: int, min_history: int) -> list[dt.date]:
    """First period of each backtest window; the last window ends at the last period."""
    if windows < 1 or len(dates) < horizon * windows + min_history:
        raise short_history(len(dates), min_history - 1, horizon, windows)
    return [dates[len(dates) - (windows - k) * horizon] for k in range(windows)]


def seasonal_naive(
    history: pl.DataFrame, future: pl.DataFrame, keys: list[str], season: int
) -> pl.DataFrame:
    """Repeat each series' last full season: step h takes the value ``season`` periods back."""
    last = (
        history.sort([*keys, "date"])
        .group_by(keys, maintain_order=True)
        .tail(season)
        .with_columns(
            pl.int_range(pl.len()).over(keys).alias("pos"),
            pl.len().over(keys).alias("m"),
        )
        .filter(pl.col("m") == season)
        .select(*keys, "pos", pl.col(TARGET).alias("seasonal_naive"))
    )
    steps = future.with_columns(((pl.col("step") - 1) % season).alias("pos"))
    return steps.join(last, on=[*keys, "pos"], how="left").drop("pos")


def moving_average(history: pl.DataFrame, keys: list[str], window: int) -> pl.DataFrame:
    """Mean of each series' last ``window`` periods, as a flat forecast."""
    return (
        history.sort([*keys, "date"])
        .group_by(keys, maintain_order=True)
        .tail(window)
        .group_by(keys)
        .agg(pl.col(TARGET).mean().alias("moving_average"))
    )


def backtest_window(
    panel: pl.DataFrame,
    features: pl.DataFrame,
    origin: dt.date,
    spec: FeatureSpec,
    params: BacktestParams,
    train: TrainParams,
) -> pl.DataFrame:
    """Train on periods before ``origin``, forecast ``horizon`` periods, add baselines."""
    keys = spec.series_keys
    history = panel.filter(pl.col("date") < origin)
    dates = panel.filter(pl.col("date") >= origin)["date"].unique().sort().head(params.horizon)
    window = panel.filter(pl.col("date").is_in(dates.implode()))
    future = window.select(*keys, "date", "promo").with_columns(
        pl.col("date").rank("dense").cast(pl.Int32).alias("step")
    )
    model = train_model(training_rows(features, spec.normalize, before=origin), spec, train)
    preds = recursive_forecast(model, history, future.drop("step"), spec)
    rows = future.join(
        window.select(*keys, "date", pl.col(TARGET).alias("actual")), on=[*keys, "date"]
    ).join(preds.rename({"forecast": "model"}), on=[*keys, "date"], how="inner")
    rows = seasonal_naive(history, rows, keys, params.season_length)
    rows = rows.join(
        moving_average(history, keys, params.moving_average_window), on=keys, how="left"
    )
    return rows.with_columns(
        pl.lit(origin).alias("origin"),
        pl.coalesce("seasonal_naive", "moving_average").alias("seasonal_naive"),
    )


def window_origins(panel: pl.DataFrame, spec: FeatureSpec, params: BacktestParams) -> list[dt.date]:
    """First period of each backtest window of ``panel`` (checks ``segment_by`` first)."""
    if params.segment_by not in panel.columns:
        raise ValueError(
            f"evaluation.segment_by={params.segment_by!r} is not a panel column ({panel.columns})"
        )
    dates = panel["date"].unique().sort().to_list()
    return origins(dates, params.horizon, params.windows, spec.lookback + 1)


def window_predictions(
    panel: pl.DataFrame,
    origin: dt.date,
    spec: FeatureSpec,
    params: BacktestParams,
    train: TrainParams,
) -> pl.DataFrame:
    """One backtest window on its own (features built here): a unit of parallel work."""
    return backtest_window(panel, build_features(panel, spec), origin, spec, params, train)


def score(
    windows: list[pl.DataFrame], starts: list[dt.date], spec: FeatureSpec, params: BacktestParams
) -> BacktestResult:
    """Metrics overall, per horizon step, per segment and per window of the windows' rows."""
    predictions = pl.concat(windows).sort(["origin", *spec.series_keys, "date"])
    metrics = {
        "backtest": score_methods(predictions),
        "per_horizon": score_by(predictions, "step"),
        "per_segment": score_by(
            predictions.with_columns(pl.col(params.segment_by).alias("segment")),
            "segment",
        ),
        "per_window": score_by(predictions, "origin"),
        "windows": {
            "origins": [o.isoformat() for o in starts],
            "horizon": params.horizon,
        },
    }
    return BacktestResult(predictions=predictions, metrics=metrics)


def backtest(
    panel: pl.DataFrame,
    spec: FeatureSpec,
    params: BacktestParams,
    train: TrainParams,
) -> BacktestResult:
    """Rolling-origin backtest; metrics overall, per horizon step, per segment and per window."""
    starts = window_origins(panel, spec, params)
    features = build_features(panel, spec)
    windows = [backtest_window(panel, features, o, spec, params, train) for o in starts]
    return score(windows, starts, spec, params)
