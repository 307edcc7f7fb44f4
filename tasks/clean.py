"""Clean: flag every bad raw row with a reason, repair what can be repaired, roll up the rest.

All functions are pure and lazy: they take and return ``LazyFrame`` plans, so the task
that runs them collects the quarantine, the daily roll-up and the counts in one pass.
Rows in = rows kept + rows quarantined, always.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from tasks.ingest import ARRIVAL_COLUMN, RAW_DATE_COLUMN, SOURCE_COLUMN

REASON = "reason"


class ReconciliationError(RuntimeError):
    """Rows went missing between the raw scan and the clean output."""


@dataclass(frozen=True)
class CleanParams:
    """Cleaning rules, from ``data`` and ``preprocessing`` config."""

    series_keys: list[str]
    min_revenue: float = 0.0
    repair_revenue: bool = True
    allowed_categories: dict[str, list[str]] = field(default_factory=dict)
    late_tolerance_days: int = 1


@dataclass(frozen=True)
class CleanResult:
    """Clean daily sales per series, the quarantined rows and the reconciled counts."""

    daily: pl.DataFrame
    quarantine: pl.DataFrame
    counts: dict[str, int]
    null_counts: dict[str, int] = field(default_factory=dict)  # nulls per raw column


def _blank(col: str) -> pl.Expr:
    return pl.col(col).is_null() | (pl.col(col).str.strip_chars() == "")


def _unknown(params: CleanParams) -> pl.Expr:
    checks = [
        pl.col(col).is_in(allowed).not_()
        for col, allowed in sorted(params.allowed_categories.items())
        if allowed
    ]
    return pl.any_horizontal(checks) if checks else pl.lit(False)


def repaired_revenue(repair: bool) -> pl.Expr:
    """Revenue, filled from ``units * unit_price`` when it is null and both are known."""
    computed = (pl.col("units") * pl.col("unit_price")).round(2)
    if not repair:
        return pl.col("revenue")
    return pl.coalesce(pl.col("revenue"), computed)


def reason_expr(params: CleanParams, identity_columns: list[str]) -> pl.Expr:
    """The first rule a row breaks, or null for a good row (rules in order of precedence).

    A duplicate is a later exact copy of a row that breaks no other rule, so one copy is
    always kept, even when an earlier copy was quarantined for its arrival folder.
    """
    revenue = pl.col("revenue_clean")
    keys = params.series_keys
    other = (
        pl.when(_blank(RAW_DATE_COLUMN))
        .then(pl.lit("missing_date"))
        .when(pl.col("date").is_null())
        .then(pl.lit("unparsable_date"))
        .when(pl.col(ARRIVAL_COLUMN).is_not_null() & (pl.col("date") > pl.col(ARRIVAL_COLUMN)))
        .then(pl.lit("future_date"))
        .when(pl.any_horizontal([_blank(k) for k in keys]))
        .then(pl.lit("missing_key"))
        .when(_unknown(params))
        .then(pl.lit("unknown_category"))
        .when(revenue.is_null() | revenue.is_nan() | revenue.is_infinite())
        .then(pl.lit("null_revenue"))
        .when(revenue < 0)
        .then(pl.lit("negative_revenue"))
        .when(revenue < params.min_revenue)
        .then(pl.lit("below_min_revenue"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    duplicate = pl.struct(identity_columns).is_first_distinct().over(other.is_null()).not_()
    return pl.coalesce(other, pl.when(duplicate).then(pl.lit("duplicate"))).alias(REASON)


def flag_rows(raw: pl.LazyFrame, params: CleanParams) -> pl.LazyFrame:
    """Add ``revenue_clean``, ``repaired``, ``is_late`` and ``reason`` to every raw row."""
    identity = [
        c for c in raw.collect_schema().names() if c not in (SOURCE_COLUMN, ARRIVAL_COLUMN, "date")
    ]
    late_days = (pl.col(ARRIVAL_COLUMN) - pl.col("date")).dt.total_days()
    return raw.with_columns(
        repaired_revenue(params.repair_revenue).alias("revenue_clean"),
        (late_days > params.late_tolerance_days).fill_null(False).alias("is_late"),
    ).with_columns(
        (pl.col("revenue").is_null() & pl.col("revenue_clean").is_not_null()).alias("repaired"),
        reason_expr(params, identity),
    )


def quarantine_rows(flagged: pl.LazyFrame, extra_columns: list[str]) -> pl.LazyFrame:
    """Rows with a reason, values as they arrived (as text), plus reason and source file."""
    raw_cols = [
        "region",
        "product_type",
        "store_id",
        "revenue",
        "units",
        "unit_price",
        "promo",
    ]
    return flagged.filter(pl.col(REASON).is_not_null()).select(
        pl.col(RAW_DATE_COLUMN).alias("date"),
        *[pl.col(c).cast(pl.String) for c in [*raw_cols, *extra_columns]],
        pl.col(REASON),
        pl.col(SOURCE_COLUMN),
    )


def rollup_daily(flagged: pl.LazyFrame, series_keys: list[str]) -> pl.LazyFrame:
    """Kept rows summed per (series, date): revenue, units, promo share, row count."""
    return (
        flagged.filter(pl.col(REASON).is_null())
        .group_by([*series_keys, "date"])
        .agg(
            # summed below in sorted order: a parallel scan delivers rows in any order, a
            # float sum depends on the order of its terms, and same input = same bits
            pl.col("revenue_clean").sort().alias("revenue"),
            pl.when(pl.col("units").count() > 0).then(pl.col("units").sum()).alias("units"),
            pl.col("promo").fill_null(False).cast(pl.Float64).mean().alias("promo"),
            pl.len().cast(pl.Int64).alias("n_rows"),
        )
        .with_columns(pl.col("revenue").list.sum())
        .sort([*series_keys, "date"])
    )


def row_counts(flagged: pl.LazyFrame) -> pl.LazyFrame:
    """One row: rows in, kept, quarantined, repaired and late (kept) rows."""
    kept = pl.col(REASON).is_null()
    return flagged.select(
        pl.len().cast(pl.Int64).alias("rows_in"),
        kept.sum().cast(pl.Int64).alias("rows_kept"),
        kept.not_().sum().cast(pl.Int64).alias("rows_quarantined"),
        (kept & pl.col("repaired")).sum().cast(pl.Int64).alias("rows_repaired"),
        (kept & pl.col("is_late")).sum().cast(pl.Int64).alias("rows_late"),
    )


def reason_counts(quarantine: pl.DataFrame) -> dict[str, int]:
    """Quarantined rows per reason, sorted by reason."""
    if quarantine.height == 0:
        return {}
    counts = quarantine.group_by(REASON).len().sort(REASON)
    return {str(r): int(n) for r, n in counts.iter_rows()}


def reconcile(counts: dict[str, int], quarantine: pl.DataFrame, daily: pl.DataFrame) -> None:
    """Raise if any row went missing: in = kept + quarantined, and kept = rows in the roll-up."""
    rows_in, kept, quarantined = (
        counts["rows_in"],
        counts["rows_kept"],
        counts["rows_quarantined"],
    )
    rolled = int(daily["n_rows"].sum()) if daily.height else 0
    if rows_in != kept + quarantined or quarantined != quarantine.height or kept != rolled:
        raise ReconciliationError(
            f"clean: row counts do not reconcile: in={rows_in} kept={kept} "
            f"quarantined={quarantined} (quarantine frame {quarantine.height} rows, "
            f"daily roll-up covers {rolled} rows)"
        )
