"""Unit tests for tasks.model.combination: inverse-WAPE weights, recipes, and choices made
on earlier windows only."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tasks.model import combination as comb

CANDIDATES = ["lightgbm", "seasonal_naive", "naive"]


def table(windows: int = 6, steps: int = 4, seed: int = 0) -> pl.DataFrame:
    """Two series; ``lightgbm`` errs by ~5%, ``seasonal_naive`` by ~10%, ``naive`` by ~30%."""
    rng = np.random.default_rng(seed)
    rows = []
    for w in range(windows):
        for series, level in (("a", 100.0), ("b", 20.0)):
            for step in range(1, steps + 1):
                y = level * rng.uniform(0.8, 1.2)
                rows.append(
                    {
                        "window": w,
                        "region": series,
                        "step": step,
                        "actual": y,
                        "lightgbm": y * (1 + rng.choice([-1, 1]) * 0.05),
                        "seasonal_naive": y * (1 + rng.choice([-1, 1]) * 0.10),
                        "naive": y * (1 + rng.choice([-1, 1]) * 0.30),
                    }
                )
    return pl.DataFrame(rows)


def test_pooled_wape_per_column() -> None:
    rows = pl.DataFrame({"actual": [10.0, 30.0, None], "f": [12.0, 27.0, 5.0]})
    assert comb.pooled_wape(rows, ["f"]) == {"f": pytest.approx(5 / 40)}
    assert comb.pooled_wape(rows.with_columns(pl.lit(0.0).alias("actual")), ["f"]) == {"f": None}


def test_weights_favour_the_lower_wape_candidate() -> None:
    wapes: dict[str, float | None] = {"lightgbm": 0.1, "seasonal_naive": 0.2, "naive": 0.4}
    two = comb.inverse_wape_weights(wapes, CANDIDATES, top=2)
    assert set(two) == {"lightgbm", "seasonal_naive"}
    assert two["lightgbm"] == pytest.approx(2 / 3)
    assert two["seasonal_naive"] == pytest.approx(1 / 3)
    every = comb.inverse_wape_weights(wapes, CANDIDATES, top=None)
    assert sum(every.values()) == pytest.approx(1.0)
    assert every["lightgbm"] > every["seasonal_naive"] > every["naive"]
    assert comb.inverse_wape_weights(wapes, CANDIDATES, top=1) == {"lightgbm": 1.0}


def test_ties_go_to_the_earlier_candidate() -> None:
    wapes: dict[str, float | None] = {"lightgbm": 0.2, "seasonal_naive": 0.2, "naive": 0.2}
    assert comb.inverse_wape_weights(wapes, CANDIDATES, top=1) == {"lightgbm": 1.0}
    reordered = ["naive", "seasonal_naive", "lightgbm"]
    assert comb.inverse_wape_weights(wapes, reordered, top=1) == {"naive": 1.0}


def test_no_known_wape_falls_back_to_the_first_candidate() -> None:
    assert comb.inverse_wape_weights(dict.fromkeys(CANDIDATES), CANDIDATES, 2) == {"lightgbm": 1.0}


def test_recipe_weights_come_from_the_windows_before_only() -> None:
    base = table()
    run = comb.run_recipe(base, CANDIDATES, "top2", lookback=3)
    assert run.weights[0] == {"lightgbm": 1.0}  # nothing before window 0
    assert set(run.weights[4]) == {"lightgbm", "seasonal_naive"}
    assert run.weights[4]["lightgbm"] > run.weights[4]["seasonal_naive"]
    # window 4's own actuals (and later ones) change nothing about window 4's weights
    moved = base.with_columns(
        pl.when(pl.col("window") >= 4)
        .then(pl.col("actual") * 10)
        .otherwise(pl.col("actual"))
        .alias("actual")
    )
    again = comb.run_recipe(moved, CANDIDATES, "top2", lookback=3)
    assert again.weights[4] == run.weights[4]
    assert again.weights[5] != run.weights[5]  # the test has teeth: window 5 looks at window 4


def test_recipe_forecast_is_the_weighted_sum() -> None:
    base = table()
    run = comb.run_recipe(base, CANDIDATES, "all", lookback=3)
    w = run.weights[3]
    now = base.filter(pl.col("window") == 3)
    expected = sum(now[c] * w[c] for c in w)
    got = run.rows.filter(pl.col("window") == 3)["forecast"]
    assert got.to_list() == pytest.approx(expected.to_list())
    assert "actual" in run.rows.columns
    assert "lightgbm" not in run.rows.columns


def test_choice_is_made_on_earlier_windows_only() -> None:
    """Changing a later window's actuals does not change the choice for an earlier window."""
    base = table()
    runs = {r: comb.run_recipe(base, CANDIDATES, r, 3) for r in comb.RECIPES}
    chosen = comb.choose(runs, 4, lookback=3)
    moved = base.with_columns(
        pl.when(pl.col("window") >= 4)
        .then(pl.col("naive"))  # the actual becomes the worst candidate's forecast
        .otherwise(pl.col("actual"))
        .alias("actual")
    )
    moved_runs = {r: comb.run_recipe(moved, CANDIDATES, r, 3) for r in comb.RECIPES}
    assert comb.choose(moved_runs, 4, lookback=3) == chosen
    # ... while the final choice (after window 5) does see them: the best recipe changes
    assert comb.choose(runs, 6, 3) != comb.choose(moved_runs, 6, 3)


def test_choice_picks_the_recipe_with_the_lowest_earlier_wape() -> None:
    base = table()
    runs = {r: comb.run_recipe(base, CANDIDATES, r, 3) for r in comb.RECIPES}
    errors = {
        r: comb.pooled_wape(run.rows.filter(pl.col("window").is_between(2, 4)), ["forecast"])[
            "forecast"
        ]
        for r, run in runs.items()
    }
    assert comb.choose(runs, 5, 3) == min(errors, key=lambda r: errors[r] or 0.0)
    assert comb.choose(runs, 1, 3) == "best"  # no window from 1 on before it: the first recipe


def test_unknown_recipe_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown \['top3'\]"):
        comb.check_recipes(["best", "top3"])
