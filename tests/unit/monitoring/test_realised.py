"""Realised accuracy: pairing published forecasts with later actuals, history, scoring."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tasks.monitoring import realised
from tasks.monitoring import store as monitoring_store
from tasks.registry import serving
from tests.support import defaults

KEYS = ["region", "product_type"]
SERIES = [("north", "toys"), ("south", "food")]
DAY0 = dt.date(2024, 3, 1)
BACKTEST = {
    "backtest": {"model": {"wape": 0.10}},
    "per_horizon": [{"step": s, "model": {"wape": 0.10}} for s in (1, 2, 3)],
}


def day(i: int) -> dt.date:
    return DAY0 + dt.timedelta(days=i)


def panel(last: int, actual: float = 100.0) -> pl.DataFrame:
    """Actuals for days 0..last of both series (what the current run's panel holds)."""
    rows = [
        {"region": r, "product_type": p, "date": day(i), "revenue": actual}
        for r, p in SERIES
        for i in range(last + 1)
    ]
    return pl.DataFrame(rows)


def forecasts(run_id: str, first: int, horizon: int = 3, factor: float = 1.0) -> pl.DataFrame:
    """A run's serving forecasts for days first..first+horizon-1."""
    rows = [
        {
            "region": r,
            "product_type": p,
            "date": day(first + h),
            "forecast": 100.0 * factor + (5.0 if h % 2 else -5.0),
            "model_version": run_id,
            "run_id": run_id,
        }
        for r, p in SERIES
        for h in range(horizon)
    ]
    return pl.DataFrame(rows)


def test_only_observed_dates_are_paired_and_this_run_is_left_out() -> None:
    published = pl.concat([forecasts("r1", 5), forecasts("r2", 7), forecasts("r3", 8)])
    pairs = realised.realised_pairs(published, panel(last=8), KEYS, "r3", exclude_run="r3")
    by_run = pairs.group_by("run_id").len().sort("run_id")
    assert by_run.to_dicts() == [{"run_id": "r1", "len": 6}, {"run_id": "r2", "len": 4}]
    r2 = pairs.filter(pl.col("run_id") == "r2")
    assert sorted(set(r2["step"].to_list())) == [1, 2]  # day 9 not observed yet
    assert set(r2["origin"].to_list()) == {day(7)}
    assert set(pairs["realised_by"].to_list()) == {"r3"}
    assert "model_version" in pairs.columns


def test_history_append_is_idempotent_and_revised_actuals_win() -> None:
    first = realised.realised_pairs(forecasts("r1", 5), panel(last=6), KEYS, "r2")
    history = realised.append_history(None, first, KEYS)
    again = realised.append_history(history, first, KEYS)
    assert again.height == history.height == 4
    revised = realised.realised_pairs(forecasts("r1", 5), panel(last=7, actual=90.0), KEYS, "r3")
    history = realised.append_history(again, revised, KEYS)
    assert history.height == 6
    assert set(history["actual"].to_list()) == {90.0}
    assert set(history["realised_by"].to_list()) == {"r3"}


def test_metrics_per_step_segment_and_origin() -> None:
    published = pl.concat([forecasts("r1", 0), forecasts("r2", 1, factor=1.2)])
    history = realised.realised_pairs(published, panel(last=10), KEYS, "r3")
    m = realised.realised_metrics(history, segment_by="product_type")
    assert m["pairs"] == 12
    assert m["origins"] == 2
    step2 = next(r for r in m["per_step"] if r["step"] == 2)
    # step 2 forecasts: r1 105, r2 125, both series; actual 100
    assert step2["wape"] == pytest.approx((5 + 25) * 2 / 400)
    assert step2["bias"] == pytest.approx((5 + 25) * 2 / 400)
    assert [r["product_type"] for r in m["per_segment"]] == ["food", "toys"]
    over_time = m["over_time"]
    assert [r["run_id"] for r in over_time] == ["r1", "r2"]
    assert over_time[0]["origin"] == day(0).isoformat()
    assert over_time[1]["bias"] > over_time[0]["bias"]
    assert len(m["over_time_by_segment"]) == 4


def _history(factor: float, runs: int = 10) -> pl.DataFrame:
    published = pl.concat([forecasts(f"r{i:02d}", i, factor=factor) for i in range(runs)])
    return realised.realised_pairs(published, panel(last=40), KEYS, "now")


def check(history: pl.DataFrame, **kwargs: Any) -> dict[str, Any]:
    params = defaults.accuracy(margin=kwargs.get("margin", 0.25), min_points=kwargs.get("min", 20))
    return realised.accuracy_check(history, BACKTEST, params)


def test_forecasts_as_good_as_the_backtest_are_not_degraded() -> None:
    result = check(_history(factor=1.0))
    assert result["judged"]
    assert not result["degraded"]
    assert result["realised_wape"] == pytest.approx(0.05)
    assert result["degraded_steps"] == []


def test_degraded_forecasts_fire() -> None:
    result = check(_history(factor=1.3), min=10)
    assert result["degraded"]
    assert result["realised_wape"] > 0.10 * 1.25
    assert result["realised_bias"] > 0
    assert result["degraded_steps"] == [1, 2, 3]
    assert result["runs"] == 7  # the latest runs only


def test_too_few_pairs_are_not_judged() -> None:
    result = check(_history(factor=1.5, runs=2), min=50)
    assert not result["judged"]
    assert not result["degraded"]


def test_only_recent_runs_are_judged() -> None:
    old_bad = pl.concat([forecasts(f"a{i}", i, factor=2.0) for i in range(5)])
    new_good = pl.concat([forecasts(f"b{i}", 10 + i) for i in range(7)])
    history = realised.realised_pairs(pl.concat([old_bad, new_good]), panel(40), KEYS, "n")
    assert not check(history)["degraded"]


def test_serving_history_is_read_from_storage(tmp_path: Path) -> None:
    out = str(tmp_path)
    for i, run in enumerate(["r1", "r2"]):
        f = forecasts(run, 5 + i).drop("run_id", "model_version")
        serving.write_dated(out, "m", f, model_version=run, run_id=run, as_of=day(4 + i))
    published = monitoring_store.read_serving_history(out, "m")
    assert published is not None
    assert sorted(set(published["run_id"].to_list())) == ["r1", "r2"]
    assert set(published["as_of"].to_list()) == {day(4), day(5)}
    later = monitoring_store.read_serving_history(out, "m", since=day(5))
    assert later is not None
    assert later["run_id"].unique().to_list() == ["r2"]
    assert monitoring_store.read_serving_history(out, "other") is None
    pairs = realised.realised_pairs(published, panel(last=10), KEYS, "r3")
    root = str(tmp_path / "monitoring")
    for _ in range(2):
        table = monitoring_store.append_table(
            root, monitoring_store.REALISED_HISTORY, pairs, ["run_id", *KEYS, "date"]
        )
    assert table.height == pairs.height == 12
