"""Combine candidates with weights chosen on earlier backtest windows only.

The input is a wide table: one row per (window, series, date) with ``window`` (0 = oldest),
``step``, ``actual`` and one column per candidate. Three recipes:

* ``best``: the candidate with the lowest pooled WAPE on the windows before;
* ``top2``: the best two, weighted ∝ 1 / WAPE on the windows before;
* ``all``: every candidate, weighted ∝ 1 / WAPE on the windows before.

A recipe's forecast for window k uses weights from windows k − lookback .. k − 1; the recipe
used for window k is the one whose own forecasts had the lowest WAPE on windows
k − lookback .. k − 1 (from window 1 on, where recipes differ). No weight and no choice
ever sees window k's actuals. The final forecast is "window W": the same rules over the
last ``lookback`` windows. Ties go to the earlier candidate / recipe in their fixed order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

RECIPES = {"best": 1, "top2": 2, "all": None}  # recipe -> candidates kept (None: all)
FALLBACK = "no earlier window: the first candidate"


@dataclass(frozen=True)
class RecipeRun:
    """A recipe's out-of-sample forecasts on every window and the weights each one used."""

    recipe: str
    rows: pl.DataFrame  # the table's row keys, step, actual, forecast
    weights: dict[int, dict[str, float]]  # window -> candidate -> weight


def check_recipes(recipes: Sequence[str]) -> None:
    """Fail on an unknown recipe name, naming the allowed ones."""
    bad = [r for r in recipes if r not in RECIPES]
    if bad or not recipes:
        raise ValueError(
            f"model.combination.recipes={list(recipes)}: unknown {bad}; allowed "
            f"{list(RECIPES)} (at least one)"
        )


def pooled_wape(rows: pl.DataFrame, columns: Sequence[str]) -> dict[str, float | None]:
    """Σ|f − y| / Σ|y| per column over rows with a known actual (None: no actual revenue)."""
    known = rows.filter(pl.col("actual").is_not_null())
    denom = float(known["actual"].abs().sum()) if known.height else 0.0
    if denom <= 0:
        return dict.fromkeys(columns)
    sums = known.select([(pl.col(c) - pl.col("actual")).abs().sum().alias(c) for c in columns])
    return {c: float(sums[c][0]) / denom for c in columns}


def inverse_wape_weights(
    wapes: dict[str, float | None], order: Sequence[str], top: int | None
) -> dict[str, float]:
    """The ``top`` lowest-WAPE candidates weighted ∝ 1 / WAPE (ties: earlier in ``order``)."""
    known = [c for c in order if wapes.get(c) is not None]
    if not known:
        return {order[0]: 1.0}
    ranked = sorted(known, key=lambda c: (wapes[c], order.index(c)))
    kept = ranked[:top] if top else ranked
    inv = {c: 1.0 / max(float(wapes[c] or 0.0), 1e-9) for c in kept}
    total = sum(inv.values())
    return {c: v / total for c, v in inv.items()}


def weighted(weights: dict[str, float]) -> pl.Expr:
    """The weighted sum of the candidates' columns."""
    return pl.sum_horizontal([pl.col(c) * w for c, w in weights.items()]).alias("forecast")


def earlier(window: int, lookback: int, first: int = 0) -> tuple[int, int]:
    """The window range (inclusive) looked back on from ``window``."""
    return max(first, window - lookback), window - 1


def weights_for(
    table: pl.DataFrame, candidates: Sequence[str], top: int | None, window: int, lookback: int
) -> dict[str, float]:
    """A recipe's weights for ``window``: from the ``lookback`` windows before it."""
    lo, hi = earlier(window, lookback)
    past = table.filter(pl.col("window").is_between(lo, hi))
    if past.height == 0:
        return {candidates[0]: 1.0}
    return inverse_wape_weights(pooled_wape(past, candidates), candidates, top)


def run_recipe(
    table: pl.DataFrame, candidates: Sequence[str], recipe: str, lookback: int
) -> RecipeRun:
    """The recipe's forecast on every window of ``table``, each from the windows before it."""
    parts, used = [], {}
    keep = [c for c in table.columns if c not in candidates]
    for k in sorted(table["window"].unique().to_list()):
        w = weights_for(table, candidates, RECIPES[recipe], k, lookback)
        now = table.filter(pl.col("window") == k)
        parts.append(now.select(*keep, weighted(w)))
        used[k] = w
    return RecipeRun(recipe, pl.concat(parts), used)


def choose(runs: dict[str, RecipeRun], window: int, lookback: int) -> str:
    """The recipe with the lowest WAPE on windows before ``window`` (from window 1 on)."""
    order = list(runs)
    lo, hi = earlier(window, lookback, first=1)
    if hi < lo:
        return order[0]
    wapes = {
        r: pooled_wape(run.rows.filter(pl.col("window").is_between(lo, hi)), ["forecast"])[
            "forecast"
        ]
        for r, run in runs.items()
    }
    known = [r for r in order if wapes[r] is not None]
    if not known:
        return order[0]
    return min(known, key=lambda r: (wapes[r], order.index(r)))
