"""Unit tests for tasks.model.candidates: per-series target scaling and the candidate table."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from tasks.model import candidates as cand
from tasks.model.features import TARGET
from tasks.model.train import TrainParams
from tests.support import defaults

KEYS = ["region", "product_type"]
START = dt.date(2024, 1, 1)
SPEC = defaults.feature_spec(lags=[1, 7], window_sizes=[7], holiday_country=None)
HYPER = {"objective": "tweedie", "learning_rate": 0.2, "num_leaves": 7, "min_data_in_leaf": 5}
TRAIN = TrainParams({**HYPER, "num_threads": 1}, num_boost_round=20, seed=7)
# No per-scaling overrides: min_data_in_leaf 100 would leave these 140 rows one leaf.
PARAMS = replace(
    defaults.backtest().candidates, season_length=7, moving_average_window=7, overrides={}
)


def trending_panel(n: int = 84) -> pl.DataFrame:
    """A small and a large series, both with a weekly pattern and an upward trend."""
    rng = np.random.default_rng(3)
    week = np.array([1.0, 1.1, 1.0, 0.9, 1.2, 1.6, 1.4])
    frames = []
    for region, level in (("north", 1000.0), ("south", 10.0)):
        t = np.arange(n)
        y = level * (1 + 0.01 * t) * week[t % 7] * rng.uniform(0.95, 1.05, n)
        frames.append(
            pl.DataFrame(
                {
                    "region": region,
                    "product_type": "toys",
                    "date": [START + dt.timedelta(days=int(i)) for i in t],
                    TARGET: y,
                    "promo": 0.0,
                }
            )
        )
    return pl.concat(frames)


def test_scaling_stats_come_from_the_given_rows_only() -> None:
    panel = trending_panel()
    history = panel.filter(pl.col("date") < START + dt.timedelta(days=70))
    stats = cand.scaling_stats(history, KEYS)
    north = history.filter(pl.col("region") == "north")[TARGET]
    row = stats.filter(pl.col("region") == "north").row(0, named=True)
    assert row["mu"] == pytest.approx(north.mean())
    assert row["sd"] == pytest.approx(north.std())


def test_scaling_round_trips_and_shifts_the_standardised_target() -> None:
    panel = trending_panel()
    stats = cand.scaling_stats(panel, KEYS)
    for scaling in cand.SCALINGS:
        scaled = cand.scale(panel, stats, KEYS, scaling)
        if scaling == "standard":  # mean SHIFT, sd 1 per series: the zero clip never binds
            by = scaled.group_by("region").agg(
                pl.col(TARGET).mean().alias("mean"), pl.col(TARGET).std().alias("sd")
            )
            assert by["mean"].to_list() == pytest.approx([cand.SHIFT] * 2, abs=1e-9)
            assert by["sd"].to_list() == pytest.approx([1.0, 1.0])
        back = cand.unscale(scaled.rename({TARGET: "forecast"}), stats, KEYS, scaling)
        assert back.sort([*KEYS, "date"])["forecast"].to_list() == pytest.approx(
            panel.sort([*KEYS, "date"])[TARGET].to_list()
        )


def test_a_constant_or_zero_series_scales_by_one() -> None:
    flat = pl.DataFrame({"region": ["x"] * 3, "product_type": ["y"] * 3, TARGET: [0.0] * 3})
    stats = cand.scaling_stats(flat, KEYS)
    assert stats.select("mu", "sd").row(0) == (1.0, 1.0)


def test_members_forecast_on_the_raw_scale_from_training_rows_only() -> None:
    panel = trending_panel()
    origin = START + dt.timedelta(days=70)
    history = panel.filter(pl.col("date") < origin)
    future = panel.filter(pl.col("date") >= origin).select(*KEYS, "date", "promo")
    for scaling in cand.SCALINGS:
        member = cand.fit_member(history, SPEC, TRAIN, scaling, PARAMS)
        assert member.name == f"lgbm_{scaling}"
        assert member.stats.equals(cand.scaling_stats(history, KEYS))
        assert not member.model.normalize  # the series scaling replaces the rolling level
        out = cand.member_forecast(member, history, future, SPEC)
        actual = panel.filter(pl.col("date") >= origin).sort([*KEYS, "date"])[TARGET]
        got = out.sort([*KEYS, "date"])["forecast"]
        assert (got >= 0).all()
        wape = float((got - actual).abs().sum() / actual.abs().sum())
        assert wape < 0.15, (scaling, wape)  # both series, 100x apart, in their own units


def test_standard_member_uses_l2_and_overrides_apply() -> None:
    params = replace(PARAMS, overrides={"mean": {"min_data_in_leaf": 100}})
    assert cand.member_train_params(TRAIN, "standard", params).hyperparameters["objective"] == (
        "regression"
    )
    mean = cand.member_train_params(TRAIN, "mean", params).hyperparameters
    assert mean["min_data_in_leaf"] == 100
    assert mean["objective"] == "tweedie"


def test_candidate_table_has_every_candidate_and_the_baselines() -> None:
    panel = trending_panel()
    origin = START + dt.timedelta(days=70)
    history = panel.filter(pl.col("date") < origin)
    future = (
        panel.filter(pl.col("date") >= origin)
        .select(*KEYS, "date", "promo")
        .with_columns(pl.col("date").rank("dense").cast(pl.Int32).alias("step"))
    )
    members = [cand.fit_member(history, SPEC, TRAIN, s, PARAMS) for s in cand.SCALINGS]
    out = cand.candidate_forecasts(history, future, SPEC, PARAMS, members)
    assert PARAMS.names == ["lightgbm", "seasonal_naive", "moving_average", "naive"]
    wanted = {"lgbm_mean", "lgbm_standard", *PARAMS.names}
    assert wanted <= set(out.columns)
    assert out.select(sorted(wanted)).null_count().sum_horizontal().item() == 0
    mean = (out["lgbm_mean"] + out["lgbm_standard"]) / 2
    assert out["lightgbm"].to_list() == pytest.approx(mean.to_list())


def test_unknown_candidates_are_named() -> None:
    with pytest.raises(ValueError, match=r"model\.candidates\.statistical has \['arima'\]"):
        replace(PARAMS, statistical=["arima"])
    with pytest.raises(ValueError, match="no candidate at all"):
        replace(PARAMS, lightgbm=[], baselines=[])
