"""Clean: flag every bad raw row with a reason, repair what can be repaired, roll up the rest.

The functions take and return ``LazyFrame`` plans, so the task that runs them collects
the quarantine, the daily roll-up and the counts in one streaming pass; only finding the
duplicates (:func:`duplicate_positions`) reads the raw rows once more, narrowly. Raw rows
are never all held in memory. Rows in = rows kept + rows quarantined, always.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tasks.errors import DataError
from tasks.data.ingest import ARRIVAL_COLUMN, RAW_DATE_COLUMN, SOURCE_COLUMN

REASON = "reason"
ROW_INDEX = "__row_index"  # scan position, while flagging only
_FIXED_SCALE = 2.0**60
_FIXED_LIMIT = 2.0**66


# What to change when a reason quarantined every row.
REASON_FIXES = {
    "missing_date": "fill the date column",
    "unparsable_date": "write dates as YYYY-MM-DD",
    "future_date": "rows are dated after the date= folder they arrived in: check the folders",
    "missing_key": "fill the series key columns (data.series_keys)",
    "unknown_category": "add the values to data.allowed_categories, or set it to {}",
    "null_revenue": "fill revenue (or units and unit_price, with preprocessing.repair_revenue)",
    "negative_revenue": "returns only? check the revenue column's sign",
    "below_min_revenue": "lower preprocessing.min_revenue",
    "duplicate": "check the input for copied files",
}


class ReconciliationError(RuntimeError):
    """Rows went missing between the raw scan and the clean output."""


class NoCleanRowsError(DataError):
    """Every raw row was quarantined: nothing is left to forecast."""


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


def other_reason(params: CleanParams) -> pl.Expr:
    """The first rule other than "duplicate" that a row breaks, or null (in precedence order)."""
    revenue = pl.col("revenue_clean")
    keys = params.series_keys
    return (
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


def identity_columns(raw: pl.LazyFrame) -> list[str]:
    """The columns two rows must agree on to be copies: all but file, arrival and parsed date."""
    skip = (SOURCE_COLUMN, ARRIVAL_COLUMN, "date")
    return [c for c in raw.collect_schema().names() if c not in skip]


def duplicate_positions(raw: pl.LazyFrame, params: CleanParams) -> pl.Series:
    """Positions (in scan order) of the rows that are later exact copies of a good row.

    A duplicate is a later exact copy of a row that breaks no other rule, so one copy is
    always kept, even when an earlier copy was quarantined for its arrival folder.

    This collects one narrow pass over ``raw``: each good row's position and two
    independent 64-bit hashes of its identity columns (20 bytes a row, never the rows
    themselves). Rows whose first hash occurs more than once are the candidates (found by
    sorting that one column); among them, in scan order, a row whose two hashes were seen
    before is a copy. Two rows that differ share both hashes with a probability of about
    n² / 2^129 (1e-23 for 100M rows).
    """
    row = pl.struct(identity_columns(raw))
    good = (
        raw.with_row_index(ROW_INDEX)
        .with_columns(repaired_revenue(params.repair_revenue).alias("revenue_clean"))
        .filter(other_reason(params).is_null())
        .select(ROW_INDEX, row.hash(1).alias("_h1"), row.hash(2).alias("_h2"))
        .collect()
    )
    first = good["_h1"].sort()
    repeated = first.filter(first == first.shift(1)).unique()
    candidates = good.filter(pl.col("_h1").is_in(repeated.implode())).sort(ROW_INDEX)
    copy = pl.struct("_h1", "_h2").is_first_distinct().not_()
    return candidates.filter(copy)[ROW_INDEX]


def flag_rows(raw: pl.LazyFrame, params: CleanParams) -> pl.LazyFrame:
    """Add ``revenue_clean``, ``repaired``, ``is_late`` and ``reason`` to every raw row.

    Reads ``raw`` once now, narrowly, to find the duplicates (:func:`duplicate_positions`;
    call it where storage errors are handled); the returned plan streams the rest.
    """
    duplicate = pl.col(ROW_INDEX).is_in(duplicate_positions(raw, params).implode())
    late_days = (pl.col(ARRIVAL_COLUMN) - pl.col("date")).dt.total_days()
    reason = pl.coalesce(other_reason(params), pl.when(duplicate).then(pl.lit("duplicate")))
    return (
        raw.with_row_index(ROW_INDEX)
        .with_columns(
            repaired_revenue(params.repair_revenue).alias("revenue_clean"),
            (late_days > params.late_tolerance_days).fill_null(False).alias("is_late"),
        )
        .with_columns(
            (pl.col("revenue").is_null() & pl.col("revenue_clean").is_not_null()).alias("repaired"),
            reason.alias(REASON),
        )
        .drop(ROW_INDEX)
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


def exact_sum(column: str) -> pl.Expr:
    """Sum of a float column that does not depend on the order of its terms.

    A parallel scan delivers rows in any order and a float sum depends on the order of its
    terms; same input must give the same bits. Each value is taken as an integer number of
    2^-60 (exact for every value from 2^-8 up; finer bits are truncated), summed exactly in
    Int128 and rounded once. Values of 2^66 (7e19) and more, which would not fit, are
    summed as floats on top.
    """
    value = pl.col(column)
    huge = value.abs() >= _FIXED_LIMIT
    fixed = (pl.when(huge).then(0.0).otherwise(value) * _FIXED_SCALE).cast(pl.Int128).sum()
    rest = pl.when(huge).then(value).otherwise(0.0).sum()
    return (fixed.cast(pl.Float64) / _FIXED_SCALE + rest).alias(column)


def rollup_daily(flagged: pl.LazyFrame, series_keys: list[str]) -> pl.LazyFrame:
    """Kept rows summed per (series, date): revenue, units, promo share, row count."""
    return (
        flagged.filter(pl.col(REASON).is_null())
        .group_by([*series_keys, "date"])
        .agg(
            exact_sum("revenue_clean").alias("revenue"),
            pl.when(pl.col("units").count() > 0).then(pl.col("units").sum()).alias("units"),
            pl.col("promo").fill_null(False).cast(pl.Float64).mean().alias("promo"),
            pl.len().cast(pl.Int64).alias("n_rows"),
        )
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


def collect(
    flagged: pl.LazyFrame,
    params: CleanParams,
    extra_columns: list[str],
    also: Sequence[pl.LazyFrame] = (),
) -> tuple[CleanResult, list[pl.DataFrame]]:
    """Roll-up, quarantine and reconciled counts (and the ``also`` plans) in one streaming pass.

    The quarantine streams to a temporary Arrow file and is read back: next to the
    roll-up's group-by, Polars' streaming engine buffers every row an in-memory row sink
    is to get until the group-by is done (all raw rows); a file sink streams. Quarantined
    rows are few, the file small.

    Raises
    ------
    ReconciliationError
        When rows in != rows kept + rows quarantined, or the frames disagree with the counts.
    """
    with tempfile.TemporaryDirectory(prefix="sales-clean-") as folder:
        spill = Path(folder) / "quarantine.arrow"
        sink = quarantine_rows(flagged, extra_columns).sink_ipc(spill, lazy=True)
        daily, _, counts_frame, *rest = pl.collect_all(
            [rollup_daily(flagged, params.series_keys), sink, row_counts(flagged), *also]
        )
        quarantine = pl.read_ipc(spill.read_bytes())  # in memory before the folder goes
    counts = {k: int(v) for k, v in counts_frame.row(0, named=True).items()}
    reconcile(counts, quarantine, daily)
    result = CleanResult(daily, quarantine, {**counts, **reason_counts(quarantine)})
    return result, rest


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


def no_clean_rows(counts: dict[str, int], quarantine_path: str) -> NoCleanRowsError:
    """The error for an input whose every row was quarantined, with counts by reason."""
    by_reason = {r: n for r, n in counts.items() if r in REASON_FIXES and n}
    ranked = sorted(by_reason.items(), key=lambda item: (-item[1], item[0]))
    listed = ", ".join(f"{reason} {n}" for reason, n in ranked)
    top = ranked[0][0] if ranked else None
    hint = f"{top}, the most common: {REASON_FIXES[top]}; " if top else ""
    return NoCleanRowsError(
        f"clean: all {counts.get('rows_in', 0)} rows were quarantined ({listed}); nothing is "
        "left to forecast",
        where=quarantine_path,
        fix=f"{hint}the file above has each row with its reason",
    )
