"""Unit tests for tasks.data.aggregate: periods, calendar completion, partial edge periods."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

from tasks.data import aggregate
from tasks.data.schemas import Panel, validate

D = dt.date
KEYS = ["region", "product_type"]
DailyRows = Callable[..., pl.DataFrame]


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.fixture
def daily(daily_rows: DailyRows) -> pl.DataFrame:
    """Two series, 2024-01-03 (Wed) .. 2024-03-05 (Tue); revenue = day of year.

    ``south/toys`` has sales only on 2024-01-10 and 2024-01-31: a gap inside its span.
    """
    north = [
        ("north", "toys", d, float(d.timetuple().tm_yday))
        for d in _days(D(2024, 1, 3), D(2024, 3, 5))
    ]
    south = [
        ("south", "toys", D(2024, 1, 10), 5.0, {"promo": 1.0, "n_rows": 2}),
        ("south", "toys", D(2024, 1, 31), 7.0, {"units": None}),
    ]
    return daily_rows(*north, *south)


def _expected(daily: pl.DataFrame, frequency: str, starts: list[dt.date]) -> pl.DataFrame:
    """Period sums computed the slow way: filter each period's days and add them."""
    rows = []
    for (region, product), group in daily.group_by(KEYS):
        for start in starts:
            end = pl.select(pl.lit(start).dt.offset_by(frequency)).item()
            part = group.filter((pl.col("date") >= start) & (pl.col("date") < end))
            if part.height:
                rows.append((region, product, start, part["revenue"].sum(), part["n_rows"].sum()))
    return pl.DataFrame(rows, schema=[*KEYS, "date", "revenue", "n_rows"], orient="row").sort(
        *KEYS, "date"
    )


def test_weekly_sums_equal_daily_sums_of_complete_weeks(daily: pl.DataFrame) -> None:
    result = aggregate.build_panel(daily, KEYS, "1w")
    panel = result.panel
    mondays = _days(D(2024, 1, 8), D(2024, 2, 26))[::7]
    assert result.incomplete_periods_dropped == [D(2024, 1, 1), D(2024, 3, 4)]
    north = panel.filter(pl.col("region") == "north")
    assert north["date"].to_list() == mondays
    assert all(d.weekday() == 0 for d in panel["date"])
    real = panel.filter(~pl.col("is_filled")).select(*KEYS, "date", "revenue", "n_rows")
    assert real.equals(_expected(daily, "1w", mondays).cast({"n_rows": pl.Int64}))
    assert (
        north["revenue"].sum()
        == daily.filter(
            (pl.col("region") == "north") & pl.col("date").is_between(D(2024, 1, 8), D(2024, 3, 3))
        )["revenue"].sum()
    )


def test_monthly_sums_equal_daily_sums_of_complete_months(daily: pl.DataFrame) -> None:
    result = aggregate.build_panel(daily, KEYS, "1mo")
    assert result.incomplete_periods_dropped == [D(2024, 1, 1), D(2024, 3, 1)]
    assert result.panel.select(*KEYS, "date", "revenue").rows() == [
        ("north", "toys", D(2024, 2, 1), float(sum(range(32, 61)))),
    ]  # south/toys only sold in the dropped January


def test_monthly_periods_start_on_the_first(daily_rows: DailyRows) -> None:
    frame = daily_rows(*[("north", "toys", d, 1.0) for d in _days(D(2023, 11, 1), D(2024, 2, 29))])
    panel = aggregate.build_panel(frame, KEYS, "1mo").panel
    assert panel["date"].to_list() == [D(2023, 11, 1), D(2023, 12, 1), D(2024, 1, 1), D(2024, 2, 1)]
    assert panel["revenue"].to_list() == [30.0, 31.0, 31.0, 29.0]
    assert panel["n_rows"].to_list() == [30, 31, 31, 29]


def test_daily_panel_keeps_every_day(daily: pl.DataFrame) -> None:
    result = aggregate.build_panel(daily, KEYS, "1d")
    assert result.incomplete_periods_dropped == []
    real = result.panel.filter(~pl.col("is_filled"))
    assert real.select(*KEYS, "date", "revenue").equals(
        daily.select(*KEYS, "date", "revenue").sort(*KEYS, "date")
    )


@pytest.mark.parametrize("frequency", ["1d", "1w"])
def test_gaps_inside_a_series_are_filled_with_zero(daily: pl.DataFrame, frequency: str) -> None:
    result = aggregate.build_panel(daily, KEYS, frequency, missing_periods="zero")
    south = result.panel.filter(pl.col("region") == "south")
    first, last = (
        (D(2024, 1, 10), D(2024, 1, 31)) if frequency == "1d" else (D(2024, 1, 8), D(2024, 1, 29))
    )
    step = 1 if frequency == "1d" else 7
    assert south["date"].to_list() == _days(first, last)[::step]
    filled = south.filter(pl.col("is_filled"))
    assert filled.height == south.height - 2
    assert set(filled["revenue"]) == {0.0}
    assert set(filled["units"]) == {0}
    assert set(filled["n_rows"]) == {0}
    assert set(filled["promo"]) == {0.0}
    real = south.filter(~pl.col("is_filled"))
    assert real["revenue"].to_list() == [5.0, 7.0]
    assert real["units"].to_list() == [5, None]  # a real null stays null
    assert result.periods_filled == int(result.panel["is_filled"].sum()) == filled.height


