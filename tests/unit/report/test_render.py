"""The run report: pure rendering, the Prefect summaries, and the page in headless Chromium."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import math
import os
import re
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import polars as pl
import pytest

from tasks.data.schemas import QUARANTINE_REASONS
from tasks.model.gate import gate
from tasks.model.metrics import score_by, score_methods
from tasks.report import render as report
from tests.support import browser as chromium
from tests.support import monitoring

KEYS = ["region", "product_type"]
START = dt.date(2024, 1, 1)
DAYS = 150
HORIZON = 14
WINDOWS = 3
STAMP = dt.datetime(2026, 11, 24, 10, 55, 17, tzinfo=dt.UTC)
CHOSEN = {"region": "south", "product_type": "toys"}
HOSTILE = "<script>alert('x')</script> & \"rollback\""


MONITORING_SECTIONS = ("realised", "monitoring-quality", "drift")
NOT_YET = (
    "No data-quality checks were recorded for this run.",
    "no reference profile yet (first champion)",
    "No published forecasts have been realised yet",
)


def _history() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    bases = {"north": 900.0, "south": 400.0, "east": 650.0}
    scale = {"grocery": 1.6, "toys": 0.5}
    for region, base in bases.items():
        for product, s in scale.items():
            for t in range(DAYS):
                weekly = 1 + 0.3 * math.sin(2 * math.pi * t / 7)
                value = base * s * weekly * (1 + 0.002 * t) * rng.lognormal(0, 0.08)
                rows.append((region, product, START + dt.timedelta(days=t), round(value, 2)))
    return pl.DataFrame(
        rows,
        schema={
            "region": pl.String,
            "product_type": pl.String,
            "date": pl.Date,
            "revenue": pl.Float64,
        },
        orient="row",
    )


def _backtest(history: pl.DataFrame) -> pl.DataFrame:
    rng = np.random.default_rng(11)
    frames = []
    for k in range(WINDOWS):
        origin = START + dt.timedelta(days=DAYS - (WINDOWS - k) * HORIZON)
        past = history.filter(pl.col("date") < origin)
        window = history.filter(
            (pl.col("date") >= origin) & (pl.col("date") < origin + dt.timedelta(days=HORIZON))
        )
        lagged = history.select(
            *KEYS,
            (pl.col("date") + dt.timedelta(days=7)).alias("date"),
            pl.col("revenue").alias("seasonal_naive"),
        )
        average = (
            past.sort("date")
            .group_by(KEYS)
            .tail(HORIZON)
            .group_by(KEYS)
            .agg(pl.col("revenue").mean().alias("moving_average"))
        )
        frames.append(
            window.with_columns(
                pl.lit(origin).alias("origin"),
                ((pl.col("date") - pl.lit(origin)).dt.total_days() + 1)
                .cast(pl.Int32)
                .alias("step"),
                pl.col("revenue").alias("actual"),
                (pl.col("revenue") * pl.Series(rng.normal(1.0, 0.07, window.height))).alias(
                    "model"
                ),
            )
            .join(lagged, on=[*KEYS, "date"], how="left")
            .join(average, on=KEYS, how="left")
            .drop("revenue")
        )
    return pl.concat(frames).sort("origin", *KEYS, "date")


def _metrics(backtest: pl.DataFrame) -> dict[str, Any]:
    metrics: dict[str, Any] = {
        "backtest": score_methods(backtest),
        "per_horizon": score_by(backtest, "step"),
        "per_segment": score_by(
            backtest.with_columns(pl.col("region").alias("segment")), "segment"
        ),
        "per_window": score_by(backtest, "origin"),
        "windows": {
            "origins": [o.isoformat() for o in backtest["origin"].unique().sort().to_list()],
            "horizon": HORIZON,
        },
    }
    metrics["gate"] = gate(metrics, 0.05, {"version": "v3", "metrics": metrics}, 0.05)
    return metrics


def _forecasts(history: pl.DataFrame) -> pl.DataFrame:
    """Next ``HORIZON`` days: each series' last week repeated, 2% up."""
    rows = []
    for (region, product), group in history.sort("date").group_by(KEYS, maintain_order=True):
        last_week = group.tail(7)
        last = last_week["date"][-1]
        for h in range(1, HORIZON + 1):
            value = last_week["revenue"][(h - 1) % 7] * 1.02
            rows.append((region, product, last + dt.timedelta(days=h), value))
    return pl.DataFrame(rows, schema=_history().schema, orient="row").rename(
        {"revenue": "forecast"}
    )


