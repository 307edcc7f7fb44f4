"""Unit tests for tasks.model.features: no leakage, exact lag/window values, calendar, defaults."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows import config as conf
from tasks.model.features import (
    CALENDAR_COLUMNS,
    DEFAULT_HORIZON,
    DEFAULT_LAGS,
    DEFAULT_SEASON,
    DEFAULT_WINDOWS,
    SCALE,
    TARGET,
    FeatureSpec,
    build_features,
    calendar_features,
    holiday_table,
    resolve_spec,
)
from tests.golden import regenerate as golden

KEYS = ["region", "product_type"]
STARTS = {"1d": dt.date(2024, 1, 1), "1w": dt.date(2023, 1, 2), "1mo": dt.date(2020, 1, 1)}


def spec_for(
    frequency: str,
    lags: list[int] | None = None,
    windows: list[int] | None = None,
    holiday_country: str | None = "US",
    categorical_columns: list[str] | None = None,
) -> FeatureSpec:
    return resolve_spec(
        frequency=frequency,
        series_keys=KEYS,
        lags=lags,
        window_sizes=windows,
        categorical_columns=KEYS if categorical_columns is None else categorical_columns,
        calendar=True,
        holiday_country=holiday_country,
        use_promo=True,
    )


def series(
    region: str, product: str, start: dt.date, values: list[float], frequency: str = "1d"
) -> pl.DataFrame:
    """One series of a panel: consecutive periods from ``start``."""
    dates = pl.date_range(start, start, eager=True)
    if len(values) > 1:
        end = pl.select(pl.lit(start).dt.offset_by(f"{len(values) - 1}{frequency[1:]}")).item()
        dates = pl.date_range(start, end, interval=frequency, eager=True)
    n = len(values)
    return pl.DataFrame(
        {
            "region": [region] * n,
            "product_type": [product] * n,
            "date": dates,
            TARGET: [float(v) for v in values],
            "promo": [float(i % 3 == 0) for i in range(n)],
        },
        schema_overrides={TARGET: pl.Float64},
    )


def random_panel(frequency: str, periods: int, seed: int = 0) -> pl.DataFrame:
    """Two series of positive random revenue, ``periods`` periods each."""
    rng = np.random.default_rng(seed)
    start = STARTS[frequency]
    a = series("north", "toys", start, list(rng.uniform(10, 100, periods).round(2)), frequency)
    b = series("south", "home", start, list(rng.uniform(10, 100, periods).round(2)), frequency)
    return pl.concat([a, b])


def target_columns(spec: FeatureSpec) -> list[str]:
    return [c for c in spec.feature_names if c.startswith(("lag_", "roll_"))]


# --- leakage ---------------------------------------------------------------------------

PERTURBATIONS = {
    "times_1000": pl.col(TARGET) * 1000.0,
    "nan": pl.lit(float("nan")),
    "null": pl.lit(None, dtype=pl.Float64),
}
LEAK_CASES = [("1d", 70), ("1w", 70), ("1mo", 30)]


@pytest.mark.parametrize("perturbation", sorted(PERTURBATIONS))
@pytest.mark.parametrize(("frequency", "periods"), LEAK_CASES)
def test_no_feature_at_or_before_t_sees_targets_from_t_on(
    frequency: str, periods: int, perturbation: str
) -> None:
    spec = spec_for(frequency)  # per-frequency default lags and windows (up to 52 periods)
    panel = random_panel(frequency, periods)
    dates = panel["date"].unique().sort()
    base = build_features(panel, spec)
    checked_cols = [c for c in base.columns if c != TARGET]
    for idx in [0, 1, 2, 5, periods // 2, periods - 2, periods - 1]:
        t = dates[idx]
        perturbed = panel.with_columns(
            pl.when(pl.col("date") >= t)
            .then(PERTURBATIONS[perturbation])
            .otherwise(pl.col(TARGET))
            .alias(TARGET)
        )
        out = build_features(perturbed, spec)
        assert_frame_equal(
            out.filter(pl.col("date") <= t).select(checked_cols),
            base.filter(pl.col("date") <= t).select(checked_cols),
        )
        if idx < periods - 1:  # the perturbation is visible from t+1 on (the test has teeth)
            after = out.filter(pl.col("date") == dates[idx + 1])["lag_1"]
            before = base.filter(pl.col("date") == dates[idx + 1])["lag_1"]
            assert not after.equals(before, null_equal=True)


def test_targets_of_one_series_never_reach_another() -> None:
    spec = spec_for("1d", lags=[1, 2, 7], windows=[3, 7])
    panel = random_panel("1d", 40)
    base = build_features(panel, spec)
    changed = build_features(
        panel.with_columns(
            pl.when(pl.col("region") == "north")
            .then(pl.col(TARGET) * 1000)
            .otherwise(pl.col(TARGET))
            .alias(TARGET)
        ),
        spec,
    )
    assert_frame_equal(
        changed.filter(pl.col("region") == "south"), base.filter(pl.col("region") == "south")
    )


def test_windows_and_lags_restart_at_each_series() -> None:
    """The second series' first rows have no history, though the first series precedes it."""
    spec = spec_for("1d", lags=[1, 2], windows=[3], categorical_columns=[])
    panel = pl.concat(
        [
            series("north", "toys", dt.date(2024, 3, 1), [1, 2, 3, 4]),
            series("south", "toys", dt.date(2024, 3, 1), [100, 200, 300, 400]),
        ]
    )
    out = build_features(panel, spec).filter(pl.col("region") == "south")
    assert out["lag_1"].to_list() == [None, 100.0, 200.0, 300.0]
    assert out["lag_2"].to_list() == [None, None, 100.0, 200.0]
    assert out["roll_mean_3"].to_list() == [None, 100.0, 150.0, 200.0]
    assert out["roll_std_3"].to_list()[:2] == [None, None]


