"""Monitoring inputs for report tests: ``quality.json``, ``drift.json`` and realised accuracy.

Built by the real monitoring functions (``quality_report``, ``psi_against``,
``realised_metrics`` / ``accuracy_check``) from small synthetic data, with a hostile
category name that must reach the page only as escaped text.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from tasks.data import aggregate, clean
from tasks.monitoring import drift, quality, realised

KEYS = ["region", "product_type"]
START = dt.date(2024, 1, 1)
HOSTILE_CATEGORY = "<img src=x onerror=\"alert('q')\">&games"
ESCAPED_CATEGORY = "&lt;img src=x onerror=&quot;alert(&#x27;q&#x27;)&quot;&gt;&amp;games"
# conf/monitoring/default.yaml
LIMITS = {
    "quarantine_rate": quality.Limit(0.05, 0.20),
    "null_rate": quality.Limit(0.02, 0.10),
    "duplicate_rate": quality.Limit(0.02, 0.10),
    "late_rate": quality.Limit(0.05, None),
    "volume_drop": quality.Limit(0.20, 0.50),
    "volume_rise": quality.Limit(1.00, None),
    "vanished_series_rate": quality.Limit(0.0, 0.25),
    "new_series": quality.Limit(0, None),
    "new_categories": quality.Limit(0, None),
    "coverage_gaps": quality.Limit(0, None),
    "filled_rate": quality.Limit(0.10, 0.50),
}
BACKTEST = {
    "backtest": {"model": {"wape": 0.08}},
    "per_horizon": [{"step": s, "model": {"wape": 0.06 + 0.005 * s}} for s in range(1, 8)],
}


# ---------------------------------------------------------------- quality.json


def raw_rows(series: list[tuple[str, str]], days: int = 42, gap: int | None = None) -> pl.DataFrame:
    """Raw rows in the normalised raw contract: 3 stores a day per series, no day ``gap``."""
    rows = []
    for d in range(days):
        if d == gap:
            continue
        day = START + dt.timedelta(days=d)
        for region, product in series:
            for k in range(3):
                revenue = float(100 + 10 * k + d % 7)
                rows.append(
                    {
                        "date_raw": day.isoformat(),
                        "date": day,
                        "region": region,
                        "product_type": product,
                        "revenue": revenue,
                        "store_id": f"s{k}",
                        "units": 1,
                        "unit_price": revenue,
                        "promo": False,
                        "source_file": f"date={day}/part.parquet",
                        "arrival_date": day,
                    }
                )
    return pl.DataFrame(rows)


def quality_run(raw: pl.DataFrame, run_id: str, history: pl.DataFrame | None) -> dict[str, Any]:
    """Clean, aggregate and check as the flow does (tasks.stages + tasks.monitoring)."""
    flagged = clean.flag_rows(raw.lazy(), clean.CleanParams(series_keys=KEYS))
    daily, quarantine, counts, nulls = pl.collect_all(
        [
            clean.rollup_daily(flagged, KEYS),
            clean.quarantine_rows(flagged, []),
            clean.row_counts(flagged),
            quality.null_counts_plan(flagged),
        ]
    )
    cleaned = clean.CleanResult(
        daily=daily, quarantine=quarantine, counts=counts.row(0, named=True)
    )
    panel = aggregate.build_panel(daily, KEYS, "1d").panel
    params = quality.QualityParams(series_keys=KEYS, limits=LIMITS)
    return quality.quality_report(run_id, cleaned, panel, params, history, nulls.row(0, named=True))


def quality_json() -> dict[str, Any]:
    """Run r2 against r1: a series vanished, a hostile new category, 4% null revenue, a gap."""
    before = [("north", "toys"), ("north", "food"), ("south", "toys"), ("south", "food")]
    history = quality.history_row(quality_run(raw_rows(before), "r1", None))
    now = [("north", "toys"), ("north", "food"), ("south", "toys"), ("north", HOSTILE_CATEGORY)]
    raw = raw_rows(now, gap=20).with_columns(
        pl.when(pl.int_range(pl.len()) % 25 == 0).then(None).otherwise("revenue").alias("revenue")
    )
    return quality_run(raw, "r2", history)


# ---------------------------------------------------------------- drift.json


def features(n: int, seed: int, *, shift: float = 0.0, hostile_every: int = 3) -> pl.DataFrame:
    """Feature-like rows (lag stored unscaled, as tasks.model.features does), three products."""
    rng = np.random.default_rng(seed)
    scale = rng.uniform(50, 150, n)
    idx = np.arange(n)
    product = np.where(idx % 2 == 0, "toys", "food").astype(object)
    product[idx % hostile_every == 0] = HOSTILE_CATEGORY
    return pl.DataFrame(
        {
            "product_type": product.tolist(),
            "region": np.where(rng.random(n) < 0.5, "north", "south"),
            "date": [START + dt.timedelta(days=int(i) // 20) for i in range(n)],
            "revenue": scale * rng.gamma(4.0, 0.25, n),
            "lag_1": rng.normal(1.0 + shift, 0.2, n) * scale,
            "promo": (rng.random(n) < 0.2).astype(float),
            "scale": scale,
        }
    )


def drift_json(current: pl.DataFrame | None = None) -> dict[str, Any]:
    """The champion v3's profile against a current window whose ``lag_1`` has shifted."""
    reference = features(6_000, 1)
    profile = drift.build_profile(
        reference, ["lag_1", "promo", "region"], 10, segment_by=["product_type"]
    )
    profile["model_version"] = "v3"
    now = features(1_800, 2, shift=0.15) if current is None else current
    return drift.psi_against(profile, now, drift.DriftParams(min_rows=200))


