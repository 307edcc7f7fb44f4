"""The accuracy benchmark's pieces on a tiny synthetic panel: metrics, windows, no leakage."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from benchmarks.accuracy import combine, conformal, methods, runner
from benchmarks.accuracy.data import Dataset
from benchmarks.accuracy.metrics import interval_metrics, point_metrics
from benchmarks.accuracy.windows import make_windows, split

DS = Dataset("tiny", "1d", "D", 7, 7, None, True)


def tiny_panel(days: int = 84, series: int = 3, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = dt.date(2024, 1, 1)
    frames = []
    for s in range(series):
        t = np.arange(days)
        y = 100.0 * (s + 1) + 10 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 3, days)
        frames.append(
            pl.DataFrame(
                {
                    "unique_id": f"r{s}|p{s}",
                    "region": f"r{s}",
                    "product_type": f"p{s}",
                    "date": [start + dt.timedelta(days=int(i)) for i in t],
                    "y": y,
                    "promo": (rng.random(days) < 0.1).astype(float),
                }
            )
        )
    return pl.concat(frames)


def test_point_metrics_by_hand() -> None:
    frame = pl.DataFrame({"y": [10.0, 20.0, None], "forecast": [12.0, 14.0, 99.0]})
    m = point_metrics(frame)
    assert m["wape"] == pytest.approx(8 / 30)
    assert m["mae"] == pytest.approx(4.0)
    assert m["rmse"] == pytest.approx(np.sqrt((4 + 36) / 2))
    assert m["bias"] == pytest.approx(-4 / 30)
    assert m["n"] == 2


def test_interval_metrics_by_hand() -> None:
    frame = pl.DataFrame(
        {"y": [10.0, 20.0], "p10": [8.0, 21.0], "p50": [10.0, 22.0], "p90": [12.0, 25.0]}
    )
    m = interval_metrics(frame)
    assert m["coverage"] == 0.5
    # p10: 0.1*(10-8) + 0.9*(21-20); p50: 0 + 0.5*(22-20); p90: 0.1*(12-10) + 0.1*(25-20)
    assert m["pinball_p10"] == pytest.approx(1.1 / 30)
    assert m["pinball_p50"] == pytest.approx(1.0 / 30)
    assert m["pinball_p90"] == pytest.approx(0.7 / 30)


def test_windows_end_at_the_last_period_and_do_not_overlap() -> None:
    panel = tiny_panel()
    wins = make_windows(panel, horizon=7, windows=4, min_history=14)
    assert [w.index for w in wins] == [0, 1, 2, 3]
    assert wins[-1].dates[-1] == panel["date"].max()
    for a, b in itertools.pairwise(wins):
        assert a.dates[-1] < b.origin
    with pytest.raises(ValueError, match="need"):
        make_windows(panel, horizon=7, windows=12, min_history=14)


def test_split_history_ends_before_the_first_forecast_date() -> None:
    panel = tiny_panel()
    late = panel.filter(pl.col("unique_id") == "r0|p0").with_columns(
        pl.lit("new|p9").alias("unique_id")
    )
    late = late.filter(pl.col("date") >= dt.date(2024, 3, 20))  # starts inside the last window
    for w in make_windows(pl.concat([panel, late]), 7, 3, 14):
        history, future = split(pl.concat([panel, late]), w)
        assert history["date"].max() < w.origin
        assert sorted(future["date"].unique()) == list(w.dates)
        assert future["step"].min() == 1
        assert future["step"].max() == 7
        assert "new|p9" not in future["unique_id"].to_list()  # no history: not scored


@pytest.mark.parametrize("name", ["naive", "seasonal_naive", "moving_average", "ours"])
def test_methods_never_see_the_future(name: str, tmp_path: Path) -> None:
    panel = tiny_panel()
    window = make_windows(panel, 7, 1, 28)[0]
    changed = panel.with_columns(
        pl.when(pl.col("date") >= window.origin).then(pl.col("y") * 10).otherwise(pl.col("y"))
    )
    fn = methods.registry(DS)[name] if name != "ours" else methods.ours
    out = []
    for i, p in enumerate([panel, changed]):
        rows = {0: runner.window_rows(p, window, DS)}
        preds, _ = runner.run_method(name, fn, p, [window], DS, tmp_path / str(i), rows)
        out.append(preds.sort("unique_id", "date")["forecast"].to_numpy())
        assert preds.height == 3 * 7
        assert preds["forecast"].null_count() == 0
        assert (preds["forecast"] >= 0).all()
    np.testing.assert_array_equal(out[0], out[1])


def _predictions(panel: pl.DataFrame, n: int) -> dict[str, pl.DataFrame]:
    wins = make_windows(panel, 7, n, 14)
    rows = {w.index: runner.window_rows(panel, w, DS) for w in wins}
    out = {}
    for name in ("naive", "seasonal_naive", "moving_average"):
        fn = methods.registry(DS)[name]
        out[name] = pl.concat(
            [rows[w.index].join(fn(*split(panel, w), DS), on=["unique_id", "date"]) for w in wins]
        )
    return out


def test_conformal_and_weights_use_only_earlier_windows() -> None:
    panel = tiny_panel()
    preds = _predictions(panel, 5)
    # make the last window's actuals absurd: nothing fitted for window 4 may change
    shifted = {
        k: v.with_columns(
            pl.when(pl.col("window") == 4).then(pl.col("y") * 50).otherwise(pl.col("y"))
        )
        for k, v in preds.items()
    }
    recipe = combine.Recipe(candidates=("naive", "seasonal_naive", "moving_average"), top=2)
    for frames in (preds, shifted):
        w = combine.chosen(frames, recipe, 4)
        assert w["weight"].sum() == pytest.approx(1.0)
        assert w.height == 2
    a = combine.combine(preds, recipe, [4])["forecast"].to_numpy()
    b = combine.combine(shifted, recipe, [4])["forecast"].to_numpy()
    np.testing.assert_allclose(a, b)
    menu = [combine.Recipe(recipe.candidates, top=t) for t in (1, 2, 99)]
    ma, mb = combine.combine_menu(preds, menu, [3, 4]), combine.combine_menu(shifted, menu, [3, 4])
    assert ma.choice == mb.choice
    np.testing.assert_allclose(
        ma.rows.filter(pl.col("window") == 4)["forecast"].to_numpy(),
        mb.rows.filter(pl.col("window") == 4)["forecast"].to_numpy(),
    )
    qa = conformal.conformal(preds["seasonal_naive"], [4], 3).sort("unique_id", "date")
    qb = conformal.conformal(shifted["seasonal_naive"], [4], 3).sort("unique_id", "date")
    np.testing.assert_allclose(qa["p10"].to_numpy(), qb["p10"].to_numpy())
    assert (qa["p10"] <= qa["p90"]).all()
    # the seasonal pattern is stable here: its 80% band covers most held-out actuals
    assert interval_metrics(qa)["coverage"] >= 0.6


def test_conformal_needs_an_earlier_window() -> None:
    preds = _predictions(tiny_panel(), 2)["naive"]
    with pytest.raises(ValueError, match="no earlier window"):
        conformal.conformal(preds, [0], 3)
