"""Monitoring sections of the run report: data-quality checks, drift and realised accuracy.

Pure, like :mod:`tasks.report.render`: each section takes the dict the monitoring step produced
(``quality.json`` from :func:`tasks.monitoring.quality.quality_report`, ``drift.json`` from
:func:`tasks.monitoring.drift.psi_against`, ``{"metrics": ..., "check": ...}`` from
:func:`tasks.monitoring.realised.realised_metrics` and
:func:`tasks.monitoring.realised.accuracy_check`), or
``None`` when there is nothing yet, and returns HTML. :func:`markdown_lines` gives one
Markdown line per topic for the run summary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from tasks.report import figures
from tasks.report.format import (
    esc,
    figure,
    level_badge,
    level_row,
    md,
    note,
    num,
    pct,
    section,
    table,
)

SECTIONS = {
    "realised": "Realised accuracy",
    "monitoring-quality": "Data-quality checks",
    "drift": "Drift",
}
MAX_LISTED = 10  # new / vanished names and coverage gaps shown per row
WORST_SEGMENTS = 10  # segment × column PSI rows shown
LATEST_ORIGINS = 10  # forecast origins listed under the realised-accuracy plot
SEVERITY = {"breach": 3, "alert": 3, "warn": 2, "insufficient": 1}
NO_QUALITY = "No data-quality checks were recorded for this run."
NO_REFERENCE = (
    "There is no reference profile yet (first champion): drift is measured against the "
    "training profile of the champion model once one has been promoted."
)
NOT_REALISED = (
    "No published forecasts have been realised yet: a forecast is scored once the actuals "
    "of its dates have arrived."
)


def _section(key: str, body: str, intro: str = "") -> str:
    return section(key, SECTIONS[key], body, intro)


def _listed(names: Sequence[object], total: int, cap: int = MAX_LISTED) -> str:
    """``3: a, b, c`` (``… and 5 more`` past ``cap``); ``none`` when there are none."""
    if total <= 0:
        return "none"
    shown = [str(n) for n in names[:cap]]
    more = total - len(shown)
    return f"{total}: " + ", ".join(shown) + (f" … and {more} more" if more > 0 else "")


def _severity(level: object) -> int:
    return SEVERITY.get(str(level), 0)


# ---------------------------------------------------------------- data quality


def _is_share(check_name: str) -> bool:
    return "rate" in check_name or check_name.startswith("volume_")


def check_value(check_name: str, value: object, missing: str = "n/a") -> str:
    """A check's value or threshold: rates as percentages, counts as integers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return missing
    if _is_share(check_name):
        return pct(value, decimals=2)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:.4g}"


def _checks_table(checks: list[dict[str, Any]]) -> str:
    ordered = sorted(checks, key=lambda c: -_severity(c.get("level")))  # stable: worst first
    rows = [
        [
            str(c.get("name")),
            check_value(str(c.get("name")), c.get("value")),
            check_value(str(c.get("name")), c.get("warn"), "off"),
            check_value(str(c.get("name")), c.get("hard"), "off"),
            level_badge(c.get("level", "ok")),
            str(c.get("message", "")),
        ]
        for c in ordered
    ]
    return table(
        ["check", "value", "warn above", "hard above", "level", "message"],
        rows,
        numeric_to=4,
        row_class=[level_row(c.get("level")) for c in ordered],
    )


def _nulls_table(quality: dict[str, Any], levels: dict[str, str]) -> str:
    rates: dict[str, Any] = quality.get("null_rates") or {}
    if not rates:
        return note("Null counts not recorded.")
    rows_in = (quality.get("rows") or {}).get("rows_in")
    rows = [
        [
            col,
            pct(r, decimals=2),
            num(round(r * rows_in)) if isinstance(r, float) and isinstance(rows_in, int) else "—",
        ]
        for col, r in rates.items()
    ]
    classes = [level_row(levels.get(f"null_rate.{col}")) for col in rates]
    return table(["column", "null or blank", "rows"], rows, row_class=classes)


def _diff_row(label: str, diff: dict[str, Any]) -> list[object]:
    return [
        label,
        num(diff.get("count")),
        _listed(diff.get("new") or [], int(diff.get("n_new", 0))),
        _listed(diff.get("vanished") or [], int(diff.get("n_vanished", 0))),
    ]


