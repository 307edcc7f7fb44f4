"""Data-quality report: clean inputs fire no check; each degraded input fires its check."""

from __future__ import annotations

import datetime as dt
import pickle
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest

from flows import config as conf
from flows import plan
from tasks.monitoring import quality
from tasks.monitoring import store as monitoring_store
from tests.support.monitoring import quality_run

KEYS = ["region", "product_type"]
START = dt.date(2024, 1, 1)


def raw_rows(
    days: int = 60,
    regions: tuple[str, ...] = ("north", "south"),
    products: tuple[str, ...] = ("toys", "food"),
    per_day: int = 4,
) -> pl.DataFrame:
    """A clean raw frame in the normalised raw contract (what ingest.scan yields)."""
    rows = []
    for d in range(days):
        day = START + dt.timedelta(days=d)
        for r in regions:
            for p in products:
                for k in range(per_day):
                    revenue = float(100 + 10 * k + d % 7)
                    rows.append(
                        {
                            "date_raw": day.isoformat(),
                            "date": day,
                            "region": r,
                            "product_type": p,
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


def run_report(
    raw: pl.DataFrame,
    run_id: str = "r2",
    history: pl.DataFrame | None = None,
    limits: list[str] | None = None,
) -> dict[str, Any]:
    """Clean, aggregate and report exactly as the flow does, with the default thresholds."""
    cfg = conf.to_app_config(conf.compose_config(limits or []))
    return quality_run(raw, run_id, history, plan.quality_params(cfg))


@pytest.fixture(scope="module")
def baseline() -> pl.DataFrame:
    """History holding one earlier clean run of the same data."""
    return quality.history_row(run_report(raw_rows(), run_id="r1"))


def levels(report: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["level"] for c in report["checks"]}


def test_clean_input_fires_no_check(baseline: pl.DataFrame) -> None:
    report = run_report(raw_rows(), history=baseline)
    assert report["status"] == "ok"
    assert set(levels(report).values()) == {"ok"}
    assert report["compared_with_run"] == "r1"
    assert report["volume"]["change"] == 0.0
    assert quality.hard_breaches(report) == []
    assert quality.warning_messages(report) == []
    quality.raise_on_breach(report)  # does not raise


def test_first_run_has_nothing_to_compare_and_fires_nothing() -> None:
    report = run_report(raw_rows(), run_id="r1")
    assert report["status"] == "ok"
    assert report["volume"]["trailing_median"] is None
    assert report["series"]["n_new"] == report["series"]["n_vanished"] == 0


def _null_revenue(raw: pl.DataFrame) -> pl.DataFrame:
    bad = pl.int_range(pl.len()) % 5 == 0  # 20 % of rows lose revenue, units and price
    return raw.with_columns(
        pl.when(bad).then(None).otherwise(pl.col(c)).alias(c)
        for c in ("revenue", "units", "unit_price")
    )


def _duplicates(raw: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([raw, raw.filter(pl.int_range(pl.len()) % 8 == 0)])


def _late(raw: pl.DataFrame) -> pl.DataFrame:
    late = pl.int_range(pl.len()) % 10 == 0
    shifted = pl.col("date") + pl.duration(days=5)
    return raw.with_columns(
        pl.when(late).then(shifted).otherwise(pl.col("date")).alias("arrival_date")
    )


def _half_volume(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.filter(pl.col("store_id").is_in(["s0", "s1"]) | (pl.col("date") < START))


def _vanished_series(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.filter(~((pl.col("region") == "south") & (pl.col("product_type") == "food")))


def _new_category(raw: pl.DataFrame) -> pl.DataFrame:
    extra = raw.filter(pl.col("region") == "north").with_columns(pl.lit("west").alias("region"))
    return pl.concat([raw, extra])


def _gap(raw: pl.DataFrame) -> pl.DataFrame:
    gap = pl.col("date").is_between(START + dt.timedelta(days=20), START + dt.timedelta(days=22))
    return raw.filter(~gap)


def _sparse_series(raw: pl.DataFrame) -> pl.DataFrame:
    day = (pl.col("date") - pl.lit(START)).dt.total_days()
    sparse = (pl.col("region") == "north") & (pl.col("product_type") == "toys")
    return raw.filter(~sparse | (day % 3 == 0))


@pytest.mark.parametrize(
    ("degrade", "check", "level"),
    [
        (_null_revenue, "null_rate.revenue", "breach"),
        (_null_revenue, "quarantine_rate", "warn"),
        (_duplicates, "duplicate_rate", "breach"),
        (_late, "late_rate", "warn"),
        (_half_volume, "volume_drop", "warn"),
        (_vanished_series, "vanished_series_rate", "warn"),
        (_new_category, "new_categories", "warn"),
        (_new_category, "new_series", "warn"),
        (_gap, "coverage_gaps", "warn"),
        (_sparse_series, "filled_rate", "warn"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_degraded_input_fires_its_check(
    baseline: pl.DataFrame,
    degrade: Callable[[pl.DataFrame], pl.DataFrame],
    check: str,
    level: str,
) -> None:
    report = run_report(degrade(raw_rows()), history=baseline)
    assert levels(report)[check] == level
    assert report["status"] in ("warn", "breach")


def test_hard_breach_fails_with_the_numbers_in_the_message(baseline: pl.DataFrame) -> None:
    report = run_report(_null_revenue(raw_rows()), history=baseline)
    with pytest.raises(quality.DataQualityError) as err:
        quality.raise_on_breach(report)
    text = str(err.value)
    rows_in = report["rows"]["rows_in"]
    assert "null_rate.revenue 0.2 > breach level 0.1" in text
    assert f"{rows_in // 5} of {rows_in} rows have no revenue" in text
    assert err.value.report is report
    copy = pickle.loads(pickle.dumps(err.value))
    assert str(copy) == text


def test_thresholds_come_from_config(baseline: pl.DataFrame) -> None:
    relaxed = ["monitoring.quality.null_rate.hard=0.5", "monitoring.quality.null_rate.warn=0.3"]
    report = run_report(_null_revenue(raw_rows()), history=baseline, limits=relaxed)
    assert levels(report)["null_rate.revenue"] == "ok"


def test_vanished_series_breach_lists_them(baseline: pl.DataFrame) -> None:
    raw = raw_rows().filter(pl.col("region") == "north")  # half the series are gone
    report = run_report(raw, history=baseline)
    assert levels(report)["vanished_series_rate"] == "breach"
    assert report["series"]["vanished"] == ["south|food", "south|toys"]


def test_a_breached_run_is_not_the_baseline(baseline: pl.DataFrame) -> None:
    bad = quality.history_row(run_report(_vanished_series(raw_rows()), run_id="r2"))
    bad = bad.with_columns(pl.lit("breach").alias("status"))
    history = monitoring_store.upsert(baseline, bad, ["run_id"])
    report = run_report(_vanished_series(raw_rows()), run_id="r3", history=history)
    assert report["compared_with_run"] == "r1"
    assert levels(report)["vanished_series_rate"] == "warn"


def test_history_is_appended_idempotently(tmp_path: Any) -> None:
    root = str(tmp_path / "monitoring")
    row = quality.history_row(run_report(raw_rows(), run_id="r1"))
    for _ in range(2):
        table = monitoring_store.append_table(
            root, monitoring_store.QUALITY_HISTORY, row, ["run_id"]
        )
    assert table.height == 1
    again = monitoring_store.read_table(root, monitoring_store.QUALITY_HISTORY)
    assert again is not None
    assert again.to_dicts() == table.to_dicts()
    report = run_report(raw_rows(), run_id="r2", history=again)
    assert report["compared_with_run"] == "r1"


def test_a_breach_names_its_likely_cause_and_the_key_to_set(baseline: pl.DataFrame) -> None:
    report = run_report(_null_revenue(raw_rows()), history=baseline)
    with pytest.raises(quality.DataQualityError) as err:
        quality.raise_on_breach(report)
    assert "map it with data.columns.revenue=<your column>" in str(err.value)
    assert "raise monitoring.quality.null_rate.hard" in str(err.value)
    sparse = run_report(
        _sparse_series(raw_rows()),
        history=baseline,
        limits=["monitoring.quality.filled_rate.hard=0.05"],
    )
    with pytest.raises(quality.DataQualityError) as filled:
        quality.raise_on_breach(sparse)
    text = str(filled.value)
    assert "filled_rate" in text
    for key in ("preprocessing.category_aliases", "data.allowed_categories", "data.frequency=1w"):
        assert key in text
    assert "raise monitoring.quality.filled_rate.hard" in text
    hinted = {c["name"] for c in sparse["checks"] if "hint" in c}
    assert hinted == {c["name"] for c in sparse["checks"] if c["level"] != "ok"}
