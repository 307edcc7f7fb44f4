"""Unit tests for tasks.model.intervals: conformal quantiles by step, coverage, monotonicity."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from tasks.model import intervals

QUANTILES = [0.1, 0.5, 0.9]


def windows(n_windows: int, steps: int, series: int, seed: int) -> pl.DataFrame:
    """Forecast = level; actual = level x (1 + noise growing with the step)."""
    rng = np.random.default_rng(seed)
    rows = []
    for w in range(n_windows):
        for s in range(series):
            level = 50.0 + 10 * s
            for step in range(1, steps + 1):
                noise = rng.normal(0.0, 0.05 * step)
                rows.append(
                    {
                        "window": w,
                        "sid": s,
                        "step": step,
                        "forecast": level,
                        "actual": level * (1 + noise),
                    }
                )
    return intervals.with_scale(pl.DataFrame(rows), ["window", "sid"], 0.0)


def test_coverage_of_conformal_intervals_is_close_to_nominal() -> None:
    cal = windows(3, steps=6, series=200, seed=1)
    held_out = windows(1, steps=6, series=400, seed=2)
    residuals = intervals.residual_quantiles(cal, QUANTILES)
    scored = intervals.apply_quantiles(held_out, residuals, QUANTILES)
    metrics = intervals.interval_metrics(scored, QUANTILES)
    assert metrics["coverage_80"] == pytest.approx(0.80, abs=0.03)
    # per step too: the quantiles widen with the step as the noise does
    per_step = scored.group_by("step").agg(
        ((pl.col("actual") >= pl.col("p10")) & (pl.col("actual") <= pl.col("p90"))).mean()
    )
    assert per_step["actual"].min() > 0.72
    width = scored.group_by("step").agg((pl.col("p90") - pl.col("p10")).mean()).sort("step")
    assert width["p90"].to_list() == sorted(width["p90"].to_list())


def test_pooled_intervals_would_miss_by_step() -> None:
    """Calibrating by step matters: pooled quantiles over-cover step 1 and under-cover step 6."""
    cal = windows(3, steps=6, series=200, seed=1)
    residuals = intervals.residual_quantiles(cal, QUANTILES)
    pooled = {"0": residuals["0"]}  # only the pooled row: every step falls back to it
    scored = intervals.apply_quantiles(windows(1, 6, 400, seed=2), pooled, QUANTILES)
    inside = (pl.col("actual") >= pl.col("p10")) & (pl.col("actual") <= pl.col("p90"))
    first = scored.filter(pl.col("step") == 1).select(inside.mean()).item()
    last = scored.filter(pl.col("step") == 6).select(inside.mean()).item()
    assert first > 0.95
    assert last < 0.7


def test_quantiles_are_monotone_and_never_negative() -> None:
    rows = pl.DataFrame(
        {"step": [1, 1, 2], "forecast": [1.0, 100.0, 5.0], "iscale": [1.0, 10.0, 5.0]}
    )
    crossing = {"0": [0.5, 0.0, -0.5], "1": [2.0, 0.0, -3.0]}  # p10 above p90: must be sorted
    out = intervals.apply_quantiles(rows, crossing, QUANTILES)
    for row in out.iter_rows(named=True):
        assert 0.0 <= row["p10"] <= row["p50"] <= row["p90"]
    assert out.filter(pl.col("step") == 1)["p10"].to_list() == [0.0, 70.0]  # 1 - 3 clipped at 0


def test_a_step_without_calibration_takes_the_pooled_quantiles() -> None:
    rows = pl.DataFrame({"step": [9], "forecast": [10.0], "iscale": [2.0]})
    out = intervals.apply_quantiles(rows, {"0": [-1.0, 0.0, 1.0], "1": [-5.0, 0.0, 5.0]}, QUANTILES)
    assert out.row(0, named=True) | {} == {
        "step": 9, "forecast": 10.0, "iscale": 2.0, "p10": 8.0, "p50": 10.0, "p90": 12.0
    }  # fmt: skip


def test_no_calibration_rows_gives_null_quantiles() -> None:
    rows = pl.DataFrame({"step": [1], "forecast": [10.0], "iscale": [2.0]})
    out = intervals.apply_quantiles(rows, {}, QUANTILES)
    assert out["p10"].to_list() == [None]


def test_scale_adds_the_candidates_disagreement() -> None:
    table = pl.DataFrame({"window": [0, 0], "sid": [1, 1], "a": [10.0, 10.0], "b": [10.0, 14.0]})
    spread = intervals.spread(table, ["a", "b"], ["window", "sid"])
    sd = float(np.std([10.0, 14.0], ddof=1))
    assert spread["spread"].to_list() == [pytest.approx(sd / 2)]
    rows = table.with_columns(pl.col("a").alias("forecast")).join(spread, on=["window", "sid"])
    scaled = intervals.with_scale(rows, ["window", "sid"], 4.0)
    assert scaled["iscale"].to_list() == [pytest.approx(10.0 + 4 * sd / 2)] * 2


def test_quantile_names_and_checks() -> None:
    assert [intervals.qcol(q) for q in (0.1, 0.5, 0.9, 0.975)] == ["p10", "p50", "p90", "p97.5"]
    with pytest.raises(ValueError, match=r"forecast\.quantiles=\[0\.1, 1\.0\]"):
        intervals.check_quantiles([0.1, 1.0])