def _series_table(quality: dict[str, Any]) -> str:
    diffs: list[tuple[str, dict[str, Any]]] = []
    if quality.get("series"):
        diffs.append(("series", quality["series"]))
    diffs += list((quality.get("categories") or {}).items())
    if not diffs:
        return note("Series and categories not recorded.")
    changed = ["lv-warn" if d.get("n_new") or d.get("n_vanished") else "" for _, d in diffs]
    return table(
        ["", "now", "new", "vanished"],
        [_diff_row(label, d) for label, d in diffs],
        numeric_to=2,
        row_class=changed,
    )


def _coverage_table(quality: dict[str, Any]) -> str:
    dates = quality.get("dates") or {}
    volume = quality.get("volume") or {}
    gaps = dates.get("coverage_gaps") or []
    median, runs = volume.get("trailing_median"), volume.get("trailing_runs")
    facts: list[list[object]] = [
        ["dates", f"{dates.get('first', '—')} → {dates.get('last', '—')}"],
        ["periods", num(dates.get("periods"))],
        ["coverage gaps (no sales at all)", _listed(gaps, len(gaps))],
        ["panel periods filled in", pct(dates.get("filled_rate"), decimals=2)],
        ["rows in", num(volume.get("rows_in"))],
        [
            "trailing median of rows in",
            f"{num(median)} (last {runs} runs)" if median is not None else "no earlier run",
        ],
        ["volume vs trailing median", pct(volume.get("change"), signed=True)],
        ["exact duplicates", num((quality.get("duplicates") or {}).get("rows"))],
        ["late rows (kept)", num((quality.get("late") or {}).get("rows"))],
    ]
    return table(None, facts, numeric_from=9)


def quality_section(quality: dict[str, Any] | None) -> str:
    """Every check with its value, thresholds and level (warnings and breaches first and
    highlighted), null rates, new and vanished series and categories, coverage and volume.
    """
    if not quality:
        return _section("monitoring-quality", note(NO_QUALITY))
    checks: list[dict[str, Any]] = list(quality.get("checks") or [])
    levels = {str(c.get("name")): str(c.get("level")) for c in checks}
    counts = {lv: sum(1 for c in checks if c.get("level") == lv) for lv in ("warn", "breach")}
    compared = quality.get("compared_with_run")
    intro = f"Status {level_badge(quality.get('status', 'ok'))} · " + esc(
        f"{len(checks)} checks: {counts['breach']} above the hard level, "
        f"{counts['warn']} above the warn level · "
        + (f"compared with run {compared}" if compared else "no earlier run to compare with")
    )
    blocks = [
        f"<div><h3>Null rates (raw rows)</h3>{_nulls_table(quality, levels)}</div>",
        f"<div><h3>Series and categories</h3>{_series_table(quality)}</div>",
        f"<div><h3>Coverage and volume</h3>{_coverage_table(quality)}</div>",
    ]
    body = (
        _checks_table(checks) if checks else note("No checks recorded.")
    ) + f'<div class="grid">{"".join(blocks)}</div>'
    return _section("monitoring-quality", body, intro)


# ---------------------------------------------------------------- drift


