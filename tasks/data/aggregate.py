"""Aggregate: clean daily sales → one row per (series, period) at ``data.frequency``.

Periods are labelled by their first day (weeks start on Monday). The calendar is completed
inside each series' span; periods that the data only partly covers at either end are
dropped so a half week never looks like a slump (unless every date already starts a
period: data at that frequency, e.g. monthly figures dated the 1st).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import polars as pl

from tasks.errors import DataError

FREQUENCIES = ("1d", "1w", "1mo")


@dataclass(frozen=True)
class PanelResult:
    """The panel and what building it changed."""

    panel: pl.DataFrame
    periods_filled: int
    incomplete_periods_dropped: list[dt.date]


def check_frequency(frequency: str) -> None:
    """Raise for a frequency the pipeline does not support."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"data.frequency={frequency!r} is not one of {list(FREQUENCIES)}")


def offset(frequency: str, periods: int) -> str:
    """Polars duration of ``periods`` periods of ``frequency`` (3 periods of 1w = ``3w``)."""
    match = re.fullmatch(r"(\d+)(d|w|mo)", frequency)
    if match is None:
        raise ValueError(f"data.frequency={frequency!r} is not like '1d', '1w' or '1mo'")
    return f"{int(match[1]) * periods}{match[2]}"


def period_end(start: pl.Expr, frequency: str) -> pl.Expr:
    """Last day of the period that begins at ``start``."""
    return start.dt.offset_by(frequency).dt.offset_by("-1d")


def incomplete_periods(first_day: dt.date, last_day: dt.date, frequency: str) -> list[dt.date]:
    """Period starts that the days ``first_day..last_day`` cover only in part."""
    frame = pl.DataFrame({"day": [first_day, last_day]}).with_columns(
        pl.col("day").dt.truncate(frequency).alias("start")
    )
    first_start, last_start = frame["start"].to_list()
    dropped = []
    if first_start < first_day:
        dropped.append(first_start)
    last_end = frame.select(period_end(pl.col("start"), frequency))["start"][1]
    if last_end > last_day and last_start not in dropped:
        dropped.append(last_start)
    return dropped


def to_periods(daily: pl.DataFrame, series_keys: list[str], frequency: str) -> pl.DataFrame:
    """Sum daily rows into periods; promo becomes the row-weighted share of promo sales."""
    return (
        daily.with_columns(pl.col("date").dt.truncate(frequency))
        .group_by([*series_keys, "date"])
        .agg(
            pl.col("revenue").sum(),
            pl.when(pl.col("units").count() > 0).then(pl.col("units").sum()).alias("units"),
            ((pl.col("promo") * pl.col("n_rows")).sum() / pl.col("n_rows").sum()).alias("promo"),
            pl.col("n_rows").sum(),
        )
        .sort([*series_keys, "date"])
    )


def complete_calendar(
    periods: pl.DataFrame, series_keys: list[str], frequency: str, missing_periods: str
) -> pl.DataFrame:
    """Insert the missing periods between each series' first and last period."""
    if missing_periods not in ("zero", "null"):
        raise ValueError(
            f"preprocessing.missing_periods={missing_periods!r} is not 'zero' or 'null'"
        )
    spans = periods.group_by(series_keys).agg(
        pl.date_ranges(pl.col("date").min(), pl.col("date").max(), interval=frequency)
        .first()
        .alias("date")
    )
    grid = spans.explode("date")
    panel = grid.join(periods, on=[*series_keys, "date"], how="left").with_columns(
        pl.col("n_rows").is_null().alias("is_filled"),
        pl.col("n_rows").fill_null(0),
        pl.col("promo").fill_null(0.0),
    )
    if missing_periods == "zero":
        panel = panel.with_columns(
            pl.col("revenue").fill_null(0.0),
            pl.when(pl.col("is_filled")).then(0).otherwise(pl.col("units")).alias("units"),
        )
    return panel.sort([*series_keys, "date"])


def build_panel(
    daily: pl.DataFrame,
    series_keys: list[str],
    frequency: str,
    missing_periods: str = "zero",
    drop_incomplete: bool = True,
) -> PanelResult:
    """One row per (series, period), calendar completed, partial edge periods dropped."""
    check_frequency(frequency)
    if daily.height == 0:
        raise DataError(
            "aggregate: no clean rows left to build a panel from",
            fix="see the run's quarantine.parquet for why rows were removed",
        )
    dropped: list[dt.date] = []
    periods = to_periods(daily, series_keys, frequency)
    first, last = daily["date"].min(), daily["date"].max()
    if not isinstance(first, dt.date) or not isinstance(last, dt.date):
        raise TypeError(f"aggregate: 'date' must be a date column, got {daily.schema['date']}")
    native = daily.select((pl.col("date").dt.truncate(frequency) == pl.col("date")).all()).item()
    if drop_incomplete and not native:
        dropped = incomplete_periods(first, last, frequency)
        periods = periods.filter(pl.col("date").is_in(dropped).not_())
    if periods.height == 0:
        raise DataError(
            f"aggregate: data {first}..{last} covers no complete {frequency} period",
            fix="add data for at least one whole period, use a shorter data.frequency, or set "
            "preprocessing.drop_incomplete_periods=false",
        )
    panel = complete_calendar(periods, series_keys, frequency, missing_periods)
    return PanelResult(
        panel=panel,
        periods_filled=int(panel["is_filled"].sum()),
        incomplete_periods_dropped=dropped,
    )
