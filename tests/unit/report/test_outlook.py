"""The coming forecast by segment and in total, with its range and the change since the
last served forecast."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from tasks.report import outlook
from tasks.report import render as report

KEYS = ["region", "product_type"]
START = dt.date(2026, 12, 6)


def forecasts(days: int = 4, level: float = 100.0, start: dt.date = START) -> pl.DataFrame:
    rows = [
        {"region": r, "product_type": p, "date": start + dt.timedelta(days=d), "forecast": level}
        for r in ("north", "south")
        for p in ("toys", "grocery")
        for d in range(days)
    ]
    return pl.DataFrame(rows)


def test_each_segment_and_the_total_sum_the_horizon() -> None:
    rows = outlook.outlook_rows(forecasts(), KEYS, "product_type", None)
    assert [r["segment"] for r in rows] == ["grocery", "toys", "total"]
    assert [r["forecast"] for r in rows] == [800.0, 800.0, 1600.0]  # 2 regions x 4 days x 100
    assert rows[-1]["first"] == START
    assert rows[-1]["last"] == START + dt.timedelta(days=3)
    assert all(r["served"] is None and r["change"] is None for r in rows)
    assert "p10" not in rows[0]


def test_the_range_appears_when_the_forecasts_have_quantiles() -> None:
    ranged = forecasts().with_columns(
        pl.col("forecast").mul(0.8).alias("p10"), pl.col("forecast").mul(1.3).alias("p90")
    )
    total = outlook.outlook_rows(ranged, KEYS, "product_type", None)[-1]
    assert (total["p10"], total["p90"]) == pytest.approx((1280.0, 2080.0))
    html = outlook.outlook_html(ranged, KEYS, "product_type", None)
    assert "P10 (sum)" in html
    assert "P90 (sum)" in html
    assert (
        "P10"
        not in outlook.outlook_html(forecasts(), KEYS, "product_type", None).split("</table>")[0]
    )


def test_the_change_is_measured_on_the_days_both_forecasts_cover() -> None:
    # served yesterday: 4 days from the day before, at 80; 3 of its days overlap
    served = forecasts(level=80.0, start=START - dt.timedelta(days=1)).with_columns(
        pl.lit("v1").alias("model_version")
    )
    rows = outlook.outlook_rows(forecasts(), KEYS, "product_type", served)
    total = rows[-1]
    assert total["forecast"] == 1600.0  # the whole horizon
    assert total["served"] == pytest.approx(4 * 3 * 80.0)  # the shared days only
    assert total["change"] == pytest.approx(100.0 / 80.0 - 1.0)
    markdown = outlook.outlook_markdown(forecasts(), KEYS, "product_type", served)
    assert markdown[-1].startswith("| total |")
    assert "+25.0%" in markdown[-1]


def test_no_overlap_means_no_change() -> None:
    later = forecasts(start=START + dt.timedelta(days=30))
    rows = outlook.outlook_rows(forecasts(), KEYS, "product_type", later)
    assert all(r["change"] is None for r in rows)


def test_the_report_has_the_section_after_the_summary() -> None:
    from tests.unit.report.test_render import make_inputs

    inputs = dataclasses.replace(make_inputs(), last_served=None, segment_by="product_type")
    page = report.render_report(inputs)
    assert list(report.SECTIONS)[:2] == ["summary", "forecast"]
    section = page[page.index('<section id="forecast">') :]
    section = section[: section.index("</section>")]
    assert "Coming forecast" in section
    assert '<tr class="total">' in section
    assert "No change column" in section
    assert "**Coming forecast**" in report.markdown_summary(inputs)
