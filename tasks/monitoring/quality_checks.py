"""Data-quality checks: thresholds, levels and the error that fails a run on a breach.

A check's ``level`` is ``ok``, ``warn`` (value above ``warn``) or ``breach`` (value above
``hard``); a threshold of ``None`` is not checked, and neither is a value of ``None`` (not
computable yet, e.g. no earlier run to compare with).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.data.ingest import REQUIRED_COLUMNS
from tasks.errors import DataError


def rate(part: int, whole: int) -> float | None:
    """``part / whole``, or ``None`` when there is nothing to divide by."""
    return part / whole if whole else None


class DataQualityError(DataError):
    """A hard data-quality threshold was breached; the message carries the numbers."""

    fix = (
        "the run directory's quality.json has every check; fix the data, or raise "
        "monitoring.quality.<check>.hard if the change is expected"
    )

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        breaches = hard_breaches(report)
        super().__init__(
            f"data quality: {len(breaches)} hard threshold(s) breached in run "
            f"{report.get('run_id')}: " + "; ".join(breaches)
        )

    def __reduce__(self) -> tuple[type[DataQualityError], tuple[dict[str, Any]]]:
        return (type(self), (self.report,))  # picklable: Prefect may persist the failure


@dataclass(frozen=True)
class Limit:
    """Warn and hard levels of one check (``None``: that level is not checked)."""

    warn: float | None = None
    hard: float | None = None


def _level(value: float | None, limit: Limit) -> str:
    if value is None:
        return "ok"
    if limit.hard is not None and value > limit.hard:
        return "breach"
    if limit.warn is not None and value > limit.warn:
        return "warn"
    return "ok"


def check(name: str, value: float | None, limit: Limit, detail: str) -> dict[str, Any]:
    """One check record: name, value, thresholds, level and a message with the numbers."""
    level = _level(value, limit)
    bound = {"breach": limit.hard, "warn": limit.warn}.get(level)
    shown = "n/a" if value is None else f"{value:.4g}"
    head = f"{name} {shown}" + (f" > {level} level {bound:.4g}" if bound is not None else "")
    return {
        "name": name,
        "value": value,
        "warn": limit.warn,
        "hard": limit.hard,
        "level": level,
        "message": f"{head} ({detail})",
    }


def build_checks(
    report: dict[str, Any],
    limits: Mapping[str, Limit],
    series_keys: Sequence[str],
) -> list[dict[str, Any]]:
    """Every check of a quality report (its counts, rates and comparisons already filled)."""

    def limit(name: str) -> Limit:
        return limits.get(name, Limit())

    rows_in = int(report["rows"].get("rows_in", 0))
    quarantined = int(report["rows"].get("rows_quarantined", 0))

    vol, ser, dates = report["volume"], report["series"], report["dates"]
    change, median = vol["change"], vol["trailing_median"]
    versus = (
        f"{rows_in} rows in vs median {median:g} of the last {vol['trailing_runs']} runs"
        if median is not None
        else f"{rows_in} rows in; no earlier run to compare with"
    )
    previous = report["compared_with_run"] or "none"
    by_reason = ", ".join(f"{k}={v}" for k, v in report["quarantine_by_reason"].items())
    n_dup, n_late = report["duplicates"]["rows"], report["late"]["rows"]
    before = ser["count"] - ser["n_new"] + ser["n_vanished"]
    n_new_cat = sum(c["n_new"] for c in report["categories"].values())
    new_cats = {k: c["new"] for k, c in report["categories"].items() if c["n_new"]}
    out = [
        check(
            "quarantine_rate",
            rate(quarantined, rows_in),
            limit("quarantine_rate"),
            f"{quarantined} of {rows_in} rows quarantined: {by_reason or 'none'}",
        ),
        check(
            "duplicate_rate",
            rate(n_dup, rows_in),
            limit("duplicate_rate"),
            f"{n_dup} of {rows_in} rows are exact duplicates",
        ),
        check(
            "late_rate",
            rate(n_late, rows_in),
            limit("late_rate"),
            f"{n_late} of {rows_in} rows arrived late",
        ),
    ]
    for col in dict.fromkeys([*REQUIRED_COLUMNS, *series_keys]):
        null_rate = report["null_rates"].get(col)
        if null_rate is not None:
            detail = f"{round(null_rate * rows_in)} of {rows_in} rows have no {col}"
            out.append(check(f"null_rate.{col}", null_rate, limit("null_rate"), detail))
    out += [
        check(
            "volume_drop",
            None if change is None else max(0.0, -change),
            limit("volume_drop"),
            versus,
        ),
        check(
            "volume_rise",
            None if change is None else max(0.0, change),
            limit("volume_rise"),
            versus,
        ),
        check(
            "vanished_series_rate",
            rate(ser["n_vanished"], before),
            limit("vanished_series_rate"),
            f"{ser['n_vanished']} of {before} series of the previous run ({previous}) "
            f"are missing: {ser['vanished'][:5]}",
        ),
        check(
            "new_series",
            float(ser["n_new"]),
            limit("new_series"),
            f"{ser['n_new']} series not in the previous run: {ser['new'][:5]}",
        ),
        check(
            "new_categories",
            float(n_new_cat),
            limit("new_categories"),
            f"new values of the series keys: {new_cats}",
        ),
        check(
            "coverage_gaps",
            float(len(dates["coverage_gaps"])),
            limit("coverage_gaps"),
            f"periods with no sales at all between {dates['first']} and {dates['last']}: "
            f"{dates['coverage_gaps'][:5]}",
        ),
        check(
            "filled_rate",
            dates["filled_rate"],
            limit("filled_rate"),
            f"share of {dates['periods']} periods x {ser['count']} series filled in",
        ),
    ]
    return out


def hard_breaches(report: dict[str, Any]) -> list[str]:
    """Messages of the checks above their hard threshold."""
    return [c["message"] for c in report.get("checks", []) if c["level"] == "breach"]


def warning_messages(report: dict[str, Any]) -> list[str]:
    """Messages of the checks above their warn (but not hard) threshold."""
    return [c["message"] for c in report.get("checks", []) if c["level"] == "warn"]


def raise_on_breach(report: dict[str, Any]) -> None:
    """Raise :class:`DataQualityError` when any hard threshold is breached."""
    if hard_breaches(report):
        raise DataQualityError(report)
