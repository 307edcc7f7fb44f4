"""Data quality of one run: counts, rates and checks against warn and hard thresholds.

Everything here is pure: it reads the frames the flow already has (the clean result, the
panel) and the quality history of earlier runs (:mod:`tasks.monitoring.store` reads and
writes it). A check's ``level`` is ``ok``, ``warn`` (value above ``warn``) or ``breach``
(value above ``hard``); a breach fails the run before training (:func:`raise_on_breach`).
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from tasks.data.clean import CleanResult, reason_counts
from tasks.monitoring.quality_checks import (
    DataQualityError,
    Limit,
    build_checks,
    hard_breaches,
    raise_on_breach,
    rate,
    warning_messages,
)

NULL_COLUMNS = ("date", "region", "product_type", "revenue", "units", "unit_price", "promo")
HISTORY_SCHEMA: dict[str, Any] = {
    "run_id": pl.String,
    "status": pl.String,
    "rows_in": pl.Int64,
    "rows_kept": pl.Int64,
    "rows_quarantined": pl.Int64,
    "series": pl.List(pl.String),
    "categories": pl.String,
}
SERIES_SEPARATOR = "|"
__all__ = [
    "DataQualityError",
    "Limit",
    "QualityParams",
    "hard_breaches",
    "history_row",
    "null_counts_plan",
    "quality_report",
    "raise_on_breach",
    "warning_messages",
]


@dataclass(frozen=True)
class QualityParams:
    """What the checks need from config: series keys and one :class:`Limit` per check."""

    series_keys: list[str]
    limits: dict[str, Limit]
    trailing_runs: int
    max_listed: int = 20  # series or categories named one by one in a check's detail


def null_counts_plan(flagged: pl.LazyFrame, columns: Sequence[str] = NULL_COLUMNS) -> pl.LazyFrame:
    """One row: null (or blank) values per raw column; add it to the clean task's collect."""
    names = flagged.collect_schema()
    exprs = [pl.len().cast(pl.Int64).alias("__rows")]
    for col in columns:
        if col not in names:
            continue
        null = pl.col(col).is_null()
        if names[col] == pl.String:
            null = null | (pl.col(col).str.strip_chars() == "")
        exprs.append(null.sum().cast(pl.Int64).alias(col))
    return flagged.select(exprs)


def series_ids(frame: pl.DataFrame, keys: Sequence[str]) -> list[str]:
    """Sorted distinct series of a frame, each as its key values joined by ``|``."""
    if frame.height == 0:
        return []
    ids = frame.select(
        pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator=SERIES_SEPARATOR)
    )
    return sorted(str(s) for s in ids.to_series().unique().to_list())


def previous_records(history: pl.DataFrame | None, run_id: str) -> list[dict[str, Any]]:
    """Earlier runs' records that did not breach, oldest first (this run excluded)."""
    if history is None or history.height == 0:
        return []
    earlier = history.filter((pl.col("run_id") != run_id) & (pl.col("status") != "breach"))
    return earlier.sort("run_id").to_dicts()


def _diff(now: Sequence[str], before: Sequence[str], cap: int) -> dict[str, Any]:
    new, gone = sorted(set(now) - set(before)), sorted(set(before) - set(now))
    return {
        "count": len(now),
        "new": new[:cap],
        "n_new": len(new),
        "vanished": gone[:cap],
        "n_vanished": len(gone),
    }


def _coverage(panel: pl.DataFrame) -> dict[str, Any]:
    by_date = panel.group_by("date").agg(pl.col("is_filled").all().alias("gap")).sort("date")
    gaps = by_date.filter(pl.col("gap"))["date"].to_list()
    return {
        "first": str(panel["date"].min()),
        "last": str(panel["date"].max()),
        "periods": by_date.height,
        "coverage_gaps": [d.isoformat() for d in gaps],
        "filled_rate": panel.select(pl.col("is_filled").cast(pl.Float64).mean()).item(),
    }


def _volume(rows_in: int, previous: list[dict[str, Any]], n: int) -> dict[str, Any]:
    trailing = [int(r["rows_in"]) for r in previous[-n:]]
    median = statistics.median(trailing) if trailing else None
    change = rows_in / median - 1 if median else None
    return {
        "rows_in": rows_in,
        "trailing_runs": len(trailing),
        "trailing_median": median,
        "change": change,
    }


def quality_report(
    run_id: str,
    cleaned: CleanResult,
    panel: pl.DataFrame,
    params: QualityParams,
    history: pl.DataFrame | None = None,
    null_counts: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The run's ``quality.json``: counts, rates, comparisons with earlier runs and checks."""
    counts, keys, cap = cleaned.counts, params.series_keys, params.max_listed
    rows_in = int(counts["rows_in"])
    reasons = reason_counts(cleaned.quarantine)
    previous = previous_records(history, run_id)
    last = previous[-1] if previous else None
    series = series_ids(cleaned.daily, keys)
    categories = {k: sorted(map(str, cleaned.daily[k].unique().to_list())) for k in keys}
    known_categories = json.loads(last["categories"]) if last else {}
    nulls = {c: n for c, n in (null_counts or {}).items() if not c.startswith("__")}
    report: dict[str, Any] = {
        "run_id": run_id,
        "rows": {k: int(v) for k, v in counts.items() if k.startswith("rows_")},
        "quarantine_by_reason": reasons,
        "null_rates": {c: rate(n, rows_in) for c, n in sorted(nulls.items())},
        "duplicates": {"rows": reasons.get("duplicate", 0)},
        "late": {"rows": int(counts.get("rows_late", 0))},
        "dates": _coverage(panel),
        "series": _diff(series, last["series"] if last else series, cap),
        "categories": {k: _diff(v, known_categories.get(k, v), cap) for k, v in categories.items()},
        "volume": _volume(rows_in, previous, params.trailing_runs),
        "compared_with_run": last["run_id"] if last else None,
        "known": {"series": series, "categories": categories},
    }
    report["checks"] = build_checks(report, params.limits, keys)
    levels = {c["level"] for c in report["checks"]}
    report["status"] = next((lv for lv in ("breach", "warn") if lv in levels), "ok")
    return report


def history_row(report: dict[str, Any]) -> pl.DataFrame:
    """This run's row of the quality history (what the next run compares against)."""
    rows = report["rows"]
    record = {
        "run_id": report["run_id"],
        "status": report["status"],
        "rows_in": rows.get("rows_in", 0),
        "rows_kept": rows.get("rows_kept", 0),
        "rows_quarantined": rows.get("rows_quarantined", 0),
        "series": report["known"]["series"],
        "categories": json.dumps(report["known"]["categories"], sort_keys=True),
    }
    return pl.DataFrame([record], schema=HISTORY_SCHEMA)