# ---------------------------------------------------------------- realised accuracy


def published(run: int, factor: float, horizon: int = 7) -> pl.DataFrame:
    """Run ``run``'s serving forecasts (weekly runs, 7 days each) for two series."""
    rows = [
        {
            "region": region,
            "product_type": product,
            "date": START + dt.timedelta(days=7 * run + h),
            "forecast": 100.0 * factor + (6.0 if h % 2 else -6.0),
            "model_version": f"v{run}",
            "run_id": f"r{run:02d}",
        }
        for region, product in [("north", "toys"), ("south", HOSTILE_CATEGORY)]
        for h in range(horizon)
    ]
    return pl.DataFrame(rows)


def realised_json(
    backtest: dict[str, Any] | None = None, runs: int = 10, worse_from: int = 6, **check: Any
) -> dict[str, Any]:
    """``{"metrics", "check"}`` as tasks.monitoring.realised_task returns them: ``runs``
    weekly runs realised against constant actuals, over-forecasting by 35% from run
    ``worse_from`` on; the last run only partly realised.
    """
    forecasts = pl.concat([published(i, 1.35 if i >= worse_from else 1.0) for i in range(runs)])
    last = 7 * runs - 4
    panel = pl.DataFrame(
        [
            {"region": r, "product_type": p, "date": START + dt.timedelta(days=d), "revenue": 100.0}
            for r, p in [("north", "toys"), ("south", HOSTILE_CATEGORY)]
            for d in range(last + 1)
        ]
    )
    pairs = realised.realised_pairs(forecasts, panel, KEYS, "now")
    history = realised.append_history(None, pairs, KEYS)
    options = {"margin": 0.25, "min_points": 12, "recent_runs": 7} | check
    return {
        "metrics": realised.realised_metrics(history, segment_by="product_type"),
        "check": realised.accuracy_check(history, backtest or BACKTEST, **options),
    }


def monitoring_inputs(backtest: dict[str, Any] | None = None) -> dict[str, Any]:
    """``quality``, ``drift`` and ``realised`` for ``ReportInputs`` (a fresh copy each call)."""
    return {
        "quality": quality_json(),
        "drift": drift_json(),
        "realised": realised_json(backtest),
    }
