"""Weekly and monthly data with whole periods missing inside series, through the pure stages:
panel → features → backtest (seasonal naive with the frequency's season) → forecast."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest

from tasks.data import aggregate
from tasks.model import backtest as evaluate
from tasks.model import forecast, train
from tasks.model.features import DEFAULT_SEASON, build_features, resolve_spec
from tasks.model.train import TrainParams
from tests.support import defaults

KEYS = ["region", "product_type"]
FIRST, LAST = dt.date(2021, 1, 4), dt.date(2024, 12, 29)  # Monday .. Sunday: whole weeks
HYPER = {"objective": "tweedie", "learning_rate": 0.1, "num_leaves": 7, "num_threads": 1}


def missing(frequency: str, day: dt.date, region: str) -> bool:
    """North misses two separate weeks (or months) a year; south misses none."""
    if region != "north":
        return False
    if frequency == "1w":
        return day.isocalendar().week in (10, 30)
    return day.month in (4, 9) and day.year in (2022, 2023)


def daily(daily_rows: Callable[..., pl.DataFrame], frequency: str, seed: int = 3) -> pl.DataFrame:
    """Two series with yearly seasonality and noise, with whole periods missing in one."""
    rng = np.random.default_rng(seed)
    rows = []
    day = FIRST
    while day <= LAST:
        for region, level in (("north", 100.0), ("south", 60.0)):
            if not missing(frequency, day, region):
                season = 1.0 + 0.4 * math.sin(2 * math.pi * day.timetuple().tm_yday / 365.25)
                revenue = round(level * season * rng.uniform(0.9, 1.1), 2)
                rows.append((region, "toys", day, revenue))
        day += dt.timedelta(days=1)
    return daily_rows(*rows)


@pytest.mark.parametrize(("frequency", "horizon"), [("1w", 8), ("1mo", 6)])
@pytest.mark.parametrize("missing_periods", ["zero", "null"])
def test_gappy_weekly_and_monthly_series_backtest_and_forecast(
    daily_rows: Callable[..., pl.DataFrame], frequency: str, horizon: int, missing_periods: str
) -> None:
    rows = daily(daily_rows, frequency)
    result = aggregate.build_panel(rows, KEYS, frequency, missing_periods, drop_incomplete=True)
    panel = result.panel
    assert result.periods_filled > 0  # the missing weeks / months are in the panel
    per_series = panel.group_by(KEYS).agg(pl.len().alias("n"), pl.col("date").n_unique())
    assert per_series["n"].n_unique() == 1  # calendar complete inside each series' span
    north = panel.filter(pl.col("region") == "north").sort("date")
    gap_rows = north.filter(pl.col("revenue").is_null() | (pl.col("revenue") == 0))
    assert gap_rows.height == result.periods_filled

    season = DEFAULT_SEASON[frequency]
    assert season == {"1w": 52, "1mo": 12}[frequency]
    spec = resolve_spec(frequency, KEYS, None, None, KEYS, True, None, False, normalize=True)
    params = defaults.backtest(
        horizon=horizon,
        windows=2,
        season_length=season,
        moving_average_window=season,
        segment_by="product_type",
    )
    bt = evaluate.backtest(panel, spec, params, TrainParams(HYPER, 40, 7))

    # seasonal naive repeats the value one season (52 weeks / 12 months) earlier
    history = panel.select([*KEYS, "date", pl.col("revenue").alias("past")])
    shifted = history.with_columns(
        pl.col("date").dt.offset_by(f"{season}{frequency[1:]}").alias("date")
    )
    checked = bt.predictions.join(shifted, on=[*KEYS, "date"], how="inner").filter(
        pl.col("seasonal_naive").is_not_null()
    )
    assert checked.height > 0
    assert (checked["seasonal_naive"] - checked["past"]).abs().max() == pytest.approx(0.0)

    scores = bt.metrics["backtest"]
    for method in ("model", "seasonal_naive", "moving_average"):
        assert scores[method]["wape"] is not None
        assert math.isfinite(scores[method]["wape"])
    assert len(bt.metrics["per_horizon"]) == horizon

    model = train.train_model(build_features(panel, spec), spec, TrainParams(HYPER, 40, 7))
    out = forecast.forecast_next(model, panel, spec, horizon)
    assert out.height == 2 * horizon
    assert out["forecast"].min() >= 0  # type: ignore[operator]
    last = panel["date"].max()
    assert out["date"].min() == pl.select(pl.lit(last).dt.offset_by(frequency)).item()
