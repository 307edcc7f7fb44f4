"""Accuracy metrics pooled over all series, windows and steps on the raw scale.

WAPE = Σ|f − y| / Σ|y|; MAE; RMSE; bias = Σ(f − y) / Σ|y| (positive: over-forecast);
coverage = share of actuals inside [p10, p90] (the 80% interval); pinball loss of each
quantile q, Σ max(q(y − f_q), (q − 1)(y − f_q)) / Σ|y| (scaled like WAPE, so data sets
compare), and their mean. Rows with a null actual are not scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl

QUANTILES = (0.1, 0.5, 0.9)


def qcol(q: float) -> str:
    """Column name of quantile ``q`` (0.1 → ``p10``)."""
    return f"p{round(q * 100):d}"


def _num(value: object) -> float | None:
    if value is None:
        return None
    f = float(value)  # type: ignore[arg-type]
    return f if math.isfinite(f) else None


def point_metrics(frame: pl.DataFrame, pred: str = "forecast") -> dict[str, float | None]:
    """WAPE, MAE, RMSE and bias of column ``pred`` against ``y``."""
    rows = frame.filter(pl.col("y").is_not_null())
    err = pl.col(pred) - pl.col("y")
    denom = pl.col("y").abs().sum()
    row = rows.select(
        (err.abs().sum() / denom).alias("wape"),
        err.abs().mean().alias("mae"),
        err.pow(2).mean().sqrt().alias("rmse"),
        (err.sum() / denom).alias("bias"),
    ).row(0, named=True)
    return {k: _num(v) for k, v in row.items()} | {"n": float(rows.height)}


def interval_metrics(
    frame: pl.DataFrame, quantiles: Sequence[float] = QUANTILES
) -> dict[str, float | None]:
    """Coverage of [lowest, highest] quantile and scaled pinball loss per quantile."""
    rows = frame.filter(pl.col("y").is_not_null())
    lo, hi = qcol(min(quantiles)), qcol(max(quantiles))
    exprs = [((pl.col("y") >= pl.col(lo)) & (pl.col("y") <= pl.col(hi))).mean().alias("coverage")]
    denom = pl.col("y").abs().sum()
    for q in quantiles:
        diff = pl.col("y") - pl.col(qcol(q))
        loss = pl.max_horizontal(q * diff, (q - 1) * diff)
        exprs.append((loss.sum() / denom).alias(f"pinball_{qcol(q)}"))
    row = rows.select(exprs).row(0, named=True)
    out = {k: _num(v) for k, v in row.items()}
    losses = [out[f"pinball_{qcol(q)}"] for q in quantiles]
    out["pinball"] = None if None in losses else sum(losses) / len(losses)  # type: ignore[arg-type]
    return out
