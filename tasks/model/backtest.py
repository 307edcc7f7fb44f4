"""Evaluate: rolling-origin backtest of every candidate (LightGBM members, statistical
models, baselines) and of their combination (:mod:`tasks.model.ensemble`), scored overall,
per horizon step and per segment on the windows after the ones the choice was made on
(the gate is :mod:`tasks.model.gate`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from tasks.errors import DataError
from tasks.model import intervals
from tasks.model.candidates import CandidateParams, candidate_forecasts, fit_member
from tasks.model.ensemble import Combination, CombinationParams, CombinedBacktest, combine_backtest
from tasks.model.features import TARGET, FeatureSpec
from tasks.model.metrics import score_by, score_methods
from tasks.model.train import TrainParams


@dataclass(frozen=True)
class BacktestParams:
    """How to backtest: windows of ``horizon`` periods, baseline settings, segment column."""

    horizon: int
    windows: int
    season_length: int
    moving_average_window: int
    segment_by: str
    candidates: CandidateParams
    combination: CombinationParams

    @property
    def candidate_params(self) -> CandidateParams:
        """The candidates with this backtest's season length and moving-average window."""
        return replace(
            self.candidates,
            season_length=self.season_length,
            moving_average_window=self.moving_average_window,
        )


@dataclass(frozen=True)
class BacktestResult:
    """Per-row predictions of the scored windows, their metrics, and the combination the
    final forecast uses (chosen on the backtest)."""

    predictions: pl.DataFrame
    metrics: dict[str, Any]
    combination: Combination


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


def backtest_window(
    panel: pl.DataFrame,
    origin: dt.date,
    spec: FeatureSpec,
    params: BacktestParams,
    train: TrainParams,
) -> pl.DataFrame:
    """Fit every candidate on periods before ``origin`` and forecast ``horizon`` periods.

    One row per (series, period) of the window: keys, date, step, actual and a column per
    candidate and LightGBM member.
    """
    keys = spec.series_keys
    history = panel.filter(pl.col("date") < origin)
    dates = panel.filter(pl.col("date") >= origin)["date"].unique().sort().head(params.horizon)
    window = panel.filter(pl.col("date").is_in(dates.implode()))
    future = window.select(*keys, "date", "promo").with_columns(
        pl.col("date").rank("dense").cast(pl.Int32).alias("step")
    )
    future = future.join(history.select(keys).unique(), on=keys, how="semi")
    cand = params.candidate_params
    members = [fit_member(history, spec, train, s, cand) for s in cand.lightgbm]
    table = candidate_forecasts(history, future, spec, cand, members)
    actual = window.select(*keys, "date", pl.col(TARGET).cast(pl.Float64).alias("actual"))
    return table.join(actual, on=[*keys, "date"], how="left").with_columns(
        pl.lit(origin).alias("origin")
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
    """One backtest window on its own, with each series' segment: a unit of parallel work."""
    keys = spec.series_keys
    rows = backtest_window(panel, origin, spec, params, train)
    if params.segment_by not in rows.columns:
        segments = panel.select(*keys, params.segment_by).unique(subset=keys)
        rows = rows.join(segments, on=keys, how="left")
    return rows


def score(
    windows: list[pl.DataFrame], starts: list[dt.date], spec: FeatureSpec, params: BacktestParams
) -> BacktestResult:
    """Combine the candidates of the windows (choices made on earlier windows, scored on
    later ones) and score them overall, per step, segment and window."""
    keys = spec.series_keys
    table = pl.concat(
        [w.with_columns(pl.lit(k, dtype=pl.Int32).alias("window")) for k, w in enumerate(windows)],
        how="diagonal_relaxed",
    ).sort(["window", *keys, "date"])
    names = params.candidates.names
    extra = ["origin", *([params.segment_by] if params.segment_by not in keys else [])]
    combined = combine_backtest(table.drop(extra), names, keys, params.combination)
    skip = {*keys, "date", "step", "actual", "origin", "window", params.segment_by}
    methods = [c for c in table.columns if c not in skip]
    model = combined.rows.select(
        "window",
        *keys,
        "date",
        pl.col("forecast").alias("model"),
        *[intervals.qcol(q) for q in params.combination.quantiles],
        "recipe",
    )
    predictions = table.join(model, on=["window", *keys, "date"], how="inner")
    predictions = predictions.sort(["origin", *keys, "date"])
    scored_origins = [starts[c["window"]] for c in combined.choices]
    metrics = backtest_metrics(predictions, params, methods)
    metrics["windows"] = {
        "origins": [o.isoformat() for o in starts],
        "scored": [o.isoformat() for o in scored_origins],
        "horizon": params.horizon,
    }
    metrics["ensemble"] = ensemble_summary(combined, starts, params)
    return BacktestResult(predictions, metrics, combined.combination)


def backtest(
    panel: pl.DataFrame,
    spec: FeatureSpec,
    params: BacktestParams,
    train: TrainParams,
) -> BacktestResult:
    """Rolling-origin backtest of every candidate, their combination chosen on earlier
    windows and scored on later ones; metrics overall, per step, segment and window."""
    starts = window_origins(panel, spec, params)
    windows = [window_predictions(panel, o, spec, params, train) for o in starts]
    return score(windows, starts, spec, params)


def backtest_metrics(
    predictions: pl.DataFrame, params: BacktestParams, methods: list[str]
) -> dict[str, Any]:
    """Overall, per-step, per-segment and per-window metrics of the scored windows."""
    quantiles = params.combination.quantiles
    rows = predictions
    overall = score_methods(rows, methods=["model", *methods])
    overall["model"].update(interval_scores(rows, quantiles))
    per_horizon = score_by(rows, "step", methods=["model", *methods])
    for entry in per_horizon:
        group = rows.filter(pl.col("step") == entry["step"])
        entry["model"] = {**entry["model"], **interval_scores(group, quantiles)}
    return {
        "backtest": overall,
        "per_horizon": per_horizon,
        "per_segment": score_by(
            rows.with_columns(pl.col(params.segment_by).alias("segment")), "segment"
        ),
        "per_window": score_by(rows, "origin"),
    }


def interval_scores(rows: pl.DataFrame, quantiles: list[float]) -> dict[str, float | None]:
    """Coverage and pinball of the model's quantiles (forecast = the model's point)."""
    return intervals.interval_metrics(
        rows.with_columns(pl.col("model").alias("forecast")), quantiles
    )


def ensemble_summary(
    combined: CombinedBacktest, starts: list[dt.date], params: BacktestParams
) -> dict[str, Any]:
    """How the model was chosen: per scored window and for the final forecast, in words too."""
    final = combined.combination
    c = params.combination
    return {
        "candidates": params.candidates.names,
        "recipes": list(c.recipes),
        "lookback": c.lookback,
        "calibration_windows": c.calibration_windows,
        "spread_weight": c.spread_weight,
        "quantiles": list(c.quantiles),
        "per_window": [
            {
                "origin": starts[ch["window"]].isoformat(),
                "recipe": ch["recipe"],
                "weights": ch["weights"],
            }
            for ch in combined.choices
        ],
        "final": {"recipe": final.recipe, "weights": final.weights},
        "how": (
            f"recipes {', '.join(c.recipes)} over candidates "
            f"{', '.join(params.candidates.names)}; weights 1/WAPE on the {c.lookback} "
            f"windows before each window, and the recipe with the lowest WAPE on those "
            f"windows; scored on the later windows only"
        ),
    }
