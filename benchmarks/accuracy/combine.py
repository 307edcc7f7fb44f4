"""Combine candidate forecasts with weights fitted only on earlier windows.

For scoring window k the weights come from the ``lookback`` windows before it (their
actuals are all known at k's origin): each candidate's WAPE pooled over those windows
(per segment when ``by`` names one), then the ``top`` best get weights proportional to
1 / WAPE^power (``top=1``: pick the best); with ``tolerance``, only candidates within
(1 + tolerance) x the best WAPE are kept. No weight ever sees window k's actuals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

ROW_KEYS = ["window", "unique_id", "date"]


@dataclass(frozen=True)
class Recipe:
    """How to combine: candidates, windows looked back, how many kept, weight power, grouping."""

    candidates: tuple[str, ...]
    lookback: int = 3
    top: int = 3
    power: float = 1.0
    by: str | None = None  # None: one set of weights for all series; "segment" or "unique_id"
    tolerance: float | None = None  # keep only candidates within (1 + tolerance) x best WAPE


def wide(preds: dict[str, pl.DataFrame], candidates: Sequence[str]) -> pl.DataFrame:
    """One row per (window, series, date): y, step, scale, segment and a column per candidate."""
    first = preds[candidates[0]]
    base = first.select(*ROW_KEYS, "step", "y", "scale").with_columns(
        pl.col("unique_id").str.split("|").list.last().alias("segment")
    )
    for c in candidates:
        base = base.join(
            preds[c].select(*ROW_KEYS, pl.col("forecast").alias(c)), on=ROW_KEYS, how="left"
        )
    return base


def weights(history: pl.DataFrame, recipe: Recipe) -> pl.DataFrame:
    """Columns (group,) candidate, weight: from the candidates' pooled WAPE on ``history``."""
    group = [recipe.by] if recipe.by else []
    rows = history.filter(pl.col("y").is_not_null())
    err = rows.group_by(group or pl.lit(0).alias("_all")).agg(
        [(pl.col(c) - pl.col("y")).abs().sum().alias(c) for c in recipe.candidates]
        + [pl.col("y").abs().sum().alias("_denom")]
    )
    long = err.unpivot(
        index=[*(group or ["_all"]), "_denom"], variable_name="candidate", value_name="abs_err"
    ).with_columns((pl.col("abs_err") / pl.col("_denom").clip(lower_bound=1e-12)).alias("wape"))
    part = group or ["_all"]
    ranked = long.with_columns(
        pl.col("wape").rank("ordinal").over(part).alias("rank"),
    ).filter(pl.col("rank") <= recipe.top)
    if recipe.tolerance is not None:
        ranked = ranked.filter(
            pl.col("wape") <= pl.col("wape").min().over(part) * (1.0 + recipe.tolerance)
        )
    inv = (1.0 / pl.col("wape").clip(lower_bound=1e-9)).pow(recipe.power)
    out = ranked.with_columns((inv / inv.sum().over(part)).alias("weight"))
    return out.select(*group, "candidate", "weight")


def combine(preds: dict[str, pl.DataFrame], recipe: Recipe, scoring: Sequence[int]) -> pl.DataFrame:
    """Combined forecast rows (window, unique_id, date, step, y, scale, forecast) of ``scoring``."""
    table = wide(preds, recipe.candidates)
    parts = []
    for k in scoring:
        hist = table.filter(pl.col("window").is_between(k - recipe.lookback, k - 1))
        if hist.height == 0:
            raise ValueError(f"window {k}: no earlier window to fit weights on")
        w = weights(hist, recipe)
        now = table.filter(pl.col("window") == k)
        long = now.unpivot(
            index=[*ROW_KEYS, "step", "y", "scale", "segment"],
            on=list(recipe.candidates),
            variable_name="candidate",
            value_name="f",
        )
        on = ["candidate", *([recipe.by] if recipe.by else [])]
        joined = long.join(w, on=on, how="inner")
        combined = joined.group_by([*ROW_KEYS, "step", "y", "scale"]).agg(
            (pl.col("f") * pl.col("weight")).sum().alias("forecast")
        )
        parts.append(combined)
    return pl.concat(parts).sort(ROW_KEYS)


def chosen(preds: dict[str, pl.DataFrame], recipe: Recipe, k: int) -> pl.DataFrame:
    """The weights used for scoring window ``k`` (for the report)."""
    table = wide(preds, recipe.candidates)
    return weights(table.filter(pl.col("window").is_between(k - recipe.lookback, k - 1)), recipe)


@dataclass(frozen=True)
class MenuResult:
    """Per scoring window: the chosen recipe's index, its rows there, and its earlier rows."""

    rows: pl.DataFrame  # the chosen recipe's forecasts on the scoring windows
    choice: dict[int, int]  # scoring window -> index into the menu
    runs: list[pl.DataFrame]  # each recipe's forecasts on windows 1.. (for calibration)


def combine_menu(
    preds: dict[str, pl.DataFrame],
    menu: Sequence[Recipe],
    scoring: Sequence[int],
    lookback: int = 3,
) -> MenuResult:
    """Per scoring window, the recipe of ``menu`` with the lowest WAPE on earlier windows.

    Each recipe's own forecasts on window j use weights from windows before j, so the
    recipe chosen for window k is judged on windows ``k - lookback .. k - 1`` (from 1 on)
    whose forecasts and weights both predate k.
    """
    last = max(scoring)
    runs = [combine(preds, r, range(1, last + 1)) for r in menu]
    parts, choice = [], {}
    for k in scoring:
        errors = []
        for rows in runs:
            past = rows.filter(pl.col("window").is_between(max(1, k - lookback), k - 1))
            past = past.filter(pl.col("y").is_not_null())
            denom = past["y"].abs().sum()
            errors.append(float((past["forecast"] - past["y"]).abs().sum()) / max(denom, 1e-12))
        best = min(range(len(menu)), key=errors.__getitem__)
        choice[k] = best
        parts.append(runs[best].filter(pl.col("window") == k))
    return MenuResult(pl.concat(parts).sort(ROW_KEYS), choice, runs)


def average(preds: dict[str, pl.DataFrame], names: Sequence[str]) -> pl.DataFrame:
    """The equal-weight mean of ``names``' forecasts (rows as in ``preds``)."""
    table = wide(preds, names)
    mean = pl.mean_horizontal([pl.col(n) for n in names]).alias("forecast")
    return table.select(*ROW_KEYS, "step", "y", "scale", mean)
