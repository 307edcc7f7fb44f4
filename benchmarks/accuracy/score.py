"""Score every method on the scoring windows: point metrics, intervals, per horizon, time.

Intervals: a method that gives its own 80% interval (statsforecast) is scored on it, with
P50 = its point forecast; every other method gets split-conformal quantiles from the
windows before each scoring window (:mod:`benchmarks.accuracy.conformal`). Both are in
the JSON for the statistical methods (``interval`` says which the table shows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from benchmarks.accuracy.conformal import conformal
from benchmarks.accuracy.metrics import interval_metrics, point_metrics

ANCHORS = (
    "naive",
    "seasonal_naive",
    "moving_average",
    "auto_ets",
    "auto_theta",
    "mstl",
    "mlf_lgbm",
    "mlf_lgbm_scaled",
)


def scoring_windows(n_windows: int, n_score: int) -> list[int]:
    """Indices of the latest ``n_score`` of ``n_windows`` windows."""
    if not 0 < n_score < n_windows:
        raise ValueError(f"need 0 < score windows ({n_score}) < windows ({n_windows})")
    return list(range(n_windows - n_score, n_windows))


def _native(scored: pl.DataFrame) -> pl.DataFrame:
    return scored.with_columns(pl.col("forecast").alias("p50"))


def score_method(
    preds: pl.DataFrame, scoring: Sequence[int], n_cal: int, seconds: dict[int, float] | None
) -> dict[str, Any]:
    """Metrics of one method's predictions on the ``scoring`` windows."""
    scored = preds.filter(pl.col("window").is_in(list(scoring)))
    out: dict[str, Any] = point_metrics(scored)
    conf_rows = conformal(preds, scoring, n_cal)
    conf = interval_metrics(conf_rows)
    out["conformal"] = conf
    if "p10" in preds.columns and scored["p10"].null_count() == 0:
        out["native"] = interval_metrics(_native(scored))
        out.update(out["native"], interval="native")
    else:
        out.update(conf, interval="conformal")
    out["per_horizon"] = per_horizon(conf_rows)
    out["filled"] = int(scored["filled"].sum()) if "filled" in scored.columns else 0
    if seconds is not None:
        out["seconds_per_window"] = sum(seconds.values()) / len(seconds)
        out["seconds_scoring_windows"] = sum(seconds[k] for k in scoring)
    return out


def per_horizon(rows: pl.DataFrame) -> list[dict[str, Any]]:
    """WAPE, bias, coverage and pinball per horizon step."""
    out = []
    for (step,), group in rows.sort("step").group_by(["step"], maintain_order=True):
        point = point_metrics(group)
        out.append(
            {"step": step, "wape": point["wape"], "bias": point["bias"], **interval_metrics(group)}
        )
    return out


def best_anchor(methods: dict[str, dict[str, Any]]) -> str | None:
    """The anchor method with the lowest WAPE (None when no anchor ran)."""
    present = [m for m in ANCHORS if m in methods and methods[m]["wape"] is not None]
    return min(present, key=lambda m: methods[m]["wape"]) if present else None