def test_gaps_become_null_revenue_in_null_mode(daily: pl.DataFrame) -> None:
    panel = aggregate.build_panel(daily, KEYS, "1w", missing_periods="null").panel
    filled = panel.filter(pl.col("is_filled"))
    assert filled.height == 2
    assert filled["revenue"].null_count() == 2
    assert filled["units"].null_count() == 2
    assert set(filled["n_rows"]) == {0}
    assert panel.filter(~pl.col("is_filled"))["revenue"].null_count() == 0


@pytest.mark.parametrize("frequency", ["1d", "1w"])
def test_nothing_is_added_outside_a_series_span(daily: pl.DataFrame, frequency: str) -> None:
    panel = aggregate.build_panel(daily, KEYS, frequency).panel
    spans = panel.group_by(KEYS).agg(
        pl.col("date").min().alias("lo"), pl.col("date").max().alias("hi")
    )
    real = (
        panel.filter(~pl.col("is_filled"))
        .group_by(KEYS)
        .agg(pl.col("date").min().alias("lo"), pl.col("date").max().alias("hi"))
    )
    assert spans.sort(KEYS).equals(real.sort(KEYS))


@pytest.mark.parametrize("frequency", ["1d", "1w", "1mo"])
def test_one_row_per_series_and_period(daily_rows: DailyRows, frequency: str) -> None:
    frame = daily_rows(
        *[
            (r, p, d, 2.0)
            for r in ("north", "south")
            for p in ("toys", "games")
            for d in _days(D(2024, 1, 1), D(2024, 3, 31))
            if d.day % 5
        ]
    )
    panel = aggregate.build_panel(frame, KEYS, frequency).panel
    assert panel.select(*KEYS, "date").is_unique().all()
    n_periods = {"1d": 91, "1w": 13, "1mo": 3}[frequency]  # Mon 2024-01-01 .. Sun 03-31
    assert panel.height == 4 * n_periods
    validate(panel, Panel, stage="aggregate", source="test", keys=KEYS)


def test_partial_periods_kept_when_asked(daily: pl.DataFrame) -> None:
    result = aggregate.build_panel(daily, KEYS, "1w", drop_incomplete=False)
    assert result.incomplete_periods_dropped == []
    north = result.panel.filter(pl.col("region") == "north")
    assert north["date"].min() == D(2024, 1, 1)
    assert north["date"].max() == D(2024, 3, 4)
    assert north["revenue"].sum() == daily.filter(pl.col("region") == "north")["revenue"].sum()


def test_promo_is_the_row_weighted_share(daily_rows: DailyRows) -> None:
    frame = daily_rows(
        *[
            ("north", "toys", d, 1.0, {"promo": 0.0, "n_rows": 1})
            for d in _days(D(2024, 1, 1), D(2024, 1, 6))
        ],
        ("north", "toys", D(2024, 1, 7), 1.0, {"promo": 0.5, "n_rows": 4}),
    )
    panel = aggregate.build_panel(frame, KEYS, "1w").panel
    assert panel["promo"].to_list() == pytest.approx([2 / 10])
    assert panel["n_rows"].to_list() == [10]


@pytest.mark.parametrize(
    ("first", "last", "frequency", "dropped"),
    [
        (D(2024, 1, 1), D(2024, 1, 14), "1w", []),
        (D(2024, 1, 2), D(2024, 1, 14), "1w", [D(2024, 1, 1)]),
        (D(2024, 1, 1), D(2024, 1, 13), "1w", [D(2024, 1, 8)]),
        (D(2024, 1, 3), D(2024, 1, 5), "1w", [D(2024, 1, 1)]),  # one partial week, once
        (D(2024, 1, 1), D(2024, 2, 29), "1mo", []),  # leap February is complete
        (D(2024, 1, 1), D(2024, 2, 28), "1mo", [D(2024, 2, 1)]),
        (D(2023, 12, 31), D(2024, 1, 31), "1mo", [D(2023, 12, 1)]),
    ],
)
def test_incomplete_periods(
    first: dt.date, last: dt.date, frequency: str, dropped: list[dt.date]
) -> None:
    assert aggregate.incomplete_periods(first, last, frequency) == dropped


@pytest.mark.parametrize("frequency", ["2w", "weekly", "1h", ""])
def test_bad_frequency_raises_naming_it(daily: pl.DataFrame, frequency: str) -> None:
    with pytest.raises(ValueError, match=r"data\.frequency") as info:
        aggregate.build_panel(daily, KEYS, frequency)
    assert repr(frequency) in str(info.value)


def test_bad_missing_periods_raises_naming_it(daily: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"preprocessing\.missing_periods='ffill'"):
        aggregate.build_panel(daily, KEYS, "1d", missing_periods="ffill")


def test_empty_or_too_short_data_raises(daily_rows: DailyRows) -> None:
    with pytest.raises(ValueError, match="no clean rows"):
        aggregate.build_panel(daily_rows(), KEYS, "1d")
    short = daily_rows(*[("north", "toys", d, 1.0) for d in _days(D(2024, 1, 3), D(2024, 1, 9))])
    with pytest.raises(ValueError, match="covers no complete 1w period"):
        aggregate.build_panel(short, KEYS, "1w")


def test_offset() -> None:
    assert aggregate.offset("1w", 3) == "3w"
    assert aggregate.offset("1mo", 2) == "2mo"
    assert aggregate.offset("1d", 0) == "0d"
    with pytest.raises(ValueError, match="'weekly'"):
        aggregate.offset("weekly", 1)
