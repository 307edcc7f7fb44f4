"""Unit tests for tasks.model.metrics on hand-computed numbers."""

from __future__ import annotations

import math

import polars as pl
import pytest

from tasks.model.metrics import METHODS, score, score_by, score_methods

# errors (predicted - actual): +2, -2, +3, 0 → |err| sum 7, err sum 3, squares 17, Σ|actual| 100
ACTUAL = [10.0, 20.0, 30.0, 40.0]
PREDICTED = [12.0, 18.0, 33.0, 40.0]


def frame(actual: list[float | None], **methods: list[float | None]) -> pl.DataFrame:
    return pl.DataFrame({"actual": actual, **methods}, schema_overrides={"actual": pl.Float64})


def test_metrics_on_hand_computed_numbers() -> None:
    got = score(frame(ACTUAL, model=PREDICTED), "actual", "model")
    assert got["wape"] == pytest.approx(7 / 100)
    assert got["mae"] == pytest.approx(7 / 4)
    assert got["rmse"] == pytest.approx(math.sqrt(17 / 4))
    assert got["bias"] == pytest.approx(3 / 100)
    assert got["n"] == 4


def test_bias_is_relative_and_signed() -> None:
    over = score(frame([10.0, 10.0], model=[15.0, 15.0]), "actual", "model")
    under = score(frame([10.0, 10.0], model=[5.0, 5.0]), "actual", "model")
    assert over["bias"] == pytest.approx(0.5)  # positive: over-forecast
    assert under["bias"] == pytest.approx(-0.5)  # negative: under-forecast
    assert over["wape"] == under["wape"] == pytest.approx(0.5)


def test_a_perfect_forecast_scores_zero() -> None:
    got = score(frame(ACTUAL, model=ACTUAL), "actual", "model")
    assert got == {"wape": 0.0, "mae": 0.0, "rmse": 0.0, "bias": 0.0, "n": 4}


def test_wape_weights_by_volume_not_by_row() -> None:
    # One row off by 10 on a volume of 1000 vs 10: WAPE is 10/1010, not a mean of ratios.
    got = score(frame([1000.0, 10.0], model=[1000.0, 20.0]), "actual", "model")
    assert got["wape"] == pytest.approx(10 / 1010)


def test_rows_with_a_null_actual_or_prediction_are_not_scored() -> None:
    got = score(frame([*ACTUAL, None, 50.0], model=[*PREDICTED, 99.0, None]), "actual", "model")
    assert got["n"] == 4
    assert got["wape"] == pytest.approx(0.07)


def test_zero_actuals_give_an_undefined_wape_not_inf() -> None:
    got = score(frame([0.0, 0.0], model=[1.0, 3.0]), "actual", "model")
    assert got["wape"] is None
    assert got["bias"] is None
    assert got["mae"] == pytest.approx(2.0)


def test_nothing_to_score_gives_none() -> None:
    got = score(frame([None], model=[1.0]), "actual", "model")
    assert got["n"] == 0
    assert got["wape"] is None
    assert got["mae"] is None
    assert got["rmse"] is None


def test_score_methods_scores_each_method_present() -> None:
    got = score_methods(frame(ACTUAL, model=PREDICTED, seasonal_naive=ACTUAL))
    assert set(got) == {"model", "seasonal_naive"}
    assert set(METHODS) == {"model", "seasonal_naive", "moving_average"}
    assert got["seasonal_naive"]["wape"] == 0.0
    assert got["model"]["wape"] == pytest.approx(0.07)


def test_score_by_groups_sorted_by_value() -> None:
    f = frame(ACTUAL, model=PREDICTED).with_columns(pl.Series("step", [2, 1, 2, 1]))
    got = score_by(f, "step")
    assert [g["step"] for g in got] == [1, 2]
    step1, step2 = got[0]["model"], got[1]["model"]
    assert isinstance(step1, dict)
    assert isinstance(step2, dict)
    assert step1["wape"] == pytest.approx(2 / 60)  # rows 20→18 and 40→40
    assert step2["wape"] == pytest.approx(5 / 40)  # rows 10→12 and 30→33
    assert step2["bias"] == pytest.approx(5 / 40)
