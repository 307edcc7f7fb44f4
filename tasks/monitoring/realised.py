"""Realised accuracy: published forecasts against the actuals that have arrived since.

Each run pairs the serving forecasts of earlier runs with the actuals now in its panel
(:func:`realised_pairs`), upserts the pairs into a history table keyed by
``run_id``/series/``date`` (:func:`append_history`; re-running a run never duplicates, and
a revised actual replaces the old one), and scores the history per horizon step, segment
and forecast origin (:func:`realised_metrics`). :func:`accuracy_check` compares the recent
realised WAPE with the backtest's. All pure; :mod:`tasks.monitoring.store` does the I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from tasks.model.features import TARGET
from tasks.model.metrics import metric_exprs
from tasks.monitoring.store import upsert

PAIR_COLUMNS = ("run_id", "origin", "step", "date", "forecast", "actual", "realised_by")


@dataclass(frozen=True)
class AccuracyParams:
    """When realised accuracy counts as degraded, and which forecasts are read.

    Degraded: realised WAPE of the latest ``recent_runs`` runs above the backtest's by more
    than ``margin`` (a fraction), judged only with ``min_points`` pairs or more; served
    forecasts older than ``max_forecast_age_days`` are not read again; metrics per
    ``segment_by`` value.
    """

    margin: float
    min_points: int
    recent_runs: int
    max_forecast_age_days: int
    segment_by: str


def forecast_steps(forecasts: pl.DataFrame, series_keys: Sequence[str]) -> pl.DataFrame:
    """Add ``origin`` (first forecast date of the run) and ``step`` (1 = that date) per series."""
    keys = ["run_id", *series_keys]
    return forecasts.with_columns(
        pl.col("date").min().over("run_id").alias("origin"),
        pl.col("date").rank("dense").over(keys).cast(pl.Int32).alias("step"),
    )


def realised_pairs(
    forecasts: pl.DataFrame,
    panel: pl.DataFrame,
    series_keys: Sequence[str],
    realised_by: str,
    exclude_run: str | None = None,
) -> pl.DataFrame:
    """Forecasts whose (series, date) the panel now covers, with the actual beside them.

    A date counts as observed once it is inside its series' span in the panel (after the
    partial-period rule), and its actual is known; ``exclude_run`` (this run) is left out.
    """
    keys = list(series_keys)
    runs = forecasts if exclude_run is None else forecasts.filter(pl.col("run_id") != exclude_run)
    actuals = panel.filter(pl.col(TARGET).is_not_null()).select(
        *keys, "date", pl.col(TARGET).cast(pl.Float64).alias("actual")
    )
    extra = [c for c in ("model_version",) if c in runs.columns]
    pairs = forecast_steps(runs, keys).join(actuals, on=[*keys, "date"], how="inner")
    return pairs.select(
        "run_id",
        "origin",
        "step",
        *keys,
        "date",
        pl.col("forecast").cast(pl.Float64),
        "actual",
        *extra,
        pl.lit(realised_by).alias("realised_by"),
    ).sort(["run_id", *keys, "date"])


def append_history(
    existing: pl.DataFrame | None, new: pl.DataFrame, series_keys: Sequence[str]
) -> pl.DataFrame:
    """Upsert pairs into the history on ``run_id``/series/``date`` (newest values win)."""
    return upsert(existing, new, ["run_id", *series_keys, "date"])


def _scores(frame: pl.DataFrame, by: Sequence[str]) -> list[dict[str, Any]]:
    if frame.height == 0:
        return []
    exprs = [e for e in metric_exprs("actual", "forecast") if e.meta.output_name() != "mae"]
    grouped = frame.group_by(list(by)).agg(exprs) if by else frame.select(exprs)
    rows = grouped.sort(list(by)).to_dicts() if by else grouped.to_dicts()
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows
    ]


def realised_metrics(history: pl.DataFrame, segment_by: str | None = None) -> dict[str, Any]:
    """WAPE, bias, RMSE and count overall, per step, per segment and per forecast origin."""
    scored = history.filter(pl.col("actual").is_not_null() & pl.col("forecast").is_not_null())
    segment = [segment_by] if segment_by and segment_by in scored.columns else []
    overall = _scores(scored, [])
    return {
        "pairs": scored.height,
        "origins": scored["run_id"].n_unique() if scored.height else 0,
        "overall": overall[0] if overall else None,
        "per_step": _scores(scored, ["step"]),
        "per_segment": _scores(scored, segment) if segment else [],
        "over_time": _scores(scored, ["origin", "run_id"]),
        "over_time_by_segment": _scores(scored, ["origin", "run_id", *segment]) if segment else [],
    }


def recent(history: pl.DataFrame, runs: int) -> pl.DataFrame:
    """Pairs of the latest ``runs`` forecast runs (by origin, then run id)."""
    latest = history.select("origin", "run_id").unique().sort(["origin", "run_id"]).tail(runs)
    return history.join(latest, on=["origin", "run_id"], how="semi")


def accuracy_check(
    history: pl.DataFrame, backtest_metrics: dict[str, Any], params: AccuracyParams
) -> dict[str, Any]:
    """Is realised WAPE of the latest runs worse than the backtest's by more than ``margin``?

    Judged overall and per horizon step (against ``per_horizon`` of ``metrics.json``);
    with fewer than ``min_points`` pairs nothing is judged.
    """
    margin, min_points = params.margin, params.min_points
    window = recent(history, params.recent_runs) if history.height else history
    realised = realised_metrics(window)
    expected = (backtest_metrics.get("backtest", {}).get("model") or {}).get("wape")
    by_step = {
        int(row["step"]): (row.get("model") or {}).get("wape")
        for row in backtest_metrics.get("per_horizon", [])
    }
    steps = [
        {**row, "backtest_wape": by_step.get(row["step"])}
        for row in realised["per_step"]
        if row["n"] >= min_points
    ]
    for row in steps:
        row["degraded"] = _worse(row["wape"], row["backtest_wape"], margin)
    overall = realised["overall"] or {}
    judged = realised["pairs"] >= min_points
    degraded = judged and _worse(overall.get("wape"), expected, margin)
    return {
        "judged": judged,
        "degraded": degraded,
        "realised_wape": overall.get("wape"),
        "realised_bias": overall.get("bias"),
        "backtest_wape": expected,
        "margin": margin,
        "pairs": realised["pairs"],
        "runs": realised["origins"],
        "degraded_steps": [row["step"] for row in steps if row["degraded"]],
        "per_step": steps,
    }


def _worse(realised: float | None, expected: float | None, margin: float) -> bool:
    if realised is None or expected is None:
        return False
    return realised > expected * (1 + margin)