def _psi(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "—"


def _by_psi(item: tuple[Any, dict[str, Any]]) -> tuple[int, float]:
    value = item[1].get("psi")
    return (0, -float(value)) if isinstance(value, int | float) else (1, 0.0)


def _columns_table(drift: dict[str, Any]) -> str:
    columns: dict[str, Any] = (drift.get("overall") or {}).get("columns") or {}
    if not columns:
        return note("No columns scored.")
    target = drift.get("target")
    ordered = sorted(columns.items(), key=_by_psi)
    rows = [
        [
            f"{name} (target)" if name == target else name,
            str(col.get("kind", "")),
            _psi(col.get("psi")),
            pct(col.get("null_rise"), signed=True),
            level_badge(col.get("level", "ok")),
        ]
        for name, col in ordered
    ]
    classes = [level_row(col.get("level")) for _, col in ordered]
    return table(
        ["column", "kind", "PSI", "null share change", "level"],
        rows,
        numeric_from=2,
        numeric_to=4,
        row_class=classes,
    )


def _segments_table(drift: dict[str, Any]) -> str:
    scored = [
        (segment, name, col)
        for segment, part in (drift.get("segments") or {}).items()
        for name, col in (part.get("columns") or {}).items()
        if isinstance(col.get("psi"), int | float)
    ]
    if not scored:
        return note("No segment had enough rows to be judged.")
    worst = sorted(scored, key=lambda s: (-float(s[2]["psi"]), s[0], s[1]))[:WORST_SEGMENTS]
    rows = [
        [
            seg,
            name,
            _psi(col["psi"]),
            pct(col.get("null_rise"), signed=True),
            level_badge(col.get("level", "ok")),
        ]
        for seg, name, col in worst
    ]
    shown = f"Largest {len(worst)} of {len(scored)} segment × column scores."
    return note(shown) + table(
        ["segment", "column", "PSI", "null share change", "level"],
        rows,
        numeric_from=2,
        numeric_to=4,
        row_class=[level_row(col.get("level")) for _, _, col in worst],
    )


def _segment_notes(drift: dict[str, Any]) -> list[str]:
    summary = drift.get("summary") or {}
    level = summary.get("segment_level", "—")
    first = (
        f"Worst segment level: {level} (segments count towards the drift level only when "
        "monitoring.drift.alert_on_segments is set)."
    )
    out = [first]
    for key, words in (
        ("new_segments", "new segments (not in the reference)"),
        ("missing_segments", "segments with no current rows"),
    ):
        names = summary.get(key) or []
        if names:
            out.append(f"{words.capitalize()}: {_listed(names, len(names))}.")
    thin = [
        seg
        for seg, part in (drift.get("segments") or {}).items()
        if part.get("rows")
        and part.get("columns")
        and all(c.get("level") == "insufficient" for c in part["columns"].values())
    ]
    if thin:
        min_rows = (drift.get("thresholds") or {}).get("min_rows")
        out.append(
            f"Not judged (fewer than {num(min_rows)} current rows): {_listed(thin, len(thin))}."
        )
    return out


def _windows_table(drift: dict[str, Any]) -> str:
    ref, now = drift.get("reference") or {}, drift.get("current") or {}
    rows = [
        [
            "data",
            f"training profile of model {ref.get('model_version') or 'version not recorded'}",
            "latest periods of this run",
        ],
        ["first date", str(ref.get("first_date") or "—"), str(now.get("first_date") or "—")],
        ["last date", str(ref.get("last_date") or "—"), str(now.get("last_date") or "—")],
        ["rows", num(ref.get("rows")), num(now.get("rows"))],
    ]
    return table(["", "reference", "current window"], rows, numeric_from=9)


def drift_section(drift: dict[str, Any] | None) -> str:
    """PSI per column overall (worst first), the worst segments, and the reference window
    against the current one; a note when there is no reference profile yet.
    """
    if drift is None:
        return _section("drift", note(NO_REFERENCE))
    summary = drift.get("summary") or {}
    limits = drift.get("thresholds") or {}
    worst = summary.get("max_at")
    intro = f"Level {level_badge(summary.get('level', 'ok'))} · " + esc(
        f"population stability index (PSI) against the reference: warn above "
        f"{_psi(limits.get('warn'))}, alert above {_psi(limits.get('alert'))}; "
        f"columns or segments with fewer than {num(limits.get('min_rows'))} current rows "
        "are insufficient (not judged)."
        + (f" Largest PSI {_psi(summary.get('max_psi'))} at {worst}." if worst else "")
    )
    blocks = [
        f"<div><h3>Overall, per column</h3>{_columns_table(drift)}</div>",
        f"<div><h3>Reference vs current window</h3>{_windows_table(drift)}</div>",
    ]
    segments = (
        "<h3>Worst segments</h3>"
        + _segments_table(drift)
        + "".join(note(n) for n in _segment_notes(drift))
    )
    return _section("drift", f'<div class="grid">{"".join(blocks)}</div>{segments}', intro)


# ---------------------------------------------------------------- realised accuracy


def _limit(check: dict[str, Any]) -> float | None:
    backtest, margin = check.get("backtest_wape"), check.get("margin")
    if isinstance(backtest, int | float) and isinstance(margin, int | float):
        return float(backtest) * (1 + float(margin))
    return None


def verdict(check: dict[str, Any]) -> tuple[str, str]:
    """The accuracy check in words: ``(level, sentence)``, level ``ok``, ``degraded`` or
    ``not judged``.
    """
    pairs, runs = num(check.get("pairs")), num(check.get("runs"))
    realised, backtest = pct(check.get("realised_wape")), pct(check.get("backtest_wape"))
    window = f"the forecasts of the latest {runs} runs ({pairs} realised pairs)"
    if not check.get("judged"):
        return "not judged", f"Not judged yet: {window} are too few to compare with the backtest."
    limit = _limit(check)
    margin = pct(check.get("margin"), decimals=0)
    if check.get("degraded"):
        level = "degraded"
        text = (
            f"Degraded: realised WAPE {realised} of {window} is worse than the backtest WAPE "
            f"{backtest} by more than the {margin} margin (limit {pct(limit)})."
        )
    elif limit is None:
        level, text = "ok", f"Realised WAPE {realised} of {window}; no backtest WAPE to compare."
    else:
        level = "ok"
        text = (
            f"As expected: realised WAPE {realised} of {window} is within the {margin} margin "
            f"of the backtest WAPE {backtest} (degraded above {pct(limit)})."
        )
    bias = check.get("realised_bias")
    if isinstance(bias, int | float) and bias:
        text += (
            f" Realised bias {pct(bias, signed=True)} ({'over' if bias > 0 else 'under'}-forecast)."
        )
    steps = check.get("degraded_steps") or []
    if steps:
        text += " Degraded horizon steps: " + ", ".join(str(s) for s in steps) + "."
    return level, text


def _origin(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _over_time_figure(over_time: list[dict[str, Any]], check: dict[str, Any]) -> str:
    points = [(d, r) for r in over_time if (d := _origin(r.get("origin"))) is not None]
    if not points:
        return note("No realised forecast origins to plot.")
    image = figures.realised_plot(
        [d for d, _ in points],
        [r.get("wape") for _, r in points],
        [r.get("bias") for _, r in points],
        check.get("backtest_wape"),
        _limit(check),
    )
    caption = (
        "Realised WAPE and bias by forecast origin (all realised pairs of each run); "
        "dashed: backtest WAPE, dotted: degraded above"
    )
    return figure(image, caption)


def _steps_table(metrics: dict[str, Any], check: dict[str, Any], backtest: dict[str, Any]) -> str:
    per_step = metrics.get("per_step") or []
    if not per_step:
        return note("No realised horizon steps.")
    by_step = {
        int(r["step"]): (r.get("model") or {}).get("wape")
        for r in backtest.get("per_horizon") or []
    }
    judged = {int(r["step"]): r for r in check.get("per_step") or []}
    rows, classes = [], []
    for r in per_step:
        step = int(r["step"])
        recent = judged.get(step)
        level = "not judged" if recent is None else "degraded" if recent.get("degraded") else "ok"
        rows.append(
            [
                str(step),
                num(r.get("n")),
                pct(r.get("wape")),
                pct(r.get("bias"), signed=True),
                num(r.get("rmse")),
                pct(recent.get("wape")) if recent else "—",
                pct(by_step.get(step)),
                level_badge(level),
            ]
        )
        classes.append(level_row(level))
    return table(
        ["step", "pairs", "WAPE", "bias", "RMSE", "latest runs WAPE", "backtest WAPE", "judged"],
        rows,
        numeric_to=7,
        row_class=classes,
    )


def _segment_rows(metrics: dict[str, Any]) -> str:
    per_segment = metrics.get("per_segment") or []
    if not per_segment:
        return ""
    scores = {"wape", "bias", "rmse", "n"}
    rows = [
        [
            " / ".join(f"{k}={v}" for k, v in r.items() if k not in scores),
            num(r.get("n")),
            pct(r.get("wape")),
            pct(r.get("bias"), signed=True),
        ]
        for r in per_segment
    ]
    rows.sort(key=lambda row: row[0])
    return (
        "<div><h3>Per segment</h3>" + table(["segment", "pairs", "WAPE", "bias"], rows) + "</div>"
    )


def _origins_table(over_time: list[dict[str, Any]]) -> str:
    latest = over_time[-LATEST_ORIGINS:][::-1]
    rows = [
        [
            str(r.get("origin")),
            str(r.get("run_id")),
            num(r.get("n")),
            pct(r.get("wape")),
            pct(r.get("bias"), signed=True),
        ]
        for r in latest
    ]
    head = f"Latest {len(latest)} of {len(over_time)} forecast runs, newest first."
    return (
        "<div><h3>By forecast origin</h3>"
        + note(head)
        + table(["origin", "run", "pairs", "WAPE", "bias"], rows, numeric_from=2)
        + "</div>"
    )


def realised_section(realised: dict[str, Any] | None, backtest: dict[str, Any]) -> str:
    """The accuracy check's verdict, realised WAPE and bias over time against the backtest
    WAPE, and per horizon step, segment and origin. ``backtest`` is ``metrics.json``.
    """
    if not realised:
        return _section("realised", note(NOT_REALISED))
    metrics: dict[str, Any] = realised.get("metrics") or {}
    check: dict[str, Any] = dict(realised.get("check") or {})
    if check.get("backtest_wape") is None:
        check["backtest_wape"] = ((backtest.get("backtest") or {}).get("model") or {}).get("wape")
    level, words = verdict(check)
    overall = metrics.get("overall") or {}
    over_time: list[dict[str, Any]] = list(metrics.get("over_time") or [])
    facts = (
        f"All realised pairs: {num(metrics.get('pairs'))} from {num(metrics.get('origins'))} "
        f"runs; WAPE {pct(overall.get('wape'))}, bias {pct(overall.get('bias'), signed=True)}, "
        f"RMSE {num(overall.get('rmse'))}."
    )
    body = (
        f'<p class="verdict">{level_badge(level)} {esc(words)}</p>'
        + note(facts)
        + _over_time_figure(over_time, check)
        + "<h3>Per horizon step</h3>"
        + _steps_table(metrics, check, backtest)
    )
    extra = [_segment_rows(metrics), _origins_table(over_time) if over_time else ""]
    if any(extra):
        body += f'<div class="grid">{"".join(extra)}</div>'
    intro = (
        "Published forecasts scored against the actuals that arrived since. The check "
        "compares the latest runs' realised WAPE with the backtest WAPE."
    )
    return _section("realised", body, intro)


# ---------------------------------------------------------------- Markdown


def markdown_lines(
    quality: dict[str, Any] | None,
    drift: dict[str, Any] | None,
    realised: dict[str, Any] | None,
) -> list[str]:
    """One Markdown line each: quality status, drift level, realised accuracy."""
    if quality:
        checks = quality.get("checks") or []
        flagged = [c for c in checks if c.get("level") in ("warn", "breach")]
        named = ", ".join(f"{md(c.get('name'))} ({md(c.get('level'))})" for c in flagged)
        quality_line = f"Data quality: **{md(quality.get('status', 'ok'))}**" + (
            f" · {named}" if named else f" · {len(checks)} checks passed"
        )
    else:
        quality_line = "Data quality: no checks recorded"
    if drift is None:
        drift_line = "Drift: no reference profile yet (first champion)"
    else:
        summary = drift.get("summary") or {}
        drift_line = f"Drift: **{md(summary.get('level', 'ok'))}**" + (
            f" · max PSI {_psi(summary.get('max_psi'))} at {md(summary['max_at'])}"
            if summary.get("max_at")
            else ""
        )
        alerts = summary.get("alerts") or []
        if alerts:
            drift_line += " · alerts: " + ", ".join(md(a) for a in alerts)
    check = (realised or {}).get("check") or {}
    if not realised:
        realised_line = "Realised accuracy: no published forecasts have been realised yet"
    elif check.get("judged"):
        level = "degraded" if check.get("degraded") else "ok"
        realised_line = (
            f"Realised WAPE {pct(check.get('realised_wape'))} vs backtest "
            f"{pct(check.get('backtest_wape'))} (latest {num(check.get('runs'))} runs, "
            f"{num(check.get('pairs'))} pairs): **{level}**"
        )
    else:
        realised_line = f"Realised accuracy: not judged yet ({num(check.get('pairs', 0))} pairs)"
    return [f"- {quality_line}", f"- {drift_line}", f"- {realised_line}"]