def make_inputs(**changes: Any) -> report.ReportInputs:
    """A complete, realistic report input: 6 daily series, 3 backtest windows of 14 days,
    and the monitoring results (quality warnings, drift alert, degraded realised accuracy).
    """
    history = _history()
    backtest = _backtest(history)
    metrics = _metrics(backtest)
    reasons = dict.fromkeys(QUARANTINE_REASONS, 0) | {
        "duplicate": 549,
        "missing_key": 40,
        "negative_revenue": 537,
        "null_revenue": 369,
        "unknown_category": 311,
    }
    inputs = report.ReportInputs(
        run_id="20261124T105517Z-bb7d83a0",
        generated_at=STAMP,
        series_keys=KEYS,
        history=history,
        backtest=backtest,
        forecasts=_forecasts(history),
        metrics=metrics,
        feature_importance={f"lag_{i}": 1000.0 / i for i in range(1, 21)} | {"promo": 0.0},
        row_counts={
            "ingest": {"files": 730},
            "clean": {
                "rows_in": 172845,
                "rows_kept": 171039,
                "rows_quarantined": 1806,
                "rows_repaired": 363,
                "rows_late": 1389,
                "daily_rows": 17374,
                **reasons,
            },
            "aggregate": {"rows": history.height, "series": 6, "periods_filled": 12},
        },
        champion_history=[
            {
                "time": "2026-11-01T06:00:00+00:00",
                "event": "promoted",
                "version": "v2",
                "actor": "flow run 1a2b",
                "reason": "gate passed",
            },
            {
                "time": "2026-11-20T06:00:00+00:00",
                "event": "promoted",
                "version": "v3",
                "actor": "flow run 9f8e",
                "reason": "gate passed",
            },
            {
                "time": "2026-11-22T09:12:00+00:00",
                "event": "rolled back",
                "version": "v2",
                "actor": "alice",
                "reason": HOSTILE,
            },
        ],
        chosen_series=CHOSEN,
        top_n=3,
        model_version="v4",
        serving="champion v2",
        **monitoring.monitoring_inputs(metrics),
    )
    return dataclasses.replace(inputs, **changes)


def without_monitoring(inputs: report.ReportInputs) -> report.ReportInputs:
    """As a run without monitoring results (first run, or monitoring off)."""
    return dataclasses.replace(inputs, quality=None, drift=None, realised=None)


@pytest.fixture(scope="module")
def inputs() -> report.ReportInputs:
    return make_inputs()


@pytest.fixture(scope="module")
def page(inputs: report.ReportInputs) -> str:
    return report.render_report(inputs)


# ---------------------------------------------------------------- the HTML text


