"""Drift (PSI): the function, the profile, and drifted vs clean inputs."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flows import config as conf
from tasks.monitoring import drift
from tasks.monitoring import store as monitoring_store

COLUMNS = ["lag_1", "promo", "region"]
PARAMS = drift.DriftParams(warn=0.1, alert=0.25, min_rows=200)


def frame(
    n: int,
    seed: int,
    *,
    shift: float = 0.0,
    promo_rate: float = 0.2,
    north: float = 0.5,
    level: float = 1.0,
    null_rate: float = 0.0,
) -> pl.DataFrame:
    """Features-like rows: two product types, a numeric lag, a promo flag and a region."""
    rng = np.random.default_rng(seed)
    lag = rng.normal(1.0 + shift, 0.2, n)
    lag[rng.random(n) < null_rate] = np.nan
    scale = rng.uniform(50, 150, n) * level
    return pl.DataFrame(
        {
            "product_type": np.where(np.arange(n) % 2 == 0, "toys", "food"),
            "region": np.where(rng.random(n) < north, "north", "south"),
            "date": [dt.date(2024, 1, 1) + dt.timedelta(days=int(i) // 20) for i in range(n)],
            "revenue": scale * rng.gamma(4.0, 0.25, n),
            "lag_1": lag * scale,  # stored unscaled, like tasks.model.features does
            "promo": (rng.random(n) < promo_rate).astype(float),
            "scale": scale,
        }
    ).with_columns(pl.col("lag_1").fill_nan(None))


@pytest.fixture(scope="module")
def profile() -> dict[str, object]:
    return drift.build_profile(frame(20_000, 1), COLUMNS, 10, segment_by=["product_type"])


def test_psi_known_values() -> None:
    assert drift.psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert drift.psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)
    assert drift.psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.2747, abs=1e-4)


def test_psi_floors_empty_bins_at_epsilon() -> None:
    value = drift.psi([1.0, 0.0], [0.0, 1.0], epsilon=1e-4)
    assert math.isfinite(value)
    assert value == pytest.approx(2 * (1 - 1e-4) * math.log(1e4))
    with pytest.raises(ValueError, match="2 expected shares but 3"):
        drift.psi([0.5, 0.5], [0.2, 0.3, 0.5])


def test_profile_bins_are_reference_quantiles(profile: dict[str, object]) -> None:
    overall = profile["overall"]
    assert isinstance(overall, dict)
    lag = overall["columns"]["lag_1"]
    assert lag["kind"] == "numeric"
    assert len(lag["edges"]) == 9
    assert lag["shares"] == pytest.approx([0.1] * 10, abs=0.002)
    assert overall["columns"]["region"]["kind"] == "categorical"
    assert set(profile["segments"]) == {"product_type=food", "product_type=toys"}  # type: ignore[arg-type]
    assert json.loads(json.dumps(profile)) == profile  # plain JSON


def test_clean_input_fires_nothing(profile: dict[str, object]) -> None:
    report = drift.psi_against(profile, frame(2_000, 2), PARAMS)
    summary = report["summary"]
    assert summary["level"] == "ok"
    assert summary["segment_level"] == "ok"
    assert summary["alerts"] == summary["warnings"] == []
    assert summary["segment_alerts"] == summary["segment_warnings"] == []
    assert all(c["psi"] < 0.05 for c in report["overall"]["columns"].values())


@pytest.mark.parametrize(
    ("changes", "column"),
    [
        ({"shift": 0.3}, "lag_1"),
        ({"promo_rate": 0.7}, "promo"),
        ({"north": 0.9}, "region"),
        ({"null_rate": 0.4}, "lag_1"),
    ],
    ids=["numeric-shift", "promo-rate", "category-mix", "feature-goes-null"],
)
def test_drifted_feature_alerts(
    profile: dict[str, object], changes: dict[str, float], column: str
) -> None:
    report = drift.psi_against(profile, frame(2_000, 3, **changes), PARAMS)  # type: ignore[arg-type]
    assert report["summary"]["level"] == "alert"
    assert report["summary"]["alerts"] == [column]
    assert report["overall"]["columns"][column]["level"] == "alert"


def test_target_level_shift_drifts_the_target_but_not_scaled_lags(
    profile: dict[str, object],
) -> None:
    report = drift.psi_against(profile, frame(2_000, 4, level=3.0), PARAMS)
    assert report["target"] == "revenue"
    assert report["overall"]["columns"]["revenue"]["level"] == "alert"
    assert report["overall"]["columns"]["lag_1"]["level"] == "ok"  # divided by scale


def test_unseen_category_counts_as_other(profile: dict[str, object]) -> None:
    current = frame(2_000, 5).with_columns(pl.lit("west").alias("region"))
    report = drift.psi_against(profile, current, PARAMS)
    assert report["overall"]["columns"]["region"]["level"] == "alert"


def _one_segment_drifts(n: int, seed: int) -> pl.DataFrame:
    current = frame(n, seed)
    shifted = pl.when(pl.col("product_type") == "toys").then(pl.col("lag_1") * 1.5)
    return current.with_columns(shifted.otherwise(pl.col("lag_1")).alias("lag_1"))


def test_segment_drift_is_listed_and_alerts_only_when_asked(profile: dict[str, object]) -> None:
    current = _one_segment_drifts(2_000, 6)
    report = drift.psi_against(profile, current, PARAMS)
    assert "product_type=toys/lag_1" in report["summary"]["segment_alerts"]
    assert not any(a.startswith("product_type=food") for a in report["summary"]["segment_alerts"])
    strict = drift.DriftParams(min_rows=200, alert_on_segments=True)
    assert drift.psi_against(profile, current, strict)["summary"]["level"] == "alert"


def test_too_few_rows_are_not_judged(profile: dict[str, object]) -> None:
    report = drift.psi_against(profile, frame(300, 7, shift=0.5), PARAMS)
    assert report["overall"]["columns"]["lag_1"]["level"] == "alert"  # 300 rows overall
    segment = report["segments"]["product_type=toys"]  # 150 rows
    assert {c["level"] for c in segment["columns"].values()} == {"insufficient"}


def test_new_and_missing_segments_are_reported(profile: dict[str, object]) -> None:
    current = frame(2_000, 8).with_columns(
        pl.when(pl.col("product_type") == "toys")
        .then(pl.lit("games"))
        .otherwise(pl.col("product_type"))
        .alias("product_type")
    )
    summary = drift.psi_against(profile, current, PARAMS)["summary"]
    assert summary["new_segments"] == ["product_type=games"]
    assert summary["missing_segments"] == ["product_type=toys"]


def test_profile_saved_and_loaded_gives_the_same_report(
    profile: dict[str, object], tmp_path: Path
) -> None:
    folder = str(tmp_path / "registry" / "v1")
    assert monitoring_store.load_profile(folder) is None
    monitoring_store.save_profile(folder, profile)
    loaded = monitoring_store.load_profile(folder)
    assert loaded is not None
    current = frame(2_000, 9, shift=0.3)
    assert drift.psi_against(loaded, current, PARAMS) == drift.psi_against(profile, current, PARAMS)


def test_window_and_config() -> None:
    f = frame(2_000, 10)  # 100 dates
    assert f.filter(pl.col("date") >= f["date"].max() - dt.timedelta(days=9)).height == (
        drift.latest_periods(f, 10).height
    )
    assert drift.window_periods("1w") == 13
    assert drift.window_periods("1d", 30) == 30
    cfg = conf.to_app_config(conf.compose_config(["monitoring.drift.alert=0.5"]))
    assert conf.drift_params(cfg).alert == 0.5
    assert "day_of_week" not in conf.drift_columns(cfg)
    assert "lag_7" in conf.drift_columns(cfg)


def test_a_restricted_profile_compares_only_the_shared_columns() -> None:
    rng = np.random.default_rng(0)
    frame = pl.DataFrame(
        {
            "date": [dt.date(2024, 1, 1) + dt.timedelta(days=i % 50) for i in range(500)],
            "product_type": ["toys"] * 500,
            "a": rng.normal(0, 1, 500),
            "b": rng.normal(0, 1, 500),
            "revenue": rng.uniform(1, 10, 500),
        }
    )
    profile = drift.build_profile(frame, ["a", "b"], 5, segment_by=["product_type"])
    only_a = drift.restrict_profile(profile, ["a", "revenue", "date"])
    assert only_a["columns"] == ["a", "revenue"]
    assert set(only_a["segments"]["product_type=toys"]["columns"]) == {"a", "revenue"}
    report = drift.psi_against(only_a, frame.drop("b"))
    assert set(report["overall"]["columns"]) == {"a", "revenue"}
