"""Unit tests for tasks.model.ensemble: the backtest's combination, the final forecast
with quantiles, and the registry's text form (no pickles)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tasks.model import ensemble
from tasks.model.backtest import BacktestResult, backtest
from tasks.model.features import TARGET
from tasks.model.train import TrainParams
from tests.support import defaults

KEYS = ["region", "product_type"]
START = dt.date(2024, 1, 1)
SPEC = defaults.feature_spec(lags=[1, 7], window_sizes=[7], holiday_country=None)
TRAIN = TrainParams(
    {"objective": "tweedie", "learning_rate": 0.2, "num_leaves": 7, "min_data_in_leaf": 5,
     "num_threads": 1},
    num_boost_round=20,
    seed=7,
)  # fmt: skip
PARAMS = defaults.backtest(
    horizon=7, windows=6, season_length=7, moving_average_window=7, segment_by="region"
)


def panel(n: int = 84, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    week = np.array([1.0, 1.1, 1.0, 0.9, 1.2, 1.6, 1.4])
    frames = []
    for region, level in (("north", 100.0), ("south", 40.0), ("east", 7.0)):
        values = level * week[np.arange(n) % 7] * rng.uniform(0.85, 1.15, n)
        frames.append(
            pl.DataFrame(
                {
                    "region": region,
                    "product_type": "toys",
                    "date": [START + dt.timedelta(days=i) for i in range(n)],
                    TARGET: values,
                    "promo": 0.0,
                }
            )
        )
    return pl.concat(frames)


@pytest.fixture(scope="module")
def result() -> BacktestResult:
    return backtest(panel(), SPEC, PARAMS, TRAIN)


def test_scored_windows_follow_the_lookback() -> None:
    assert ensemble.scored_windows(6, 3) == [3, 4, 5]
    assert ensemble.scored_windows(2, 3) == [1]
    assert ensemble.scored_windows(1, 3) == [0]


def test_backtest_scores_the_combination_on_later_windows(result: BacktestResult) -> None:
    preds = result.predictions
    m = result.metrics
    assert preds.height == 3 * 3 * 7  # 3 scored windows x 3 series x 7 steps
    assert len(m["windows"]["scored"]) == 3
    assert len(m["windows"]["origins"]) == 6
    assert {"p10", "p50", "p90", "recipe", "model"} <= set(preds.columns)
    assert (preds["p10"] <= preds["p50"]).all()
    assert (preds["p50"] <= preds["p90"]).all()
    assert (preds["p10"] >= 0).all()
    assert m["backtest"]["model"]["coverage_80"] is not None
    assert [w["recipe"] for w in m["ensemble"]["per_window"]] == preds.group_by(
        "origin", maintain_order=True
    ).agg(pl.col("recipe").first())["recipe"].to_list()
    final = m["ensemble"]["final"]
    assert sum(final["weights"].values()) == pytest.approx(1.0)


def test_the_last_windows_actuals_change_no_choice_made_for_it() -> None:
    """Weights, recipe and quantiles of scored window k never see window k's actuals."""
    base = panel()
    last = sorted(base["date"].unique().to_list())[-7]
    moved = base.with_columns(
        pl.when(pl.col("date") >= last).then(pl.col(TARGET) * 3).otherwise(pl.col(TARGET))
    )
    a = backtest(base, SPEC, PARAMS, TRAIN)
    b = backtest(moved, SPEC, PARAMS, TRAIN)
    assert a.metrics["ensemble"]["per_window"] == b.metrics["ensemble"]["per_window"]
    cols = ["origin", *KEYS, "date", "model", "p10", "p50", "p90", "recipe"]
    assert_frame_equal(a.predictions.select(cols), b.predictions.select(cols))
    assert a.metrics["backtest"]["model"]["wape"] != b.metrics["backtest"]["model"]["wape"]


def test_final_forecast_has_monotone_quantiles_and_the_recipe(result: BacktestResult) -> None:
    data = panel()
    combination = result.combination
    model = ensemble.fit_ensemble(data, SPEC, TRAIN, PARAMS.candidates, combination)
    out = ensemble.forecast_future(model, data, SPEC, horizon=7)
    assert out.columns == [*KEYS, "date", "forecast", "p10", "p50", "p90", "recipe"]
    assert out.height == 3 * 7
    assert out["date"].min() > data["date"].max()
    assert out.select("p10", "p50", "p90").null_count().sum_horizontal().item() == 0
    assert (out["p10"] <= out["p50"]).all()
    assert (out["p50"] <= out["p90"]).all()
    assert (out["p10"] >= 0).all()
    assert out["recipe"].unique().to_list() == [combination.recipe]


def test_registry_text_form_forecasts_the_same(result: BacktestResult) -> None:
    data = panel()
    combination = result.combination
    model = ensemble.fit_ensemble(data, SPEC, TRAIN, PARAMS.candidates, combination)
    text = ensemble.model_text(model)
    meta = json.loads(json.dumps(ensemble.ensemble_meta(model)))  # JSON only: no pickles
    assert text.count(ensemble.MEMBER_HEADER) == 2
    assert meta["members"][0]["stats"][0].keys() >= {"region", "mu", "sd"}
    back = ensemble.ensemble_from_text(text, meta)
    assert_frame_equal(
        ensemble.forecast_future(back, data, SPEC, 7),
        ensemble.forecast_future(model, data, SPEC, 7),
    )


def test_registry_text_form_rejects_what_it_cannot_use(result: BacktestResult) -> None:
    data = panel()
    combination = result.combination
    model = ensemble.fit_ensemble(data, SPEC, TRAIN, PARAMS.candidates, combination)
    meta = ensemble.ensemble_meta(model)
    with pytest.raises(ValueError, match="older version"):
        ensemble.ensemble_from_text(ensemble.model_text(model), {"feature_names": []})
    first = ensemble.model_text(model).split(ensemble.MEMBER_HEADER)[1]
    with pytest.raises(ValueError, match="no member 'standard'"):
        ensemble.ensemble_from_text(ensemble.MEMBER_HEADER + first, meta)
    bad = {**meta, "combination": {**meta["combination"], "weights": {"arima": 1.0}}}
    with pytest.raises(ValueError, match="unknown candidates"):
        ensemble.ensemble_from_text(ensemble.model_text(model), bad)