def test_report_is_self_contained(page: str) -> None:
    links = re.findall(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", page, flags=re.I)
    assert links
    assert not [u for u in links if re.match(r"\s*(https?:)?//", u, flags=re.I)]
    images = re.findall(r'<img src="([^"]+)"', page)
    assert len(images) == 8  # 4 series, horizon, segment, realised accuracy, feature importance
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert not re.search(r"<script|<link|@import|url\(|<iframe", page, flags=re.I)
    assert "Content-Security-Policy" in page


def test_report_has_every_section_and_the_date_stamp(
    page: str, inputs: report.ReportInputs
) -> None:
    for key in report.SECTIONS:
        assert f'<section id="{key}">' in page
    assert "<title>Sales forecast report 2026-11-24 · 20261124T105517Z-bb7d83a0</title>" in page
    assert '<time datetime="2026-11-24">2026-11-24</time>' in page
    assert "generated 2026-11-24 10:55 UTC" in page
    assert page.index("south / toys <span") < page.index("north / grocery <span")
    assert "chosen series" in page
    assert "top 3 by revenue" in page
    for reason in QUARANTINE_REASONS:
        assert f"<td>{reason}</td>" in page
    assert '<td class="num">549</td>' in page  # duplicates
    assert "Rows reconcile: 172,845 in = 171,039 kept + 1,806 quarantined." in page
    assert "model WAPE 0.0496 beats the best baseline, seasonal naive (WAPE 0.0854)" in page
    assert "The gate compared with the best baseline of this run: seasonal naive" in page
    assert "champion v2" in page
    assert "rolled back" in page


def test_report_escapes_text(page: str) -> None:
    assert HOSTILE not in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;rollback&quot;" in page
    assert monitoring.HOSTILE_CATEGORY not in page  # a category name in quality, drift, realised
    assert page.count(monitoring.ESCAPED_CATEGORY) >= 4


def _sections(page: str) -> dict[str, str]:
    return dict(re.findall(r'<section id="([^"]+)">(.*?)</section>', page, flags=re.S))


def test_sections_and_navigation_follow_the_section_order(page: str) -> None:
    assert list(_sections(page)) == list(report.SECTIONS)
    nav = page[page.index("<nav>") : page.index("</nav>")]
    assert re.findall(r'<a href="#([^"]+)">', nav) == list(report.SECTIONS)
    assert set(MONITORING_SECTIONS) <= set(report.SECTIONS)


def test_monitoring_sections_show_the_run_results(page: str) -> None:
    sections = _sections(page)
    assert 'Status <span class="badge warn">warn</span>' in sections["monitoring-quality"]
    assert "<td>null_rate.revenue</td>" in sections["monitoring-quality"]
    assert 'Level <span class="badge fail">alert</span>' in sections["drift"]
    assert "<td>training profile of model v3</td>" in sections["drift"]
    realised = sections["realised"]
    assert '<span class="badge fail">degraded</span> Degraded: realised WAPE' in realised
    assert "backtest WAPE 5.0%" in realised  # metrics.json's model WAPE, 0.0496
    assert realised.count("<img ") == 1


def test_report_without_monitoring_only_adds_the_not_yet_notes(
    page: str, inputs: report.ReportInputs
) -> None:
    """No quality, drift or realised results: every other section is exactly as with them."""
    bare = report.render_report(without_monitoring(inputs))
    assert bare.count("<img ") == 7
    full, parts = _sections(page), _sections(bare)
    assert list(parts) == list(report.SECTIONS)
    for key in report.SECTIONS:
        if key not in MONITORING_SECTIONS:
            assert parts[key] == full[key], key
    notes = dict(zip(("monitoring-quality", "drift", "realised"), NOT_YET, strict=True))
    for key, text in notes.items():
        assert text in parts[key]
        assert "<table" not in parts[key]
        assert "<img" not in parts[key]

    def outside(text: str) -> str:
        return re.sub(r'<section id="(realised|monitoring-quality|drift)">.*?</section>', "", text)

    assert outside(bare) == outside(page)


def _without_stamp(text: str, when: dt.datetime) -> str:
    day, moment = report.stamp(when)
    return text.replace(moment, "<MOMENT>").replace(day, "<DAY>")


def test_rendering_is_deterministic_apart_from_the_stamp(
    page: str, inputs: report.ReportInputs
) -> None:
    """A second, independent render (new frames, new figures) differs only in the stamp."""
    later = STAMP + dt.timedelta(days=3, hours=5)
    other = report.render_report(dataclasses.replace(make_inputs(), generated_at=later))
    assert other != page
    assert _without_stamp(other, later) == _without_stamp(page, STAMP)
    assert _without_stamp(page, STAMP).count("<DAY>") == 3  # <title>, <time datetime> and text
    assert _without_stamp(page, STAMP).count("<MOMENT>") == 2  # header and footer


def test_stamp_is_utc_when_aware_and_as_given_when_naive() -> None:
    cest = dt.timezone(dt.timedelta(hours=2))
    assert report.stamp(dt.datetime(2026, 11, 25, 1, 30, tzinfo=cest)) == (
        "2026-11-24",
        "2026-11-24 23:30 UTC",
    )
    assert report.stamp(dt.datetime(2026, 11, 25, 1, 30)) == ("2026-11-25", "2026-11-25 01:30")


def test_plotted_series_puts_the_chosen_one_first_then_the_top_by_revenue(
    inputs: report.ReportInputs,
) -> None:
    series, notes = report.plotted_series(inputs)
    assert notes == []
    assert series == [
        (CHOSEN, "chosen series"),
        ({"region": "north", "product_type": "grocery"}, "top 1 by revenue"),
        ({"region": "east", "product_type": "grocery"}, "top 2 by revenue"),
        ({"region": "south", "product_type": "grocery"}, "top 3 by revenue"),
    ]
    top = {"region": "north", "product_type": "grocery"}
    again, _ = report.plotted_series(dataclasses.replace(inputs, chosen_series=top, top_n=2))
    assert [why for _, why in again] == ["chosen series", "top 2 by revenue", "top 3 by revenue"]
    none, _ = report.plotted_series(dataclasses.replace(inputs, chosen_series=None, top_n=1))
    assert none == [(top, "top 1 by revenue")]


@pytest.mark.parametrize(
    ("chosen", "note"),
    [
        ({"region": "west", "product_type": "toys"}, "west / toys is not in the data"),
        ({"region": "south"}, "must give a value for exactly the series keys"),
        ({"region": "south", "product_type": "toys", "store": "S1"}, "exactly the series keys"),
    ],
)
def test_a_chosen_series_that_cannot_be_shown_is_noted(
    inputs: report.ReportInputs, chosen: dict[str, str], note: str
) -> None:
    series, notes = report.plotted_series(dataclasses.replace(inputs, chosen_series=chosen))
    assert [why for _, why in series] == [f"top {k} by revenue" for k in (1, 2, 3)]
    assert len(notes) == 1
    assert note in notes[0]


def test_the_note_on_a_missing_chosen_series_is_in_the_report(
    inputs: report.ReportInputs,
) -> None:
    missing = {"region": "west", "product_type": "toys"}
    page = report.render_report(dataclasses.replace(inputs, chosen_series=missing, top_n=1))
    assert "chosen series west / toys is not in the data; not shown" in page
    assert page.count("by revenue</span>") == 1


def test_report_renders_with_sparse_inputs(inputs: report.ReportInputs) -> None:
    undefined = {"wape": None, "mae": None, "rmse": None, "bias": None, "n": 0}
    sparse = dataclasses.replace(
        inputs,
        backtest=inputs.backtest.clear(),
        forecasts=inputs.forecasts.clear(),
        metrics={
            "backtest": dict.fromkeys(("model", "seasonal_naive", "moving_average"), undefined),
            "gate": {"passed": False, "reasons": ["backtest WAPE is undefined"]},
        },
        feature_importance={},
        row_counts={},
        champion_history=[],
        chosen_series=None,
        model_version=None,
        serving="challenger",
        quality=None,
        drift=None,
        realised=None,
    )
    page = report.render_report(sparse)
    assert page.count("<img ") == 3
    for text in NOT_YET:
        assert text in page
    assert "No champion events yet" in page
    assert "No feature importance recorded." in page
    assert "Row counts not recorded." in page
    assert "backtest WAPE is undefined" in page
    assert "not registered" in page
    assert ">failed</span>" in page
    assert report.segment_table(sparse) == []
    assert "**Gate: failed**" in report.markdown_summary(sparse)


def test_report_draws_nulls_as_gaps(inputs: report.ReportInputs) -> None:
    """Null revenue (``missing_periods=null``) and missing baselines do not break the plots."""
    gaps = dataclasses.replace(
        without_monitoring(inputs),
        history=inputs.history.with_columns(
            pl.when(pl.col("date").dt.day() == 3).then(None).otherwise("revenue").alias("revenue")
        ),
        backtest=inputs.backtest.with_columns(pl.lit(None, pl.Float64).alias("seasonal_naive")),
        chosen_series=None,
        top_n=1,
    )
    page = report.render_report(gaps)
    assert page.count("data:image/png;base64,") == 4


# ---------------------------------------------------------------- Prefect artifacts


def test_markdown_summary_has_the_headline_numbers(inputs: report.ReportInputs) -> None:
    text = report.markdown_summary(inputs)
    backtest = inputs.metrics["backtest"]
    assert text.startswith("## Sales forecast run 20261124T105517Z-bb7d83a0\n")
    assert "**Gate: passed**" in text
    assert "- model WAPE 0.0496 beats the best baseline, seasonal naive (WAPE 0.0854)" in text
    assert "serving champion v2" in text
    assert "model version v4" in text
    head, coming = text.split("**Coming forecast**")
    rows = {line.split("|")[1].strip(): line for line in head.splitlines() if line.startswith("| ")}
    assert set(rows) == {"method", "model", "seasonal naive", "moving average"}
    assert [
        line.split("|")[1].strip() for line in coming.splitlines() if line.startswith("| ")
    ] == [
        "product\\_type",
        "grocery",
        "toys",
        "total",
    ]
    assert f"| {backtest['model']['wape']:.1%} | 42.0% better |" in rows["model"]
    assert f"| {backtest['seasonal_naive']['wape']:.1%} |" in rows["seasonal naive"]
    assert f"| {backtest['moving_average']['wape']:.1%} |" in rows["moving average"]
    assert "Rows in 172,845 · kept 171,039 · quarantined 1,806" in text
    assert "duplicate 549" in text
    assert "missing\\_key 40" in text
    assert "missing\\_date" not in text  # zero counts are left out
    check = inputs.realised["check"] if inputs.realised else {}
    assert "\n- Data quality: **warn** · null\\_rate.revenue (warn), " in text
    assert "\n- Drift: **alert** · max PSI " in text
    assert (
        f"\n- Realised WAPE {check['realised_wape']:.1%} vs backtest 5.0% (latest 7 runs, "
        f"{check['pairs']} pairs): **degraded**\n"
    ) in text
    assert "Report" not in text
    linked = report.markdown_summary(
        inputs, report_uri="file:///out/runs/2026-11-24/r_1/report.html"
    )
    assert linked.endswith("Report (2026-11-24): `file:///out/runs/2026-11-24/r_1/report.html`\n")


def test_markdown_summary_escapes_text(inputs: report.ReportInputs) -> None:
    text = report.markdown_summary(dataclasses.replace(inputs, run_id="a|b_<c>"))
    assert "a\\|b\\_\\<c\\>" in text


def test_segment_table_has_one_flat_row_per_segment(inputs: report.ReportInputs) -> None:
    rows = report.segment_table(inputs)
    per_segment = inputs.metrics["per_segment"]
    assert [r["segment"] for r in rows] == ["east", "north", "south"]
    for row, entry in zip(rows, per_segment, strict=True):
        assert set(row) == {
            "segment",
            "rows",
            "model_wape",
            "seasonal_naive_wape",
            "moving_average_wape",
            "model_mae",
            "model_rmse",
            "model_bias",
            "wape_gain_vs_seasonal_naive",
        }
        assert row["rows"] == entry["model"]["n"]
        assert row["model_wape"] == round(entry["model"]["wape"], 4)
        assert row["seasonal_naive_wape"] == round(entry["seasonal_naive"]["wape"], 4)
        gain = 1 - entry["model"]["wape"] / entry["seasonal_naive"]["wape"]
        assert row["wape_gain_vs_seasonal_naive"] == pytest.approx(gain, abs=1e-4)
    json.dumps(rows)  # a Prefect table artifact must serialise


# ---------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def browser() -> ModuleType:
    """The Chromium driver; skipped without ``/usr/bin/chromium`` unless ``CI`` is set."""
    module = chromium
    if not Path(module.CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{module.CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{module.CHROMIUM} is not installed (apt-get install chromium)")
    return module


def test_report_loads_in_chromium_without_errors_and_shows_its_images(
    browser: ModuleType, page: str, tmp_path: Path
) -> None:
    path = tmp_path / "report.html"
    path.write_text(page, encoding="utf-8")
    shot = tmp_path / "report.png"
    started = time.monotonic()
    loaded = browser.check_page(path, screenshot=shot)
    assert time.monotonic() - started < 60
    assert loaded.errors == []
    assert loaded.requests == []
    assert len(loaded.images) == 8
    assert loaded.images_ok == 8, loaded.images
    assert all(i["naturalWidth"] > 300 and i["naturalHeight"] > 100 for i in loaded.images)
    assert loaded.sections == list(report.SECTIONS)
    assert loaded.title.startswith("Sales forecast report 2026-11-24")
    assert "Sales forecast report — 2026-11-24" in loaded.text
    assert HOSTILE in loaded.text  # shown as text, not run
    assert monitoring.HOSTILE_CATEGORY in loaded.text  # not an <img> either
    assert "Degraded: realised WAPE" in loaded.text
    assert "Level ALERT" in loaded.text  # drift (badges are upper-cased by CSS)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert loaded.height > 2000


def test_chromium_check_catches_broken_images_and_external_urls(
    browser: ModuleType, page: str, tmp_path: Path
) -> None:
    broken = page.replace(
        "<main>",
        '<main><img src="data:image/png;base64,AAAA" alt="broken">'
        '<img src="https://example.invalid/x.png" alt="external">',
        1,
    )
    path = tmp_path / "broken.html"
    path.write_text(broken, encoding="utf-8")
    loaded = browser.check_page(path)
    assert loaded.images_ok == 8
    assert len(loaded.images) == 10
    assert any("Content Security Policy" in e for e in loaded.errors), loaded.errors
