"""Split-conformal quantiles by horizon step, scaled per series, from earlier windows.

Each calibration residual (y − f) is divided by its series' interval scale in its window,
s = mean |f| over the window + ``spread_weight`` × the candidates' disagreement (the mean
over steps of their standard deviation), so an interval widens where the candidates part
ways. Per step, the empirical q-quantile of the scaled residuals, times the series' scale
now, is added to the point forecast: p_q = f + s · Q_step(q), sorted across q (monotone),
clipped at zero. A step the calibration did not see takes the quantiles pooled over steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

POOLED = 0  # the residual table's row with the quantiles over every step


def qcol(q: float) -> str:
    """Column name of quantile ``q`` (0.1 → ``p10``, 0.975 → ``p97.5``)."""
    pct = q * 100
    return f"p{round(pct):d}" if abs(pct - round(pct)) < 1e-9 else f"p{pct:g}"


def check_quantiles(quantiles: Sequence[float]) -> None:
    """Fail unless the quantiles are distinct values strictly between 0 and 1."""
    bad = [q for q in quantiles if not 0.0 < q < 1.0]
    if bad or len(set(quantiles)) != len(quantiles) or len(quantiles) < 2:
        raise ValueError(
            f"forecast.quantiles={list(quantiles)}: need at least two distinct values in "
            f"(0, 1), e.g. [0.1, 0.5, 0.9]"
        )


def spread(table: pl.DataFrame, candidates: Sequence[str], by: Sequence[str]) -> pl.DataFrame:
    """``by`` columns and ``spread``: the mean over rows of the candidates' s.d. per row."""
    if len(candidates) < 2:
        return table.select(*by).unique().with_columns(pl.lit(0.0).alias("spread"))
    sd = pl.concat_list(list(candidates)).list.std().fill_null(0.0)
    return table.group_by(*by).agg(sd.mean().alias("spread"))


def with_scale(rows: pl.DataFrame, by: Sequence[str], spread_weight: float) -> pl.DataFrame:
    """``rows`` with ``iscale``: mean |forecast| per ``by`` group + weight × ``spread`` (1 if 0)."""
    level = pl.col("forecast").abs().mean().over(*by)
    if "spread" in rows.columns:
        level = level + spread_weight * pl.col("spread").fill_null(0.0)
    return rows.with_columns(pl.when(level > 0).then(level).otherwise(1.0).alias("iscale"))


def residual_quantiles(
    calibration: pl.DataFrame, quantiles: Sequence[float]
) -> dict[str, list[float]]:
    """step (as a string; ``"0"`` = pooled) → the quantiles of (y − f) / iscale at that step."""
    rows = calibration.filter(pl.col("actual").is_not_null() & pl.col("forecast").is_not_null())
    if rows.height == 0:
        return {}
    resid = ((pl.col("actual") - pl.col("forecast")) / pl.col("iscale")).alias("r")
    scaled = rows.select(pl.col("step").cast(pl.Int64), resid)
    exprs = [pl.col("r").quantile(q, "linear").alias(str(i)) for i, q in enumerate(quantiles)]
    per_step = scaled.group_by("step").agg(exprs).sort("step")
    pooled = scaled.select(exprs).with_columns(pl.lit(POOLED, dtype=pl.Int64).alias("step"))
    out = {}
    for row in pl.concat([pooled.select(per_step.columns), per_step]).iter_rows(named=True):
        out[str(row["step"])] = [float(row[str(i)]) for i in range(len(quantiles))]
    return out


def apply_quantiles(
    rows: pl.DataFrame, residuals: dict[str, list[float]], quantiles: Sequence[float]
) -> pl.DataFrame:
    """``rows`` (step, forecast, iscale) with a column per quantile, monotone and ≥ 0.

    With no residuals at all (nothing to calibrate on) the quantile columns are null.
    """
    names = [qcol(q) for q in quantiles]
    if not residuals:
        return rows.with_columns([pl.lit(None, dtype=pl.Float64).alias(n) for n in names])
    pooled = residuals[str(POOLED)]
    steps = [int(s) for s in residuals if int(s) != POOLED]
    table = pl.DataFrame(
        {
            "step": steps,
            **{f"_q{i}": [residuals[str(s)][i] for s in steps] for i in range(len(quantiles))},
        },
        schema={"step": pl.Int64, **{f"_q{i}": pl.Float64 for i in range(len(quantiles))}},
    )
    out = rows.with_columns(pl.col("step").cast(pl.Int64).alias("_step")).join(
        table.rename({"step": "_step"}), on="_step", how="left"
    )
    raw = [
        (pl.col("forecast") + pl.col("iscale") * pl.col(f"_q{i}").fill_null(pooled[i])).clip(
            lower_bound=0.0
        )
        for i in range(len(quantiles))
    ]
    ordered = pl.concat_list(raw).list.sort()
    order = sorted(range(len(quantiles)), key=lambda i: quantiles[i])
    cols = [ordered.list.get(order.index(i)).alias(names[i]) for i in range(len(quantiles))]
    return out.with_columns(cols).drop("_step", *[f"_q{i}" for i in range(len(quantiles))])


def interval_metrics(rows: pl.DataFrame, quantiles: Sequence[float]) -> dict[str, float | None]:
    """Coverage of [lowest, highest] quantile and pinball loss per quantile (÷ Σ|y|, like WAPE)."""
    names = [qcol(q) for q in quantiles]
    known = rows.filter(pl.col("actual").is_not_null())
    known = known.filter(pl.all_horizontal([pl.col(n).is_not_null() for n in names]))
    lo, hi = qcol(min(quantiles)), qcol(max(quantiles))
    denom = float(known["actual"].abs().sum()) if known.height else 0.0
    width = f"coverage_{round((max(quantiles) - min(quantiles)) * 100):d}"
    if known.height == 0 or denom <= 0:
        return {width: None, **{f"pinball_{n}": None for n in names}}
    inside = (pl.col("actual") >= pl.col(lo)) & (pl.col("actual") <= pl.col(hi))
    exprs = [inside.mean().alias(width)]
    for q, n in zip(quantiles, names, strict=True):
        diff = pl.col("actual") - pl.col(n)
        exprs.append((pl.max_horizontal(q * diff, (q - 1) * diff).sum() / denom).alias(n))
    row = known.select(exprs).row(0, named=True)
    return {width: float(row[width]), **{f"pinball_{n}": float(row[n]) for n in names}}
