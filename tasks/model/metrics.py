"""Forecast error metrics: WAPE, MAE, RMSE and bias, overall and by group.

``bias`` is relative: (Σ forecast − Σ actual) / Σ |actual|; positive means over-forecast.
Rows whose actual is null are not scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import polars as pl

METHODS = ("model", "seasonal_naive", "moving_average")  # the report's comparison


def metric_exprs(actual: str, predicted: str) -> list[pl.Expr]:
    """Aggregations for one (actual, predicted) pair of columns."""
    err = pl.col(predicted) - pl.col(actual)
    denom = pl.col(actual).abs().sum()
    return [
        (err.abs().sum() / denom).alias("wape"),
        err.abs().mean().alias("mae"),
        (err.pow(2).mean()).sqrt().alias("rmse"),
        (err.sum() / denom).alias("bias"),
        pl.len().alias("n"),
    ]


def _clean(value: object) -> float | int | None:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value  # type: ignore[return-value]


def score(frame: pl.DataFrame, actual: str, predicted: str) -> dict[str, float | int | None]:
    """Metrics of one prediction column against the actuals (non-finite values become None)."""
    scored = frame.filter(pl.col(actual).is_not_null() & pl.col(predicted).is_not_null())
    row = scored.select(metric_exprs(actual, predicted)).row(0, named=True)
    return {k: _clean(v) for k, v in row.items()}


def score_methods(
    frame: pl.DataFrame, actual: str = "actual", methods: Sequence[str] = METHODS
) -> dict[str, dict[str, float | int | None]]:
    """Metrics for every method column of ``methods`` present in the frame."""
    return {m: score(frame, actual, m) for m in methods if m in frame.columns}


def score_by(
    frame: pl.DataFrame, by: str, actual: str = "actual", methods: Sequence[str] = METHODS
) -> list[dict[str, Any]]:
    """Metrics per value of ``by``, sorted by that value."""
    out: list[dict[str, Any]] = []
    for (value,), group in frame.sort(by).group_by([by], maintain_order=True):
        out.append({by: value, **score_methods(group, actual, methods)})
    return out
