"""Pandera schemas for every boundary: raw, clean, panel, features, forecasts, quarantine.

Series keys are configurable (``data.series_keys``), so each model holds the fixed
columns and :func:`schema_for` adds the key columns and the (keys, date) uniqueness.
Validation is lazy: all failures are collected and reported together.
"""

from __future__ import annotations

import re

from collections.abc import Sequence
from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.api.polars.model_config import BaseConfig

SCHEMA_VERSIONS: dict[str, str] = {
    "raw": "1",
    "clean": "1",
    "panel": "1",
    "features": "1",
    "forecasts": "1",
    "quarantine": "1",
}

QUARANTINE_REASONS = (
    "missing_date",
    "unparsable_date",
    "future_date",
    "missing_key",
    "unknown_category",
    "null_revenue",
    "negative_revenue",
    "below_min_revenue",
    "duplicate",
)

MAX_EXAMPLES = 5


class _Config(BaseConfig):
    strict = False
    coerce = False


class RawSales(pa.DataFrameModel):
    """Raw input normalised to the contract (dates that did not parse are null here)."""

    date: pl.Date = pa.Field(nullable=True)
    date_raw: str = pa.Field(nullable=True)
    region: str = pa.Field(nullable=True)
    product_type: str = pa.Field(nullable=True)
    revenue: float = pa.Field(nullable=True)
    store_id: str = pa.Field(nullable=True)
    units: int = pa.Field(nullable=True)
    unit_price: float = pa.Field(nullable=True)
    promo: bool = pa.Field(nullable=True)
    source_file: str = pa.Field(nullable=False)
    arrival_date: pl.Date = pa.Field(nullable=True)

    Config = _Config


class CleanDaily(pa.DataFrameModel):
    """Clean sales rolled up to one row per (series, day)."""

    date: pl.Date = pa.Field(nullable=False)
    revenue: float = pa.Field(nullable=False, ge=0)
    units: int = pa.Field(nullable=True)
    promo: float = pa.Field(nullable=False, ge=0, le=1)
    n_rows: int = pa.Field(nullable=False, ge=1)

    Config = _Config


class Panel(pa.DataFrameModel):
    """One row per (series, period), calendar completed inside each series' span."""

    date: pl.Date = pa.Field(nullable=False)
    revenue: float = pa.Field(nullable=True, ge=0)
    units: int = pa.Field(nullable=True)
    promo: float = pa.Field(nullable=False, ge=0, le=1)
    n_rows: int = pa.Field(nullable=False, ge=0)
    is_filled: bool = pa.Field(nullable=False)

    Config = _Config


class Features(pa.DataFrameModel):
    """Model matrix: target, lags, windows, calendar and categorical columns."""

    date: pl.Date = pa.Field(nullable=False)
    revenue: float = pa.Field(nullable=True, ge=0)

    @pa.dataframe_check
    @classmethod
    def numeric_features_are_finite(cls, data: Any) -> pl.LazyFrame:
        """Lag and window columns hold no infinities (nulls are allowed: no history yet)."""
        lf: pl.LazyFrame = data.lazyframe
        cols = [c for c in lf.collect_schema().names() if c.startswith(("lag_", "roll_"))]
        if not cols:
            return lf.select(pl.lit(True).alias("ok"))
        return lf.select(
            pl.all_horizontal([pl.col(c).is_infinite().not_().fill_null(True) for c in cols])
        )

    Config = _Config


QUANTILE_COLUMN = re.compile(r"p\d+(\.\d+)?")  # p10, p50, p90, p2.5: forecast.quantiles


class Forecasts(pa.DataFrameModel):
    """Published forecasts: never negative, never missing; quantiles (p10, p50, p90...)
    too, with the recipe that combined the candidates."""

    date: pl.Date = pa.Field(nullable=False)
    forecast: float = pa.Field(nullable=False, ge=0)
    recipe: str = pa.Field(nullable=False)

    @pa.dataframe_check
    @classmethod
    def quantiles_are_present_and_non_negative(cls, data: Any) -> pl.LazyFrame:
        """At least one quantile column (``p10``, ``p50``...), none missing or negative.

        A frame-level check rather than a regex column: pandera cannot report a missing
        regex column together with other failures (its failure cases change type).
        """
        lf: pl.LazyFrame = data.lazyframe
        cols = [c for c in lf.collect_schema().names() if QUANTILE_COLUMN.fullmatch(c)]
        if not cols:
            return lf.select(pl.lit(False).alias("ok")).head(1)
        return lf.select(pl.all_horizontal([(pl.col(c) >= 0).fill_null(False) for c in cols]))

    Config = _Config


class Quarantine(pa.DataFrameModel):
    """Removed rows, each with a known reason and the file it came from."""

    reason: str = pa.Field(nullable=False, isin=list(QUARANTINE_REASONS))
    source_file: str = pa.Field(nullable=True)

    Config = _Config


class DataValidationError(ValueError):
    """A frame failed its schema; the message lists every failed check with counts and examples."""

    def __init__(self, stage: str, source: str, summary: pl.DataFrame, total: int) -> None:
        self.stage = stage
        self.source = source
        self.summary = summary
        self.total = total
        super().__init__(self._message())

    def _message(self) -> str:
        head = (
            f"{self.stage}: {self.total} schema violation(s) in {self.source} "
            f"({self.summary.height} distinct check(s) failed):"
        )
        lines = [head]
        for row in self.summary.iter_rows(named=True):
            lines.append(
                f"  - column {row['column']!r} check {row['check']!r}: "
                f"{row['count']} failure(s), e.g. {row['examples']}"
            )
        return "\n".join(lines)


def schema_for(
    model: type[pa.DataFrameModel], keys: Sequence[str], unique_on_keys: bool = True
) -> pa.DataFrameSchema:
    """The model's schema plus non-null string key columns and uniqueness on (keys, date)."""
    schema = model.to_schema()
    extra = {k: pa.Column(pl.String, nullable=False) for k in keys if k not in schema.columns}
    schema = schema.add_columns(extra)
    if unique_on_keys and keys:
        schema.unique = [*keys, "date"]
    return schema


def summarize_failures(failure_cases: pl.DataFrame) -> pl.DataFrame:
    """Group pandera failure cases into (column, check, count, examples)."""
    return (
        failure_cases.with_columns(
            pl.col("column").fill_null("<frame>"),
            pl.col("failure_case").cast(pl.String).fill_null("null"),
        )
        .group_by("column", "check", maintain_order=True)
        .agg(
            pl.len().alias("count"),
            pl.col("failure_case").unique(maintain_order=True).head(MAX_EXAMPLES).alias("examples"),
        )
        .with_columns(pl.col("examples").list.join(", "))
    )


def validate(
    frame: pl.DataFrame,
    model: type[pa.DataFrameModel],
    *,
    stage: str,
    source: str,
    keys: Sequence[str] = (),
    unique_on_keys: bool = True,
) -> pl.DataFrame:
    """Validate a collected frame (so data checks run), reporting every failure at once.

    Raises
    ------
    DataValidationError
        Naming the stage and source, with counts and examples per failed check.
    """
    schema = schema_for(model, keys, unique_on_keys=unique_on_keys)
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        assert isinstance(cases, pl.DataFrame)
        raise DataValidationError(stage, source, summarize_failures(cases), cases.height) from None
    return frame
