"""Unit tests for tasks.model.forecast: future periods, promo plans, recursion, clipping."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tasks.model.features import TARGET, FeatureSpec, build_features
from tasks.model.forecast import attach_promo, forecast_next, future_periods, recursive_forecast
from tasks.model.train import TrainedModel, predict, to_matrix, train_model

KEYS = ["region", "product_type"]
HYPER = {
    "objective": "regression",
    "learning_rate": 0.3,
    "num_leaves": 15,
    "min_data_in_leaf": 3,
    "min_data_in_bin": 1,
    "num_threads": 1,
}


def periods(start: dt.date, n: int, frequency: str = "1d") -> list[dt.date]:
    end = pl.select(pl.lit(start).dt.offset_by(f"{n - 1}{frequency[1:]}")).item()
    return pl.date_range(start, end, interval=frequency, eager=True).to_list()


def one_series(
    region: str,
    values: list[float] | np.ndarray,
    start: dt.date = dt.date(2024, 1, 1),
    frequency: str = "1d",
    promo: list[float] | np.ndarray | None = None,
) -> pl.DataFrame:
    n = len(values)
    return pl.DataFrame(
        {
            "region": [region] * n,
            "product_type": ["toys"] * n,
            "date": periods(start, n, frequency),
            TARGET: [float(v) for v in values],
            "promo": [0.0] * n if promo is None else [float(p) for p in promo],
        }
    )


def fit(panel: pl.DataFrame, spec: FeatureSpec, rounds: int = 40) -> TrainedModel:
    return train_model(build_features(panel, spec), spec, HYPER, rounds, seed=3)


def noisy_panel(frequency: str, n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.concat(
        [
            one_series("north", rng.uniform(80, 120, n).round(2), frequency=frequency),
            one_series("south", rng.uniform(20, 40, n).round(2), frequency=frequency),
        ]
    )


# --- future periods ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "last", "ended_early", "horizon", "expected"),
    [
        ("1d", dt.date(2024, 2, 28), dt.date(2024, 2, 26), 3,
         [dt.date(2024, 2, 29), dt.date(2024, 3, 1), dt.date(2024, 3, 2)]),
        ("1w", dt.date(2024, 12, 23), dt.date(2024, 12, 9), 2,
         [dt.date(2024, 12, 30), dt.date(2025, 1, 6)]),
        ("1mo", dt.date(2024, 11, 1), dt.date(2024, 8, 1), 3,
         [dt.date(2024, 12, 1), dt.date(2025, 1, 1), dt.date(2025, 2, 1)]),
    ],
)  # fmt: skip
def test_future_periods_per_frequency(
    frequency: str, last: dt.date, ended_early: dt.date, horizon: int, expected: list[dt.date]
) -> None:
    history = pl.DataFrame(
        {"region": ["north", "north", "south"], "date": [ended_early, last, ended_early]}
    )
    out = future_periods(history, ["region"], frequency, horizon)
    north = out.filter(pl.col("region") == "north")["date"].to_list()
    south = out.filter(pl.col("region") == "south")["date"].to_list()
    assert north == expected
    # the series that ended early is filled from its own end up to the global horizon
    assert south[-horizon:] == expected
    assert south[0] > ended_early
    assert south == pl.date_range(south[0], expected[-1], frequency, eager=True).to_list()
    assert out.columns == ["region", "date"]


def test_future_periods_rejects_a_horizon_below_one() -> None:
    history = pl.DataFrame({"region": ["north"], "date": [dt.date(2024, 1, 1)]})
    with pytest.raises(ValueError, match=r"forecast\.horizon must be >= 1, got 0"):
        future_periods(history, ["region"], "1d", 0)


def test_attach_promo_applies_the_plan_and_defaults_to_zero() -> None:
    jan1, jan2 = dt.date(2024, 1, 1), dt.date(2024, 1, 2)
    future = pl.DataFrame({"region": ["north", "north", "south"], "date": [jan1, jan2, jan1]})
    plan = pl.DataFrame({"region": ["north", "west"], "date": [jan2, jan2], "promo": [True, True]})
    out = attach_promo(future, ["region"], plan).sort("region", "date")
    assert out["promo"].to_list() == [0.0, 1.0, 0.0]
    assert out["promo"].dtype == pl.Float64
    assert out.height == 3  # plan rows for unknown series add nothing
    for empty in (None, plan.clear()):
        assert attach_promo(future, ["region"], empty)["promo"].to_list() == [0.0] * 3


# --- forecast_next ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequency", "n", "horizon"), [("1d", 60, 5), ("1w", 40, 4), ("1mo", 30, 3)]
)
def test_forecast_next_gives_horizon_rows_per_series_at_the_right_dates(
    frequency: str, n: int, horizon: int
) -> None:
    spec = FeatureSpec(frequency, KEYS, [1, 2], [3], categorical_columns=KEYS, holiday_country="US")
    panel = noisy_panel(frequency, n)
    # south stops 2 periods early: it still gets forecasts for the global next horizon
    last = panel["date"].max()
    south_last = periods(dt.date(2024, 1, 1), n - 2, frequency)[-1]
    panel = panel.filter((pl.col("region") == "north") | (pl.col("date") <= south_last))
    out = forecast_next(fit(panel, spec), panel, spec, horizon)
    expected = periods(last, horizon + 1, frequency)[1:]
    assert out.columns == [*KEYS, "date", "forecast"]
    for region in ("north", "south"):
        assert out.filter(pl.col("region") == region)["date"].to_list() == expected
    assert out["forecast"].dtype == pl.Float64
    assert out["forecast"].is_finite().all()
    assert (out["forecast"] >= 0).all()


def test_first_step_uses_the_same_features_as_training() -> None:
    """The short history tail kept for recursion gives the features the full history gives."""
    spec = FeatureSpec("1d", KEYS, [1, 7, 14], [7, 28], categorical_columns=KEYS)
    panel = noisy_panel("1d", 80)
    model = fit(panel, spec)
    out = forecast_next(model, panel, spec, 1)
    future = future_periods(panel, KEYS, "1d", 1).with_columns(
        pl.lit(None, dtype=pl.Float64).alias(TARGET), pl.lit(0.0).alias("promo")
    )
    full = build_features(pl.concat([panel, future.select(panel.columns)]), spec)
    rows = full.filter(pl.col(TARGET).is_null())
    assert out["forecast"].to_list() == predict(model, rows).tolist()


def test_recursion_feeds_each_prediction_into_the_next_step() -> None:
    """y_t = y_{t-1} + 10 (wrapping 100 → 0): only the previous *prediction* tells step 2 on."""
    spec = FeatureSpec("1d", KEYS, [1], [], calendar=False, use_promo=False, normalize=False)
    cycle = [10.0 * (i % 11) for i in range(11 * 20 + 4)]  # ends ..., 0, 10, 20, 30
    panel = one_series("north", cycle)
    model = fit(panel, spec, rounds=60)
    out = forecast_next(model, panel, spec, 5)["forecast"].to_numpy()
    assert out == pytest.approx([40.0, 50.0, 60.0, 70.0, 80.0], abs=1.0)
    assert (np.diff(out) > 5).all()


def test_the_promo_plan_is_applied() -> None:
    spec = FeatureSpec(
        "1d", KEYS, [1], [], categorical_columns=KEYS, calendar=False, normalize=False
    )
    rng = np.random.default_rng(1)
    n = 200
    frames = []
    for region in ("north", "south"):
        promo = (rng.uniform(size=n) < 0.3).astype(float)
        frames.append(one_series(region, 100 + 100 * promo + rng.normal(0, 2, n), promo=promo))
    panel = pl.concat(frames)
    model = fit(panel, spec)
    future = periods(panel["date"].max(), 6)[1:]
    plan = pl.DataFrame(
        {
            "region": ["north", "north"],
            "product_type": ["toys", "toys"],
            "date": [future[1], future[3]],
            "promo": [1.0, 1.0],
        }
    )
    out = forecast_next(model, panel, spec, 5, promo_plan=plan)
    north = out.filter(pl.col("region") == "north")["forecast"].to_numpy()
    south = out.filter(pl.col("region") == "south")["forecast"].to_numpy()
    assert north == pytest.approx([100, 200, 100, 200, 100], abs=15)
    assert south == pytest.approx([100] * 5, abs=15)
    no_plan = forecast_next(model, panel, spec, 5)
    assert no_plan.filter(pl.col("region") == "north")["forecast"].to_numpy() == pytest.approx(
        [100] * 5, abs=15
    )


def test_forecasts_are_never_negative() -> None:
    spec = FeatureSpec("1d", KEYS, [1, 7], [7], categorical_columns=KEYS, normalize=False)
    panel = noisy_panel("1d", 60).with_columns(
        pl.when(pl.col("region") == "south")
        .then(pl.col(TARGET) - 200.0)  # negative targets: a squared-error model goes below 0
        .otherwise(pl.col(TARGET))
        .alias(TARGET)
    )
    model = fit(panel, spec)
    matrix = to_matrix(build_features(panel, spec), model.feature_names, model.categories)
    raw = model.booster.predict(matrix)
    assert raw.min() < 0  # the model itself predicts negative values here
    out = forecast_next(model, panel, spec, 7)
    assert out.height == 14
    assert (out["forecast"] >= 0).all()
    assert (out.filter(pl.col("region") == "south")["forecast"] == 0).all()


def test_normalised_recursion_follows_a_trend_beyond_the_training_range() -> None:
    """y_t = 1.02 * y_{t-1}: in units of the recent level every step looks alike, so the
    recursion keeps growing past the largest target ever seen (each step feeds the next)."""
    spec = FeatureSpec("1d", KEYS, [1], [3], calendar=False, use_promo=False)
    assert spec.normalize
    values = 10.0 * 1.02 ** np.arange(150)
    panel = one_series("north", values)
    out = forecast_next(fit(panel, spec, rounds=60), panel, spec, 5)["forecast"].to_numpy()
    assert out[0] > values[-1]
    assert (np.diff(out) > 0).all()
    assert out / values[-1] == pytest.approx(1.02 ** np.arange(1, 6), rel=0.01)


def test_a_series_that_stopped_reporting_long_ago_is_not_forecast() -> None:
    spec = FeatureSpec("1d", KEYS, [1], [3], categorical_columns=KEYS)
    panel = noisy_panel("1d", 60)
    panel = panel.filter((pl.col("region") == "north") | (pl.col("date") < dt.date(2024, 2, 10)))
    out = forecast_next(fit(panel, spec), panel, spec, 5)
    assert out["region"].unique().to_list() == ["north"]
    assert out.height == 5


def test_series_without_history_are_left_out() -> None:
    spec = FeatureSpec("1d", KEYS, [1], [3], categorical_columns=KEYS)
    panel = noisy_panel("1d", 40)
    model = fit(panel, spec)
    future = future_periods(panel, KEYS, "1d", 2)
    stranger = future.filter(pl.col("region") == "north").with_columns(
        pl.lit("east").alias("region")
    )
    todo = attach_promo(pl.concat([future, stranger]), KEYS, None)
    out = recursive_forecast(model, panel, todo, spec)
    assert sorted(out["region"].unique().to_list()) == ["north", "south"]
    assert out.height == 4


def test_forecast_ignores_history_order_and_is_deterministic() -> None:
    spec = FeatureSpec("1d", KEYS, [1, 7], [7], categorical_columns=KEYS, holiday_country="US")
    panel = noisy_panel("1d", 60)
    model = fit(panel, spec)
    first = forecast_next(model, panel, spec, 6)
    shuffled = forecast_next(model, panel.sample(fraction=1.0, shuffle=True, seed=2), spec, 6)
    assert_frame_equal(shuffled, first, check_exact=True)
