"""Unit tests for tasks.model.backtest and tasks.model.baselines: origins, baselines,
backtest windows and the gate."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tasks.model.backtest import (
    BacktestParams,
    ShortHistoryError,
    backtest,
    backtest_window,
    check_history,
    origins,
)
from tasks.model.baselines import moving_average, naive, seasonal_naive
from tasks.model.features import TARGET
from tasks.model.gate import gate
from tasks.model.train import TrainParams
from tests.support import defaults

KEYS = ["region", "product_type"]
MAX_REGRESSION = 0.05  # the champion check; these cases have no champion to compare
START = dt.date(2024, 1, 1)
SPEC = defaults.feature_spec(lags=[1, 7], window_sizes=[7], holiday_country=None)
HYPER = {
    "objective": "regression",
    "learning_rate": 0.2,
    "num_leaves": 7,
    "min_data_in_leaf": 5,
    "num_threads": 1,
}
TRAIN = TrainParams(HYPER, num_boost_round=20, seed=7)


def days(n: int, start: dt.date = START) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]


def one_series(region: str, values: list[float], start: dt.date = START) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {
            "region": [region] * n,
            "product_type": ["toys"] * n,
            "date": days(n, start),
            TARGET: values,
            "promo": [0.0] * n,
        },
        schema_overrides={TARGET: pl.Float64},
    )


def weekly_panel(n: int = 70, seed: int = 0) -> pl.DataFrame:
    """Two series with a weekly pattern and noise."""
    rng = np.random.default_rng(seed)
    week = np.array([1.0, 1.1, 1.0, 0.9, 1.2, 1.6, 1.4])
    frames = []
    for region, level in (("north", 100.0), ("south", 40.0)):
        values = level * week[np.arange(n) % 7] * rng.uniform(0.9, 1.1, n)
        frames.append(one_series(region, list(values.round(2))))
    return pl.concat(frames)


def future_steps(region: str, start: dt.date, steps: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "region": [region] * steps,
            "product_type": ["toys"] * steps,
            "date": days(steps, start),
            "step": list(range(1, steps + 1)),
        }
    )


# --- origins ---------------------------------------------------------------------------


def test_origins_math() -> None:
    dates = days(20)
    # 2 windows of 3 periods: the last window is the last 3 periods, the one before precedes it.
    assert origins(dates, horizon=3, windows=2, min_history=5) == [dates[14], dates[17]]
    assert origins(dates, horizon=5, windows=1, min_history=1) == [dates[15]]
    assert origins(dates, horizon=1, windows=4, min_history=1) == dates[16:]


def test_origins_with_exactly_enough_history() -> None:
    dates = days(11)
    assert origins(dates, horizon=3, windows=2, min_history=5) == [dates[5], dates[8]]


def test_origins_too_short_history_names_the_settings() -> None:
    with pytest.raises(ValueError, match=r"the panel has 10 period.*this run needs 11") as err:
        origins(days(10), horizon=3, windows=2, min_history=5)
    assert "evaluation.backtest_windows" in str(err.value)
    assert "forecast.horizon" in str(err.value)


def test_origins_need_at_least_one_window() -> None:
    with pytest.raises(ValueError, match=r"evaluation\.backtest_windows"):
        origins(days(50), horizon=3, windows=0, min_history=5)


# --- baselines -------------------------------------------------------------------------


def test_seasonal_naive_repeats_the_last_season_exactly() -> None:
    history = pl.concat(
        [
            one_series("north", [1, 2, 3, 4, 5, 6, 7, 8, 9]),
            one_series("south", [10, 20, 30, 40]),
        ]
    )
    future = pl.concat(
        [future_steps("north", days(1, START + dt.timedelta(days=9))[0], 7),
         future_steps("south", days(1, START + dt.timedelta(days=4))[0], 4)]
    )  # fmt: skip
    out = seasonal_naive(history, future, KEYS, season=3, window=3).sort("region", "date")
    north = out.filter(pl.col("region") == "north")
    assert north["forecast"].to_list() == [7.0, 8.0, 9.0, 7.0, 8.0, 9.0, 7.0]
    south = out.filter(pl.col("region") == "south")
    assert south["forecast"].to_list() == [20.0, 30.0, 40.0, 20.0]
    assert out.columns == [*KEYS, "date", "forecast"]


def test_seasonal_naive_of_a_weekly_series_is_the_same_weekday_last_week() -> None:
    values = [float(i) for i in range(1, 22)]  # 3 weeks: 1..21
    history = one_series("north", values)
    future = future_steps("north", START + dt.timedelta(days=21), 7)
    out = seasonal_naive(history, future, KEYS, season=7, window=7)
    assert out["forecast"].to_list() == values[-7:]


def test_seasonal_naive_is_the_moving_average_without_a_full_season() -> None:
    history = one_series("north", [5.0, 6.0])
    future = future_steps("north", START + dt.timedelta(days=2), 2)
    out = seasonal_naive(history, future, KEYS, 3, window=3)
    assert out["forecast"].to_list() == [5.5, 5.5]


def test_naive_repeats_the_last_known_value() -> None:
    history = one_series("north", [5.0, 6.0, 7.0]).with_columns(
        pl.when(pl.col("date") == pl.col("date").max()).then(None).otherwise(pl.col(TARGET))
        .alias(TARGET)
    )  # fmt: skip
    out = naive(history, future_steps("north", START + dt.timedelta(days=3), 3), KEYS)
    assert out["forecast"].to_list() == [6.0, 6.0, 6.0]


def test_moving_average_of_the_last_window() -> None:
    history = pl.concat(
        [one_series("north", [1, 2, 3, 4, 100]), one_series("south", [10, 20])]
    ).sample(fraction=1.0, shuffle=True, seed=1)
    future = pl.concat(
        [future_steps("north", START + dt.timedelta(days=5), 1),
         future_steps("south", START + dt.timedelta(days=2), 1)]
    )  # fmt: skip
    out = moving_average(history, future, KEYS, window=3).sort("region")
    assert out["region"].to_list() == ["north", "south"]
    assert out["forecast"].to_list() == [pytest.approx(107 / 3), 15.0]


# --- backtest ---------------------------------------------------------------------------


def params(horizon: int = 7, windows: int = 2) -> BacktestParams:
    return defaults.backtest(
        horizon=horizon,
        windows=windows,
        season_length=7,
        moving_average_window=7,
        segment_by="region",
    )


def test_backtest_window_never_sees_actuals_from_the_origin_on() -> None:
    panel = weekly_panel()
    origin = START + dt.timedelta(days=56)
    base = backtest_window(panel, origin, SPEC, params(), TRAIN)
    leaked = panel.with_columns(
        pl.when(pl.col("date") >= origin)
        .then(pl.col(TARGET) * 1000)
        .otherwise(pl.col(TARGET))
        .alias(TARGET)
    )
    out = backtest_window(leaked, origin, SPEC, params(), TRAIN)
    forecasts = ["lightgbm", "lgbm_mean", "lgbm_standard", "naive", "seasonal_naive"]
    assert_frame_equal(out.drop("actual"), base.drop("actual"))
    assert_frame_equal(out.select("actual"), base.select(pl.col("actual") * 1000))
    assert out.select(forecasts).null_count().sum_horizontal().item() == 0


def test_backtest_window_rows_steps_and_baselines() -> None:
    panel = weekly_panel()
    origin = START + dt.timedelta(days=56)
    out = backtest_window(panel, origin, SPEC, params(), TRAIN)
    assert out.height == 2 * 7
    assert set(out.columns) >= {*KEYS, "date", "step", "actual", "lightgbm", "origin"}
    north = out.filter(pl.col("region") == "north").sort("date")
    assert north["date"].to_list() == days(7, origin)
    assert north["step"].to_list() == list(range(1, 8))
    assert north["origin"].unique().to_list() == [origin]
    history = panel.filter((pl.col("region") == "north") & (pl.col("date") < origin))
    assert north["seasonal_naive"].to_list() == history[TARGET].tail(7).to_list()
    assert north["moving_average"].to_list() == [pytest.approx(history[TARGET].tail(7).mean())] * 7
    assert (out["lightgbm"] >= 0).all()
    mean = (out["lgbm_mean"] + out["lgbm_standard"]) / 2
    assert out["lightgbm"].to_list() == pytest.approx(mean.to_list())


def test_backtest_window_falls_back_to_the_moving_average_without_a_season() -> None:
    """A series with less than a season of history gets the moving average as seasonal naive."""
    panel = pl.concat([weekly_panel(), one_series("east", [3.0] * 10, START + dt.timedelta(60))])
    origin = START + dt.timedelta(days=63)  # east has 3 periods of history before it
    out = backtest_window(panel, origin, SPEC, params(), TRAIN)
    east = out.filter(pl.col("region") == "east")
    assert east.height == 7
    assert east["moving_average"].to_list() == [3.0] * 7
    assert east["seasonal_naive"].to_list() == [3.0] * 7


def test_backtest_metrics_layout() -> None:
    """2 windows: the first chooses, the second is scored (the model's rows only there)."""
    panel = weekly_panel()
    result = backtest(panel, SPEC, params(horizon=7, windows=2), TRAIN)
    preds, metrics = result.predictions, result.metrics
    assert preds.height == 2 * 7
    assert metrics["windows"] == {
        "origins": ["2024-02-26", "2024-03-04"],
        "scored": ["2024-03-04"],
        "horizon": 7,
    }
    candidates = {"lightgbm", "lgbm_mean", "lgbm_standard"}
    assert (
        set(metrics["backtest"])
        == {"model", "seasonal_naive", "moving_average", "naive"} | candidates
    )
    for block in metrics["backtest"].values():
        assert set(block) >= {"wape", "mae", "rmse", "bias", "n"}
        assert block["n"] == 14
        assert 0 <= block["wape"] < 1
    assert set(metrics["backtest"]["model"]) >= {"coverage_80", "pinball_p10", "pinball_p90"}
    assert [row["step"] for row in metrics["per_horizon"]] == list(range(1, 8))
    assert all("coverage_80" in row["model"] for row in metrics["per_horizon"])
    assert [row["segment"] for row in metrics["per_segment"]] == ["north", "south"]
    assert [row["origin"] for row in metrics["per_window"]] == [dt.date(2024, 3, 4)]
    assert metrics["ensemble"]["per_window"][0]["origin"] == "2024-03-04"
    assert metrics["ensemble"]["final"]["recipe"] in {"best", "top2", "all"}


def test_backtest_is_deterministic() -> None:
    panel = weekly_panel()
    first = backtest(panel, SPEC, params(), TRAIN)
    second = backtest(panel, SPEC, params(), TRAIN)
    assert_frame_equal(first.predictions, second.predictions, check_exact=True)
    assert first.metrics == second.metrics


def test_backtest_too_short_history_is_a_clear_error() -> None:
    panel = weekly_panel(n=20)
    with pytest.raises(ValueError, match=r"(?s)has 20 period.*needs \d+.*fix: .*horizon") as err:
        backtest(panel, SPEC, params(horizon=7, windows=2), TRAIN)
    assert "data.input_path" in str(err.value)


def test_backtest_rejects_an_unknown_segment_column() -> None:
    bad = replace(params(windows=1), segment_by="store_format")
    with pytest.raises(ValueError, match=r"evaluation\.segment_by='store_format'"):
        backtest(weekly_panel(), SPEC, bad, TRAIN)


# --- gate -------------------------------------------------------------------------------


def metrics(model: float | None, naive: float | None) -> dict[str, dict[str, dict[str, object]]]:
    return {"backtest": {"model": {"wape": model}, "seasonal_naive": {"wape": naive}}}


def test_gate_passes_when_the_model_beats_seasonal_naive() -> None:
    decision = gate(metrics(0.30, 0.40), 0.1, None, MAX_REGRESSION)
    assert decision["passed"] is True
    assert decision["reasons"] == [
        (
            "model WAPE 0.3000 beats the best baseline, seasonal naive (WAPE 0.4000), by the "
            "required 10.0% (limit 0.3600)"
        ),
        "no champion yet: nothing to compare against",
    ]
    assert decision["baseline"] == {"name": "seasonal_naive", "wape": 0.40}


def test_gate_compares_with_the_best_baseline_of_the_run_and_names_it() -> None:
    scores = {
        "model": {"wape": 0.30},
        "seasonal_naive": {"wape": 0.40},
        "naive": {"wape": 0.35},
        "moving_average": {"wape": 0.50},
        "auto_ets": {"wape": 0.28},
        "lightgbm": {"wape": 0.10},  # a candidate the model combines, not a baseline
    }
    decision = gate({"backtest": scores}, 0.0, None, MAX_REGRESSION)
    assert decision["passed"] is False
    assert decision["baseline"] == {"name": "auto_ets", "wape": 0.28}
    assert "does not beat the best baseline, auto ets (WAPE 0.2800)" in decision["reasons"][0]
    del scores["auto_ets"]
    decision = gate({"backtest": scores}, 0.0, None, MAX_REGRESSION)
    assert decision["passed"] is True
    assert decision["baseline"] == {"name": "naive", "wape": 0.35}


def test_gate_fails_when_the_improvement_is_too_small() -> None:
    decision = gate(metrics(0.38, 0.40), 0.1, None, MAX_REGRESSION)
    assert decision["passed"] is False
    assert (
        "model WAPE 0.3800 does not beat the best baseline, seasonal naive (WAPE 0.4000)"
        in (decision["reasons"][0])
    )
    assert "limit 0.3600" in decision["reasons"][0]


def test_gate_fails_when_the_model_is_worse_or_equal() -> None:
    assert gate(metrics(0.50, 0.40), 0.0, None, MAX_REGRESSION)["passed"] is False
    assert gate(metrics(0.40, 0.40), 0.0, None, MAX_REGRESSION)["passed"] is False
    assert gate(metrics(0.39, 0.40), 0.0, None, MAX_REGRESSION)["passed"] is True


def test_a_negative_min_improvement_lets_the_model_be_that_much_worse() -> None:
    assert gate(metrics(0.40, 0.40), -0.1, None, MAX_REGRESSION)["passed"]
    assert gate(metrics(0.43, 0.40), -0.1, None, MAX_REGRESSION)["passed"]
    assert not gate(metrics(0.45, 0.40), -0.1, None, MAX_REGRESSION)["passed"]
    assert not gate(metrics(0.40, 0.40), 0.0, None, MAX_REGRESSION)["passed"]


def test_gate_fails_on_an_undefined_wape() -> None:
    decision = gate(metrics(None, 0.4), 0.0, None, MAX_REGRESSION)
    assert decision == {
        "passed": False,
        "reasons": ["backtest WAPE is undefined (no actual revenue)"],
    }


def champion(wape: float | None) -> dict[str, object]:
    return {"version": "v7", "metrics": metrics(wape, 0.40)}


def test_gate_passes_within_the_allowed_regression_from_the_champion() -> None:
    decision = gate(metrics(0.31, 0.40), 0.0, champion(0.30), 0.05)
    assert decision["passed"] is True
    assert decision["champion"] == {"version": "v7", "wape": 0.30}
    assert decision["reasons"][1] == (
        "model WAPE 0.3100 is within the allowed 5.0% regression from champion v7 re-scored "
        "on the same windows (WAPE 0.3000, ceiling 0.3150)"
    )


def test_gate_fails_beyond_the_allowed_regression_from_the_champion() -> None:
    decision = gate(metrics(0.32, 0.40), 0.0, champion(0.30), 0.05)
    assert decision["passed"] is False
    assert "model WAPE 0.3200 is worse than the allowed 5.0% regression" in decision["reasons"][1]
    assert "beats the best baseline" in decision["reasons"][0]  # the naive check alone passed


def test_gate_needs_both_checks() -> None:
    # better than the champion but not better than seasonal naive: still fails
    assert gate(metrics(0.45, 0.40), 0.0, champion(0.50), MAX_REGRESSION)["passed"] is False


def test_gate_with_a_champion_that_cannot_be_rescored() -> None:
    decision = gate(metrics(0.30, 0.40), 0.0, champion(None), MAX_REGRESSION)
    assert decision["passed"] is True
    assert decision["reasons"][1] == "champion v7 could not be re-scored; not compared"


def test_small_regressions_cannot_compound_past_the_best_recent_champion() -> None:
    # v7 serves at 0.315 (within 5% of v5's 0.300); 0.325 is within 5% of v7 but not of v5
    best = {"version": "v5", "metrics": metrics(0.300, 0.40), "considered": ["v7", "v6", "v5"]}
    decision = gate(metrics(0.325, 0.40), 0.0, champion(0.315), 0.05, best)
    assert decision["passed"] is False
    assert decision["champion"] == {"version": "v7", "wape": 0.315}
    assert decision["reference"] == {"version": "v5", "wape": 0.3, "considered": ["v7", "v6", "v5"]}
    assert decision["reasons"][1] == (
        "model WAPE 0.3250 is worse than the allowed 5.0% regression from the best of the last "
        "3 champions, v5 (current champion v7: 0.3150) re-scored on the same windows "
        "(WAPE 0.3000, ceiling 0.3150)"
    )
    assert gate(metrics(0.314, 0.40), 0.0, champion(0.315), 0.05, best)["passed"] is True


def test_a_reference_worse_than_the_current_champion_changes_nothing() -> None:
    worse = {"version": "v5", "metrics": metrics(0.33, 0.40), "considered": ["v7", "v5"]}
    decision = gate(metrics(0.31, 0.40), 0.0, champion(0.30), 0.05, worse)
    assert decision == gate(metrics(0.31, 0.40), 0.0, champion(0.30), 0.05)


# --- too little history, before training ---------------------------------------------------------


def test_history_check_names_periods_needed_and_available_and_the_keys() -> None:
    panel = weekly_panel(n=20)  # lookback 7: needs 8 + 2 x 7 = 22
    with pytest.raises(ShortHistoryError) as info:
        check_history(panel, SPEC, params(horizon=7, windows=2))
    text = info.value.block()
    assert "the panel has 20 period(s); this run needs 22" in text
    assert "set evaluation.backtest_windows=1" in text
    assert "set forecast.horizon=6" in text
    assert "features.lags and features.window_sizes of at most 5" in text


@pytest.mark.parametrize(
    "fixed",
    [
        {"horizon": 7, "windows": 1},  # evaluation.backtest_windows=1
        {"horizon": 6, "windows": 2},  # forecast.horizon=6
    ],
)
def test_each_suggested_fix_makes_the_history_enough(fixed: dict[str, int]) -> None:
    panel = weekly_panel(n=20)
    check_history(panel, SPEC, params(**fixed))
    backtest(panel, SPEC, params(**fixed), TrainParams(HYPER, 5, 7))  # and the backtest runs


def test_shorter_lags_suggested_make_the_history_enough() -> None:
    short = defaults.feature_spec(lags=[1, 5], window_sizes=[5], holiday_country=None)
    check_history(weekly_panel(n=20), short, params(horizon=7, windows=2))


def test_exactly_enough_history_passes() -> None:
    check_history(weekly_panel(n=22), SPEC, params(horizon=7, windows=2))
