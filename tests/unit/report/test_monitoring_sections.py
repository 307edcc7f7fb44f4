"""Monitoring sections of the run report: data-quality checks, drift and realised accuracy.

The inputs are built by the real monitoring functions (``quality_report``, ``psi_against``,
``realised_metrics`` / ``accuracy_check``) from small synthetic data, with a hostile
category name that must reach the page only as escaped text (builders in
:mod:`tests.support.monitoring`, shared with the whole-page and browser tests).
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

import polars as pl
import pytest

from tasks.report import monitoring_sections as rm
from tasks.report import plots as report_plots
from tests.support.monitoring import (
    BACKTEST,
    ESCAPED_CATEGORY,
    HOSTILE_CATEGORY,
    drift_json,
    features,
    monitoring_inputs,
    realised_json,
)


@pytest.fixture(scope="module")
def monitored() -> dict[str, Any]:
    return monitoring_inputs()


def _rows(page: str) -> list[str]:
    return re.findall(r"<tr[^>]*>.*?</tr>", page)


def _row(page: str, first_cell: str) -> str:
    found = [r for r in _rows(page) if re.match(rf"<tr[^>]*><td>{re.escape(first_cell)}</td>", r)]
    assert len(found) == 1, (first_cell, found)
    return found[0]


# ---------------------------------------------------------------- nothing yet


def test_sections_say_when_there_is_nothing_yet() -> None:
    quality_html = rm.quality_section(None)
    assert quality_html.startswith('<section id="monitoring-quality"><h2>Data-quality checks</h2>')
    assert "No data-quality checks were recorded for this run." in quality_html
    drift_html = rm.drift_section(None)
    assert drift_html.startswith('<section id="drift"><h2>Drift</h2>')
    assert "no reference profile yet (first champion)" in drift_html
    realised_html = rm.realised_section(None, BACKTEST)
    assert realised_html.startswith('<section id="realised"><h2>Realised accuracy</h2>')
    assert "No published forecasts have been realised yet" in realised_html
    for html in (quality_html, drift_html, realised_html):
        assert "<img" not in html
        assert "<table" not in html


def test_markdown_lines_when_there_is_nothing_yet() -> None:
    assert rm.markdown_lines(None, None, None) == [
        "- Data quality: no checks recorded",
        "- Drift: no reference profile yet (first champion)",
        "- Realised accuracy: no published forecasts have been realised yet",
    ]


# ---------------------------------------------------------------- data quality


def test_quality_fixture_is_what_the_checks_make_of_it(monitored: dict[str, Any]) -> None:
    q = monitored["quality"]
    levels = {c["name"]: c["level"] for c in q["checks"]}
    assert q["status"] == "warn"
    assert q["compared_with_run"] == "r1"
    for name in ("null_rate.revenue", "vanished_series_rate", "new_series", "new_categories"):
        assert levels[name] == "warn", name
    assert levels["coverage_gaps"] == "warn"
    assert q["series"]["vanished"] == ["south|food"]
    assert q["categories"]["product_type"]["new"] == [HOSTILE_CATEGORY]


def test_quality_section_shows_every_check_worst_first_and_highlighted(
    monitored: dict[str, Any],
) -> None:
    q = copy.deepcopy(monitored["quality"])
    duplicates = next(c for c in q["checks"] if c["name"] == "duplicate_rate")
    duplicates |= {"value": 0.125, "level": "breach", "message": "duplicate_rate 0.125 > breach"}
    html = rm.quality_section(q)
    assert 'Status <span class="badge warn">warn</span>' in html
    assert "compared with run r1" in html
    assert "1 above the hard level, 5 above the warn level" in html
    names = re.findall(r'<tr class="[^"]*"><td>([a-z_.]+)</td>', html) + re.findall(
        r"<tr><td>([a-z_.]+)</td>", html
    )
    for check in q["checks"]:
        assert check["name"] in names
    breach = _row(html, "duplicate_rate")
    assert breach.startswith('<tr class="lv-bad">')
    assert '<td class="num">12.50%</td>' in breach  # value
    assert '<td class="num">2.00%</td><td class="num">10.00%</td>' in breach  # warn, hard
    assert '<span class="badge fail">breach</span>' in breach
    warned = _row(html, "null_rate.revenue")
    assert warned.startswith('<tr class="lv-warn">')
    assert '<span class="badge warn">warn</span>' in warned
    assert "20 of 492 rows have no revenue" in warned
    assert _row(html, "quarantine_rate").startswith("<tr><td>")  # ok: not highlighted
    late = _row(html, "late_rate")
    assert '<td class="num">5.00%</td><td class="num">off</td>' in late  # no hard level
    order = [
        html.index(f"<td>{n}</td>") for n in ("duplicate_rate", "null_rate.revenue", "late_rate")
    ]
    assert order == sorted(order)  # breach, then warnings, then the rest


def test_quality_section_details(monitored: dict[str, Any]) -> None:
    html = rm.quality_section(monitored["quality"])
    assert "<h3>Null rates (raw rows)</h3>" in html
    assert '<td>revenue</td><td class="num">4.07%</td><td class="num">20</td>' in html
    diffs = html[html.index("<h3>Series and categories</h3>") : html.index("<h3>Coverage")]
    series = _row(diffs, "series")
    assert series.startswith('<tr class="lv-warn">')
    assert f"<td>1: north|{ESCAPED_CATEGORY}</td><td>1: south|food</td>" in series
    assert f"<td>1: {ESCAPED_CATEGORY}</td><td>none</td>" in _row(diffs, "product_type")
    assert _row(diffs, "region").startswith("<tr><td>")  # nothing new or vanished
    assert "<td>coverage gaps (no sales at all)</td><td>1: 2024-01-21</td>" in html
    assert "<td>dates</td><td>2024-01-01 → 2024-02-11</td>" in html
    assert "<td>trailing median of rows in</td><td>504 (last 1 runs)</td>" in html
    assert "<td>volume vs trailing median</td><td>-2.4%</td>" in html


def test_quality_section_lists_long_diffs_with_a_count() -> None:
    q = {
        "status": "warn",
        "checks": [],
        "series": {
            "count": 40,
            "new": [f"s{i}" for i in range(20)],
            "n_new": 25,
            "vanished": [],
            "n_vanished": 0,
        },
        "volume": {"rows_in": 10, "trailing_runs": 0, "trailing_median": None, "change": None},
    }
    html = rm.quality_section(q)
    assert "25: s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 … and 15 more" in html
    assert "No checks recorded." in html
    assert "Null counts not recorded." in html
    assert "no earlier run to compare with" in html
    assert "<td>trailing median of rows in</td><td>no earlier run</td>" in html


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("quarantine_rate", 0.0123, "1.23%"),
        ("null_rate.revenue", 0.0, "0.00%"),
        ("volume_drop", 0.5, "50.00%"),
        ("new_series", 3.0, "3"),
        ("coverage_gaps", 1200.0, "1,200"),
        ("new_series", 2.5, "2.5"),
        ("new_series", None, "n/a"),
    ],
)
def test_check_values_are_shares_or_counts(name: str, value: float | None, shown: str) -> None:
    assert rm.check_value(name, value) == shown


# ---------------------------------------------------------------- drift


def test_drift_section_scores_each_column_worst_first(monitored: dict[str, Any]) -> None:
    d = monitored["drift"]
    assert d["summary"]["level"] == "alert"
    assert d["summary"]["alerts"] == ["lag_1"]
    html = rm.drift_section(d)
    assert 'Level <span class="badge fail">alert</span>' in html
    assert "warn above 0.100, alert above 0.250" in html
    assert f"Largest PSI {d['summary']['max_psi']:.3f} at" in html
    lag = _row(html, "lag_1")
    assert lag.startswith('<tr class="lv-bad">')
    assert f'<td class="num">{d["overall"]["columns"]["lag_1"]["psi"]:.3f}</td>' in lag
    assert '<span class="badge fail">alert</span>' in lag
    promo = _row(html, "promo")
    assert '<span class="badge pass">ok</span>' in promo
    assert "<td>revenue (target)</td>" in html
    columns = html[html.index("Overall, per column") : html.index("Reference vs current")]
    assert columns.index("<td>lag_1</td>") < columns.index("<td>promo</td>")


def test_drift_section_compares_the_reference_with_the_current_window(
    monitored: dict[str, Any],
) -> None:
    html = rm.drift_section(monitored["drift"])
    assert "<td>training profile of model v3</td><td>latest periods of this run</td>" in html
    assert "<td>first date</td><td>2024-01-01</td><td>2024-01-01</td>" in html
    assert "<td>last date</td><td>2024-10-26</td><td>2024-03-30</td>" in html
    assert "<td>rows</td><td>6,000</td><td>1,800</td>" in html


def test_drift_section_lists_the_worst_segments(monitored: dict[str, Any]) -> None:
    d = monitored["drift"]
    html = rm.drift_section(d)
    assert "Largest 10 of 12 segment × column scores." in html
    segments = html[html.index("<h3>Worst segments</h3>") :]
    psis = [float(v) for v in re.findall(r'<td class="num">(\d\.\d{3})</td>', segments)]
    assert psis == sorted(psis, reverse=True)
    assert "<td>product_type=toys</td><td>lag_1</td>" in segments
    assert "Worst segment level: alert" in segments


def test_drift_section_notes_segments_not_judged_new_and_missing() -> None:
    thin = features(1_600, 3, hostile_every=16).with_columns(
        pl.when(pl.col("product_type") == "food")
        .then(pl.lit("garden"))
        .otherwise("product_type")
        .alias("product_type")
    )
    d = drift_json(thin)
    html = rm.drift_section(d)
    assert f"Not judged (fewer than 200 current rows): 1: product_type={ESCAPED_CATEGORY}." in html
    assert "New segments (not in the reference): 1: product_type=garden." in html
    assert "Segments with no current rows: 1: product_type=food." in html
    assert '<span class="badge muted">insufficient</span>' not in html  # overall is judged
    tiny = drift_json(features(150, 4))
    assert '<span class="badge muted">insufficient</span>' in rm.drift_section(tiny)
    assert "No segment had enough rows to be judged." in rm.drift_section(tiny)


# ---------------------------------------------------------------- realised accuracy


def test_realised_section_gives_the_verdict_in_words(monitored: dict[str, Any]) -> None:
    r = monitored["realised"]
    check = r["check"]
    assert check["judged"]
    assert check["degraded"]
    html = rm.realised_section(r, BACKTEST)
    assert (
        '<p class="verdict"><span class="badge fail">degraded</span> Degraded: realised WAPE'
        in html
    )
    assert (
        f"realised WAPE {check['realised_wape']:.1%} of the forecasts of the latest 7 runs "
        f"({check['pairs']} realised pairs) is worse than the backtest WAPE 8.0% by more than "
        "the 25% margin (limit 10.0%)." in html
    )
    assert f"Realised bias {check['realised_bias']:+.1%} (over-forecast)." in html
    assert "Degraded horizon steps: 1, 2, 3, 4, 5, 6, 7." in html
    assert f"All realised pairs: {r['metrics']['pairs']} from 10 runs" in html


def test_realised_section_plots_wape_over_time_with_the_backtest_line(
    monitored: dict[str, Any],
) -> None:
    html = rm.realised_section(monitored["realised"], BACKTEST)
    images = re.findall(r'<img src="data:image/png;base64,[^"]+"', html)
    assert len(images) == 1
    assert "Realised WAPE and bias by forecast origin" in html
    assert "dashed: backtest WAPE" in html
    origins = html[html.index("<h3>By forecast origin</h3>") :]
    assert "Latest 10 of 10 forecast runs, newest first." in origins
    assert origins.index("<td>2024-03-04</td><td>r09</td>") < origins.index(
        "<td>2024-01-01</td><td>r00</td>"
    )


def test_realised_section_has_a_row_per_horizon_step(monitored: dict[str, Any]) -> None:
    r = monitored["realised"]
    html = rm.realised_section(r, BACKTEST)
    steps = html[html.index("<h3>Per horizon step</h3>") : html.index("<h3>Per segment</h3>")]
    assert len(_rows(steps)) == 1 + 7
    first = next(s for s in r["metrics"]["per_step"] if s["step"] == 1)
    row = _row(steps, "1")
    assert row.startswith('<tr class="lv-bad">')
    assert f'<td class="num">{first["n"]}</td><td class="num">{first["wape"]:.1%}</td>' in row
    assert '<td class="num">6.5%</td>' in row  # backtest WAPE of step 1
    assert '<span class="badge fail">degraded</span>' in row
    segments = html[html.index("<h3>Per segment</h3>") :]
    assert f"<td>product_type={ESCAPED_CATEGORY}</td>" in segments
    assert "<td>product_type=toys</td>" in segments


def test_realised_section_within_the_margin_and_not_judged() -> None:
    good = realised_json(worse_from=99)
    html = rm.realised_section(good, BACKTEST)
    assert '<span class="badge pass">ok</span> As expected: realised WAPE 6.0%' in html
    assert "is within the 25% margin of the backtest WAPE 8.0% (degraded above 10.0%)." in html
    bias = good["check"]["realised_bias"]
    assert f"Realised bias {bias:+.1%} (under-forecast)." in html  # -6, +6, ..., -6
    few = realised_json(runs=2, min_points=500)
    html = rm.realised_section(few, BACKTEST)
    assert '<span class="badge muted">not judged</span> Not judged yet:' in html
    assert "(22 realised pairs) are too few to compare with the backtest." in html
    assert html.count("<img ") == 1
    assert '<span class="badge muted">not judged</span></td>' in html  # per step


def test_realised_section_falls_back_to_the_report_backtest_wape() -> None:
    r = realised_json()
    r["check"]["backtest_wape"] = None
    html = rm.realised_section(r, {"backtest": {"model": {"wape": 0.2}}})
    assert "backtest WAPE 20.0%" in html
    metrics_only = {"metrics": r["metrics"]}
    assert "Not judged yet" in rm.realised_section(metrics_only, BACKTEST)


def test_realised_plot_handles_one_origin_and_missing_values() -> None:
    image = report_plots.realised_plot([dt.date(2024, 5, 1)], [None], [0.1], None, None)
    assert image.png[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.width > 300


# ---------------------------------------------------------------- escaping and Markdown


def test_hostile_category_names_are_escaped_everywhere(monitored: dict[str, Any]) -> None:
    html = (
        rm.quality_section(monitored["quality"])
        + rm.drift_section(monitored["drift"])
        + rm.realised_section(monitored["realised"], BACKTEST)
    )
    assert HOSTILE_CATEGORY not in html
    assert "<img src=x" not in html
    assert html.count(ESCAPED_CATEGORY) >= 4
    assert not re.search(r"<script|onerror=\"|https?://", html)


def test_markdown_lines_name_the_status_the_drift_and_the_realised_wape(
    monitored: dict[str, Any],
) -> None:
    check = monitored["realised"]["check"]
    lines = rm.markdown_lines(monitored["quality"], monitored["drift"], monitored["realised"])
    assert len(lines) == 3
    assert lines[0].startswith("- Data quality: **warn** · null\\_rate.revenue (warn), ")
    assert "new\\_categories (warn)" in lines[0]
    max_psi = monitored["drift"]["summary"]["max_psi"]
    assert lines[1].startswith(f"- Drift: **alert** · max PSI {max_psi:.3f} at ")
    assert lines[1].endswith(" · alerts: lag\\_1")
    assert lines[2] == (
        f"- Realised WAPE {check['realised_wape']:.1%} vs backtest 8.0% (latest 7 runs, "
        f"{check['pairs']} pairs): **degraded**"
    )
    few = realised_json(runs=2, min_points=500)
    assert rm.markdown_lines(None, None, few)[2] == "- Realised accuracy: not judged yet (22 pairs)"
    hostile = copy.deepcopy(monitored["drift"])
    hostile["summary"]["max_at"] = HOSTILE_CATEGORY
    assert "\\<img src=x" in rm.markdown_lines(None, hostile, None)[1]