def test_unsorted_input_gives_the_same_features() -> None:
    spec = spec_for("1d", lags=[1, 7], windows=[7])
    panel = random_panel("1d", 30)
    shuffled = panel.sample(fraction=1.0, shuffle=True, seed=3)
    assert_frame_equal(build_features(shuffled, spec), build_features(panel, spec))


# --- exact values ----------------------------------------------------------------------


def test_lags_and_windows_on_a_hand_computed_series() -> None:
    spec = spec_for("1d", lags=[1, 2], windows=[3], categorical_columns=[])
    panel = series("north", "toys", dt.date(2024, 3, 4), [10, 20, 30, 40, 50, 70])
    out = build_features(panel, spec)
    assert out["lag_1"].to_list() == [None, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert out["lag_2"].to_list() == [None, None, 10.0, 20.0, 30.0, 40.0]
    # Window of the 3 periods before t: [], [10], [10,20], [10,20,30], [20,30,40], [30,40,50]
    assert out["roll_mean_3"].to_list() == [None, 10.0, 15.0, 20.0, 30.0, 40.0]
    std = out["roll_std_3"].to_list()
    assert std[:2] == [None, None]  # a sample std needs two values
    assert std[2:] == pytest.approx([math.sqrt(50.0), 10.0, 10.0, 10.0], rel=1e-12)
    assert out[TARGET].to_list() == [10.0, 20.0, 30.0, 40.0, 50.0, 70.0]


def test_scale_is_the_mean_over_the_longest_window_before_the_row() -> None:
    spec = spec_for("1d", lags=[1], windows=[2, 3], categorical_columns=[])
    assert spec.normalize
    assert spec.scale_window == 3
    out = build_features(series("north", "toys", dt.date(2024, 3, 4), [3, 6, 9, 30]), spec)
    assert out[SCALE].to_list() == [None, 3.0, 4.5, 6.0]
    assert out[SCALE].to_list() == out["roll_mean_3"].to_list()


def test_scale_is_missing_without_sales_in_the_window() -> None:
    spec = spec_for("1d", lags=[1], windows=[2], categorical_columns=[])
    out = build_features(series("north", "toys", dt.date(2024, 3, 4), [0, 0, 0, 6, 0]), spec)
    assert out["roll_mean_2"].to_list() == [None, 0.0, 0.0, 0.0, 3.0]
    assert out[SCALE].to_list() == [None, None, None, None, 3.0]


def test_no_scale_column_without_normalize() -> None:
    spec = FeatureSpec("1d", KEYS, [1], [2], normalize=False)
    out = build_features(series("north", "toys", dt.date(2024, 3, 4), [1, 2, 3]), spec)
    assert SCALE not in out.columns
    assert out.columns[-1] == "promo"


def test_a_missing_target_is_skipped_by_windows_and_shows_as_a_null_lag() -> None:
    spec = spec_for("1d", lags=[1], windows=[3], categorical_columns=[])
    panel = series("north", "toys", dt.date(2024, 3, 4), [10, 20, 30, 40]).with_columns(
        pl.when(pl.col("date") == dt.date(2024, 3, 5))
        .then(None)
        .otherwise(pl.col(TARGET))
        .alias(TARGET)
    )
    out = build_features(panel, spec)
    assert out["lag_1"].to_list() == [None, 10.0, None, 30.0]
    assert out["roll_mean_3"].to_list() == [None, 10.0, 10.0, 20.0]
    assert out[TARGET].to_list() == [10.0, None, 30.0, 40.0]


def test_weekly_and_monthly_lags_count_periods_not_days() -> None:
    for frequency, start in [("1w", dt.date(2024, 1, 1)), ("1mo", dt.date(2024, 1, 1))]:
        spec = spec_for(frequency, lags=[1, 2], windows=[2], categorical_columns=[])
        out = build_features(series("north", "toys", start, [5, 7, 11, 13], frequency), spec)
        assert out["lag_2"].to_list() == [None, None, 5.0, 7.0], frequency
        assert out["roll_mean_2"].to_list() == [None, 5.0, 6.0, 9.0], frequency


# --- calendar --------------------------------------------------------------------------


def test_daily_calendar_around_independence_day() -> None:
    spec = spec_for("1d", lags=[1], windows=[2])
    panel = series("north", "toys", dt.date(2024, 7, 3), [1, 2, 3])
    out = build_features(panel, spec)
    assert out.select(CALENDAR_COLUMNS["1d"]).rows() == [
        # day_of_week (Mon=1), day_of_month, ISO week, month, is_holiday
        (3, 3, 27, 7, 0),
        (4, 4, 27, 7, 1),  # Thursday 2024-07-04, Independence Day
        (5, 5, 27, 7, 0),
    ]


def test_daily_calendar_at_a_year_boundary() -> None:
    spec = spec_for("1d", lags=[1], windows=[2])
    out = build_features(series("north", "toys", dt.date(2024, 12, 30), [1, 2, 3]), spec)
    assert out.select(CALENDAR_COLUMNS["1d"]).rows() == [
        (1, 30, 1, 12, 0),  # Monday 2024-12-30 lies in ISO week 1 of 2025
        (2, 31, 1, 12, 0),
        (3, 1, 1, 1, 1),  # New Year's Day
    ]


def test_weekly_holiday_counts() -> None:
    spec = spec_for("1w", lags=[1], windows=[2])
    panel = series("north", "toys", dt.date(2024, 6, 10), [1, 2, 3, 4, 5], "1w")
    out = build_features(panel, spec)
    assert out.select("date", *CALENDAR_COLUMNS["1w"]).rows() == [
        (dt.date(2024, 6, 10), 24, 6, 0),
        (dt.date(2024, 6, 17), 25, 6, 1),  # Juneteenth, Wednesday 2024-06-19
        (dt.date(2024, 6, 24), 26, 6, 0),
        (dt.date(2024, 7, 1), 27, 7, 1),  # Independence Day, Thursday 2024-07-04
        (dt.date(2024, 7, 8), 28, 7, 0),
    ]


def test_holidays_after_the_last_period_start_are_counted() -> None:
    """The last period's holidays fall after its start date (July 4 in the week of July 1)."""
    weekly = build_features(
        series("north", "toys", dt.date(2024, 6, 24), [1, 2], "1w"), spec_for("1w", [1], [2])
    )
    assert weekly["holidays_in_period"].to_list() == [0, 1]
    monthly = build_features(
        series("north", "toys", dt.date(2024, 10, 1), [1, 2, 3], "1mo"), spec_for("1mo", [1], [2])
    )
    assert monthly["holidays_in_period"].to_list() == [1, 2, 1]  # Columbus; Veterans+Thanksgiving


def test_monthly_holiday_counts_over_a_year() -> None:
    spec = spec_for("1mo", lags=[1], windows=[2])
    out = build_features(series("north", "toys", dt.date(2024, 1, 1), [1] * 12, "1mo"), spec)
    assert out["month"].to_list() == list(range(1, 13))
    # US 2024: New Year + MLK, Presidents, -, -, Memorial, Juneteenth, July 4, -, Labor,
    # Columbus, Veterans + Thanksgiving, Christmas.
    assert out["holidays_in_period"].to_list() == [2, 1, 0, 0, 1, 1, 1, 0, 1, 1, 2, 1]


def test_holiday_table_uses_the_holidays_package() -> None:
    table = holiday_table("US", dt.date(2024, 7, 1), dt.date(2024, 7, 31))
    assert table["holiday"].to_list() == [dt.date(2024, 7, 4)]
    assert holiday_table("US", dt.date(2024, 3, 1), dt.date(2024, 3, 31)).height == 0


def test_no_holiday_country_means_no_holiday_columns() -> None:
    for frequency in ("1d", "1w", "1mo"):
        spec = spec_for(frequency, lags=[1], windows=[2], holiday_country=None)
        assert not [c for c in spec.feature_names if "holiday" in c]
        out = build_features(series("north", "toys", STARTS[frequency], [1, 2], frequency), spec)
        assert not [c for c in out.columns if "holiday" in c]
        assert {c for c in CALENDAR_COLUMNS[frequency] if "holiday" not in c} <= set(out.columns)


def test_calendar_off_drops_calendar_columns() -> None:
    spec = FeatureSpec("1d", KEYS, [1], [2], calendar=False, holiday_country="US")
    out = build_features(series("north", "toys", dt.date(2024, 7, 3), [1, 2, 3]), spec)
    assert not set(CALENDAR_COLUMNS["1d"]) & set(out.columns)


def test_calendar_features_of_an_empty_frame() -> None:
    empty = pl.DataFrame(schema={"date": pl.Date})
    out = calendar_features(empty, spec_for("1d", [1], [2]))
    assert out.height == 0
    assert "day_of_week" in out.columns


# --- columns, categoricals, promo ------------------------------------------------------


def test_output_columns_follow_the_spec() -> None:
    spec = spec_for("1d", lags=[7, 1, 7], windows=[28, 7])
    out = build_features(series("north", "toys", dt.date(2024, 3, 4), [1, 2, 3]), spec)
    assert spec.lags == [1, 7]
    assert spec.window_sizes == [7, 28]
    assert out.columns == [
        "region",
        "product_type",
        "date",
        TARGET,
        "lag_1",
        "lag_7",
        "roll_mean_7",
        "roll_std_7",
        "roll_mean_28",
        "roll_std_28",
        "day_of_week",
        "day_of_month",
        "week_of_year",
        "month",
        "is_holiday",
        "promo",
        SCALE,  # not a model input: the level lags, windows and the target are divided by
    ]
    assert spec.feature_names[-2:] == ["region", "product_type"]
    assert SCALE not in spec.feature_names
    assert spec.lookback == 28


def test_categorical_columns_are_kept_with_their_values() -> None:
    panel = series("north", "toys", dt.date(2024, 3, 4), [1, 2, 3]).with_columns(
        pl.lit("large").alias("store_format")
    )
    spec = spec_for("1d", [1], [2], categorical_columns=["product_type", "store_format"])
    out = build_features(panel, spec)
    assert out["store_format"].to_list() == ["large"] * 3
    assert out["product_type"].to_list() == ["toys"] * 3
    assert out["region"].dtype == pl.String


def test_a_categorical_column_missing_from_the_panel_is_named() -> None:
    spec = spec_for("1d", [1], [2], categorical_columns=["store_format"])
    with pytest.raises(ValueError, match=r"features\.categorical_columns.*store_format"):
        build_features(series("north", "toys", dt.date(2024, 3, 4), [1, 2, 3]), spec)


def test_promo_is_a_float_share_with_missing_as_zero() -> None:
    panel = series("north", "toys", dt.date(2024, 3, 4), [1, 2, 3]).with_columns(
        pl.Series("promo", [True, None, False])
    )
    out = build_features(panel, spec_for("1d", [1], [2]))
    assert out["promo"].dtype == pl.Float64
    assert out["promo"].to_list() == [1.0, 0.0, 0.0]


def test_future_rows_keep_a_null_target() -> None:
    panel = series("north", "toys", dt.date(2024, 3, 4), [1, 2, 3]).with_columns(
        pl.when(pl.col("date") == dt.date(2024, 3, 6))
        .then(None)
        .otherwise(pl.col(TARGET))
        .alias(TARGET)
    )
    out = build_features(panel, spec_for("1d", [1, 2], [2]))
    assert out.height == 3
    assert out[TARGET].to_list() == [1.0, 2.0, None]
    assert out["lag_1"][-1] == 2.0


# --- golden file ---------------------------------------------------------------------

GOLDEN_EXPECTED_SCHEMA = {
    "region": pl.String,
    "product_type": pl.String,
    "date": pl.Date,
    "revenue": pl.Float64,
    **dict.fromkeys(["lag_1", "lag_2", "lag_7"], pl.Float64),
    **{f"roll_{s}_{w}": pl.Float64 for w in (3, 7) for s in ("mean", "std")},
    **dict.fromkeys(CALENDAR_COLUMNS["1d"], pl.Int32),
    "promo": pl.Float64,
    SCALE: pl.Float64,
}


def test_build_features_matches_the_golden_file() -> None:
    """2 series x 40 days (a zero, a missing day, promos, Juneteenth, July 4) → exact features.

    On an intended change of features, rewrite the file with tests/golden/regenerate.py and
    review the diff.
    """
    panel = pl.read_csv(golden.INPUT, schema=golden.INPUT_SCHEMA)
    expected = pl.read_csv(golden.EXPECTED, schema=GOLDEN_EXPECTED_SCHEMA)
    assert expected.height == panel.height == 80
    actual = build_features(panel, golden.GOLDEN_SPEC)
    assert_frame_equal(actual, expected, check_exact=True)


def test_golden_file_spot_checks_by_hand() -> None:
    """A few golden rows recomputed by hand, so the golden file is not just trusted."""
    expected = pl.read_csv(golden.EXPECTED, schema=GOLDEN_EXPECTED_SCHEMA)
    row = expected.filter(
        (pl.col("region") == "north") & (pl.col("date") == dt.date(2024, 6, 18))
    ).row(0, named=True)
    # north/toys revenue_i = 100 + 10 * (i % 7) + i from 2024-06-10; 2024-06-18 is i = 8.
    assert (row["lag_1"], row["lag_2"], row["lag_7"]) == (107.0, 166.0, 111.0)
    assert row["roll_mean_3"] == pytest.approx((155 + 166 + 107) / 3, rel=1e-15)
    assert row["roll_mean_7"] == pytest.approx(938 / 7, rel=1e-15)
    row = expected.filter(
        (pl.col("region") == "south") & (pl.col("date") == dt.date(2024, 7, 4))
    ).row(0, named=True)
    # south/home: 50 + 3 * i from 2024-06-12, missing on 2024-07-02 (i = 20).
    assert (row["lag_1"], row["lag_2"], row["lag_7"]) == (113.0, None, 95.0)
    assert row["roll_mean_3"] == 110.0  # mean(107, 113), the missing day skipped
    assert row["roll_std_3"] == pytest.approx(math.sqrt(18.0), rel=1e-12)
    assert row["is_holiday"] == 1
    assert row[SCALE] == row["roll_mean_7"] == 103.0  # mean(95, 98, 101, 104, 107, 113)


# --- spec resolution -------------------------------------------------------------------


@pytest.mark.parametrize("frequency", ["1d", "1w", "1mo"])
def test_per_frequency_defaults(frequency: str) -> None:
    spec = spec_for(frequency)
    assert spec.lags == DEFAULT_LAGS[frequency]
    assert spec.window_sizes == DEFAULT_WINDOWS[frequency]
    assert spec.lookback == max(DEFAULT_LAGS[frequency] + DEFAULT_WINDOWS[frequency])


def test_default_values_per_frequency_are_the_documented_ones() -> None:
    assert DEFAULT_LAGS == {"1d": [1, 7, 14, 28], "1w": [1, 2, 4, 52], "1mo": [1, 2, 3, 12]}
    assert DEFAULT_WINDOWS == {"1d": [7, 28], "1w": [4, 13], "1mo": [3, 12]}
    assert DEFAULT_SEASON == {"1d": 7, "1w": 52, "1mo": 12}
    assert DEFAULT_HORIZON == {"1d": 28, "1w": 13, "1mo": 6}


@pytest.mark.parametrize("frequency", ["1d", "1w", "1mo"])
def test_config_maps_to_per_frequency_defaults(frequency: str) -> None:
    cfg = conf.to_app_config(conf.compose_config([f"data.frequency={frequency}"]))
    spec = conf.feature_spec(cfg)
    assert spec.frequency == frequency
    assert spec.lags == DEFAULT_LAGS[frequency]
    assert spec.window_sizes == DEFAULT_WINDOWS[frequency]
    assert spec.categorical_columns == ["region", "product_type"]
    assert spec.holiday_country == "US"
    assert spec.normalize is True
    params = conf.backtest_params(cfg)
    assert params.horizon == DEFAULT_HORIZON[frequency]
    assert params.season_length == DEFAULT_SEASON[frequency]
    assert params.moving_average_window == DEFAULT_SEASON[frequency]


def test_config_values_override_the_defaults() -> None:
    cfg = conf.to_app_config(
        conf.compose_config(
            [
                "data.frequency=1w",
                "features.lags=[3,1,3]",
                "features.window_sizes=[5]",
                "features.holiday_country=null",
                "features.normalize=false",
            ]
        )
    )
    spec = conf.feature_spec(cfg)
    assert spec.lags == [1, 3]
    assert spec.window_sizes == [5]
    assert spec.holiday_country is None
    assert spec.normalize is False


def test_an_empty_holiday_country_means_none() -> None:
    assert spec_for("1d", holiday_country="").holiday_country is None


@pytest.mark.parametrize(
    ("lags", "windows", "bad"),
    [([0], [7], "[0]"), ([1, -2], [7], "[-2]"), ([1], [0], "[0]")],
)
def test_a_lag_or_window_below_one_is_rejected(
    lags: list[int], windows: list[int], bad: str
) -> None:
    with pytest.raises(ValueError, match=r"features\.lags / features\.window_sizes must be >= 1"):
        spec_for("1d", lags=lags, windows=windows)
    with pytest.raises(ValueError, match=r"must be >= 1, got " + bad.replace("[", r"\[")):
        FeatureSpec("1d", KEYS, lags, windows)


def test_a_zero_lag_in_config_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"features\.lags=\[0,7\]: must be a non-empty list"):
        conf.to_app_config(conf.compose_config(["features.lags=[0,7]"]))
