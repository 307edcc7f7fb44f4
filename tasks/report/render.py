"""Report: the run's self-contained HTML report, plus Markdown and table summaries for
Prefect artifacts.

Everything here is pure: ``render_report`` returns the HTML text (plots inlined as
base64 PNG, inline CSS, no scripts, no external URL) and the caller writes it. The same
inputs give the same text; only ``generated_at`` (the date stamp) varies between runs.
The building blocks (escaping, tables, badges, stylesheet) are in
:mod:`tasks.report.format`, the monitoring sections (quality checks, drift, realised
accuracy) in :mod:`tasks.report.monitoring_sections` and the plots in :mod:`tasks.report.plots`
(drawn through the cache of :mod:`tasks.report.figures`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tasks.data.schemas import QUARANTINE_REASONS
from tasks.model.metrics import METHODS, score_methods
from tasks.report import figures, image, outlook
from tasks.report import monitoring_sections as monitoring
from tasks.report.format import (
    STYLE,
    Safe,
    badge,
    card,
    esc,
    figure,
    img,
    md,
    num,
    pct,
    section,
    stamp,
    table,
)

TOP_FEATURES = 15
METHOD_LABELS = image.METHOD_LABELS
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'"
SECTIONS = {  # in page order
    "summary": "Summary",
    "forecast": "Coming forecast",
    "series": "Actual vs forecast",
    "accuracy": "Model vs baselines",
    "realised": monitoring.SECTIONS["realised"],
    "features": "Feature importance",
    "data-quality": "Data quality",
    "monitoring-quality": monitoring.SECTIONS["monitoring-quality"],
    "drift": monitoring.SECTIONS["drift"],
    "gate": "Gate decision",
    "champion": "Champion history",
}


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, as the flow holds it in memory (or as read back from a
    run directory: ``metrics.json``, ``manifest.json``, ``backtest.parquet``, ...).

    Attributes
    ----------
    generated_at
        The date stamp shown in the title and header (converted to UTC when aware).
    history
        The panel: series keys, ``date``, ``revenue``.
    backtest
        Backtest rows: series keys, ``date``, ``origin``, ``step``, ``actual`` and one
        column per method (``model``, ``seasonal_naive``, ``moving_average``).
    forecasts
        Series keys, ``date``, ``forecast``.
    metrics
        As ``metrics.json``: ``backtest``, ``per_horizon``, ``per_segment``,
        ``per_window``, ``gate``.
    row_counts
        The manifest's ``row_counts`` (``clean`` holds rows in/kept/quarantined per reason).
    champion_history
        Registry events ``{time, event, version, actor, reason}``, oldest first.
    chosen_series
        One series (a value per series key) always plotted, before the top ``top_n`` by
        revenue.
    serving
        Whose forecasts are served: ``"challenger"`` or ``"champion <version>"``.
    quality
        The run's ``quality.json`` (:func:`tasks.monitoring.quality.quality_report`); ``None``: not
        recorded.
    drift
        ``drift.json`` (:func:`tasks.monitoring.drift.psi_against`); ``None``: no reference
        profile yet.
    realised
        ``{"metrics": realised_metrics(...), "check": accuracy_check(...)}``
        (:mod:`tasks.monitoring.realised`); ``None``: no published forecast realised yet.
    segment_by
        The column the coming forecast is summed by (default: the last series key).
    last_served
        The forecasts served before this run (series keys, ``date``, ``forecast``), for
        the change column; ``None``: nothing served yet.
    """

    run_id: str
    generated_at: dt.datetime
    series_keys: list[str]
    history: pl.DataFrame
    backtest: pl.DataFrame
    forecasts: pl.DataFrame
    metrics: dict[str, Any]
    feature_importance: dict[str, float]
    row_counts: dict[str, Any]
    champion_history: list[dict[str, Any]] = field(default_factory=list)
    chosen_series: dict[str, str] | None = None
    top_n: int = 3
    model_version: str | None = None
    serving: str = "challenger"
    quality: dict[str, Any] | None = None
    drift: dict[str, Any] | None = None
    realised: dict[str, Any] | None = None
    segment_by: str | None = None
    last_served: pl.DataFrame | None = None

    @property
    def segment(self) -> str:
        """The column the coming forecast is summed by."""
        return self.segment_by or self.series_keys[-1]


# ---------------------------------------------------------------- formatting


def improvement(model: object, baseline: object) -> float | None:
    """Relative WAPE reduction of the model against a baseline (positive = better)."""
    if not isinstance(model, int | float) or not isinstance(baseline, int | float):
        return None
    return None if baseline == 0 else 1.0 - model / baseline


def date_range(frame: pl.DataFrame) -> str:
    """``first → last`` of a frame's ``date`` column."""
    dates = frame["date"]
    return f"{dates.min()!s} → {dates.max()!s}"


def versus(gain: float | None) -> str:
    """A relative WAPE change in words: ``42.0% better`` / ``12.5% worse``."""
    if gain is None:
        return "—"
    return f"{abs(gain):.1%} {'better' if gain >= 0 else 'worse'}"


def series_label(series: dict[str, str]) -> str:
    """``east / clothing`` for ``{"region": "east", "product_type": "clothing"}``."""
    return " / ".join(series.values())


def _methods(inputs: ReportInputs) -> list[str]:
    present = set(inputs.metrics.get("backtest", {})) | set(inputs.backtest.columns)
    return [m for m in METHODS if m in present]


def _wape(block: dict[str, Any], method: str) -> float | None:
    value = block.get(method, {}).get("wape")
    return float(value) if isinstance(value, int | float) else None


# ---------------------------------------------------------------- series selection


def _match(series: dict[str, str]) -> pl.Expr:
    return pl.all_horizontal([pl.col(k).cast(pl.String) == v for k, v in series.items()])


def plotted_series(inputs: ReportInputs) -> tuple[list[tuple[dict[str, str], str]], list[str]]:
    """The chosen series (when it is in the data), then the top ``top_n`` other series by
    total revenue.

    Returns ``(series, why)`` pairs (series: a value per key, in ``series_keys`` order;
    why: ``"chosen series"`` or ``"top 1 by revenue"``...) and notes about a chosen series
    that could not be shown.
    """
    keys = inputs.series_keys
    notes: list[str] = []
    out: list[tuple[dict[str, str], str]] = []
    chosen = inputs.chosen_series
    if chosen:
        wanted = {k: str(chosen[k]) for k in keys if k in chosen}
        if set(chosen) != set(keys):
            notes.append(
                f"chosen series {dict(chosen)} must give a value for exactly the series keys "
                f"{keys}; not shown"
            )
        elif inputs.history.filter(_match(wanted)).height == 0:
            notes.append(f"chosen series {series_label(wanted)} is not in the data; not shown")
        else:
            out.append((wanted, "chosen series"))
    if inputs.history.height == 0 or not keys or inputs.top_n <= 0:
        return out, notes
    totals = (
        inputs.history.group_by(keys)
        .agg(pl.col("revenue").sum().alias("total"))
        .with_columns(pl.col(k).cast(pl.String) for k in keys)
        .sort(["total", *keys], descending=[True, *([False] * len(keys))], nulls_last=True)
    )
    shown = [s for s, _ in out]
    for rank, row in enumerate(totals.iter_rows(named=True), start=1):
        series = {k: str(row[k]) for k in keys}
        if series not in shown:
            out.append((series, f"top {rank} by revenue"))
            shown.append(series)
        if len(out) - (1 if out and out[0][1] == "chosen series" else 0) >= inputs.top_n:
            break
    return out, notes


def _series_block(
    inputs: ReportInputs, series: dict[str, str], why: str, methods: list[str]
) -> str:
    """Heading, backtest scores and the plot of one series."""
    match = _match(series)
    history = inputs.history.filter(match).sort("date")
    backtest = inputs.backtest.filter(match).sort("origin", "date")
    forecasts = inputs.forecasts.filter(match).sort("date")
    steps = backtest["step"].max() if "step" in backtest.columns else None
    horizon = (steps if isinstance(steps, int) else 0) or forecasts.height or 28
    first = backtest["date"].min() if backtest.height else None
    dates = history["date"].to_list()
    end = next((i for i, d in enumerate(dates) if first is not None and d >= first), len(dates))
    history = history.slice(max(0, end - max(2 * horizon, 8)))
    shown = pl.concat([history.select("date"), forecasts.select("date")])
    scores = score_methods(backtest) if backtest.height else {}
    wapes = ", ".join(f"{METHOD_LABELS[m]} {pct(scores[m]['wape'])}" for m in scores)
    facts = [date_range(shown)] if shown.height else []
    facts += [f"backtest WAPE: {wapes}"] if wapes else ["no backtest rows"]
    image = figures.series_plot(history, backtest, forecasts, methods)
    alt = f"Actual, backtest and forecast revenue for {series_label(series)}"
    return (
        f'<h3>{esc(series_label(series))} <span class="tag">{esc(why)}</span></h3>'
        f'<p class="note">{esc(" · ".join(facts))}</p><figure>{img(image, alt)}</figure>'
    )


# ---------------------------------------------------------------- sections


def _section(key: str, body: str, intro: str = "") -> str:
    return section(key, SECTIONS[key], body, intro)


def _summary(inputs: ReportInputs) -> str:
    backtest = inputs.metrics.get("backtest", {})
    gate = inputs.metrics.get("gate", {})
    clean = inputs.row_counts.get("clean", {})
    anchor = (gate.get("baseline") or {}).get("name") or "seasonal_naive"
    model, naive = _wape(backtest, "model"), _wape(backtest, anchor)
    gain = improvement(model, naive)
    n_series = inputs.history.select(inputs.series_keys).n_unique() if inputs.history.height else 0
    periods = inputs.forecasts["date"].n_unique() if inputs.forecasts.height else 0
    horizon = date_range(inputs.forecasts) if periods else "no forecasts"
    cards = [
        card("Gate", badge(bool(gate.get("passed"))), esc(f"serving: {inputs.serving}")),
        card(
            "Model WAPE",
            esc(pct(model)),
            esc(f"best baseline, {anchor.replace('_', ' ')} {pct(naive)}: {versus(gain)}")
            if gain is not None
            else "",
        ),
        card("Series", esc(num(n_series)), esc(f"{periods} periods forecast: {horizon}")),
        card(
            "Rows in",
            esc(num(clean.get("rows_in"))),
            esc(
                f"{num(clean.get('rows_quarantined'))} quarantined, "
                f"{num(clean.get('rows_repaired'))} repaired"
            ),
        ),
    ]
    return _section("summary", f'<div class="cards">{"".join(cards)}</div>')


def _series_section(inputs: ReportInputs) -> str:
    methods = [m for m in METHODS if m in inputs.backtest.columns]
    selected, notes = plotted_series(inputs)
    figures = [_series_block(inputs, series, why, methods) for series, why in selected]
    body = "".join(f'<p class="note">{esc(n)}</p>' for n in notes) + "".join(figures)
    windows = inputs.metrics.get("windows", {})
    origins = ", ".join(str(o) for o in windows.get("origins", []))
    intro = (
        "Actual revenue (black), the backtest windows (shaded W1…) with each method's "
        "predictions, and the forecast for the next periods (green)."
        + (f" Window origins: {esc(origins)}." if origins else "")
    )
    return _section("series", body or '<p class="note">No series to plot.</p>', intro)


def _accuracy_section(inputs: ReportInputs) -> str:
    backtest = inputs.metrics.get("backtest", {})
    methods = _methods(inputs)
    naive = _wape(backtest, "seasonal_naive")
    best = min((w for m in methods if (w := _wape(backtest, m)) is not None), default=None)
    rows = []
    for m in methods:
        block = backtest.get(m, {})
        wape = _wape(backtest, m)
        shown = pct(wape)
        rows.append(
            [
                Safe(f"<strong>{esc(METHOD_LABELS[m])}</strong>")
                if m == "model"
                else METHOD_LABELS[m],
                Safe(f"<strong>{esc(shown)}</strong>")
                if wape is not None and wape == best
                else shown,
                num(block.get("mae")),
                num(block.get("rmse")),
                pct(block.get("bias"), signed=True),
                num(block.get("n")),
                "—" if m == "seasonal_naive" else versus(improvement(wape, naive)),
            ]
        )
    headline = table(
        ["method", "WAPE", "MAE", "RMSE", "bias", "rows scored", "WAPE vs seasonal naive"],
        rows,
    )
    charts: list[str] = []
    wide_charts: list[str] = []
    per_h = inputs.metrics.get("per_horizon", [])
    if per_h:
        steps = [int(r["step"]) for r in per_h]
        image = figures.horizon_plot(steps, {m: [_wape(r, m) for r in per_h] for m in methods})
        charts.append(figure(image, "WAPE by horizon step"))
    per_s = inputs.metrics.get("per_segment", [])
    if per_s:
        seg = sorted(
            ((str(r["segment"]), {m: _wape(r, m) for m in methods}) for r in per_s),
            key=lambda p: (-(p[1].get("model") or 0.0), p[0]),
        )
        wide = len(seg) > 8 or max(len(name) for name, _ in seg) > 16
        image = figures.segment_plot(seg, methods, wide=wide)
        chart = figure(image, "WAPE by segment, worst model WAPE first")
        (wide_charts if wide else charts).append(chart)
    per_w = inputs.metrics.get("per_window", [])
    if per_w:
        window_table = table(
            ["window origin", *(f"{METHOD_LABELS[m]} WAPE" for m in methods)],
            ([str(r.get("origin")), *(pct(_wape(r, m)) for m in methods)] for r in per_w),
        )
        charts.append(f"<div><h3>Per backtest window</h3>{window_table}</div>")
    body = (
        headline
        + _choice_note(inputs.metrics)
        + f'<div class="grid">{"".join(charts)}</div>'
        + "".join(wide_charts)
    )
    intro = (
        "Rolling-origin backtest. WAPE = Σ|forecast − actual| / Σ|actual|; bias = "
        "(Σforecast − Σactual) / Σ|actual| (positive = over-forecast)."
    )
    return _section("accuracy", body, intro)


def _choice_note(metrics: dict[str, Any]) -> str:
    """How the served model was chosen, the baseline the gate compared with, its intervals."""
    ens, gate = metrics.get("ensemble") or {}, metrics.get("gate") or {}
    model = (metrics.get("backtest") or {}).get("model") or {}
    lines = []
    if ens:
        final = ens.get("final") or {}
        weights = ", ".join(
            f"{name.replace('_', ' ')} {w:.2f}" for name, w in (final.get("weights") or {}).items()
        )
        per_window = "; ".join(
            f"{w.get('origin')}: {w.get('recipe')}" for w in ens.get("per_window") or []
        )
        lines.append(
            f"Model: recipe {final.get('recipe')} ({weights}) for the forecast. {ens.get('how')}. "
            f"Recipe per scored window: {per_window}."
        )
    baseline = gate.get("baseline") or {}
    if baseline:
        lines.append(
            f"The gate compared with the best baseline of this run: "
            f"{str(baseline.get('name')).replace('_', ' ')} (WAPE {pct(baseline.get('wape'))})."
        )
    cover = next((k for k in model if k.startswith("coverage_")), None)
    if cover is not None:
        pinball = [
            f"{k[len('pinball_') :].upper()} {v:.4f}"
            for k, v in model.items()
            if k.startswith("pinball_") and v is not None
        ]
        lines.append(
            f"Intervals: the {cover[len('coverage_') :]}% interval covered "
            f"{pct(model.get(cover))} of held-out actuals; pinball loss (÷ Σ|actual|) "
            f"{', '.join(pinball)}."
        )
    return "".join(f'<p class="note">{esc(line)}</p>' for line in lines)


def _features_section(inputs: ReportInputs) -> str:
    pairs = sorted(inputs.feature_importance.items(), key=lambda p: (-p[1], p[0]))
    if not pairs:
        return _section("features", '<p class="note">No feature importance recorded.</p>')
    total = sum(v for _, v in pairs) or 1.0
    top = [(name, value / total) for name, value in pairs[:TOP_FEATURES]]
    image = figures.importance_plot(top)
    rest = len(pairs) - len(top)
    intro = f"Total gain per feature, top {len(top)} of {len(pairs)}" + (
        f" ({rest} not shown)." if rest else "."
    )
    return _section("features", f"<figure>{img(image, 'Feature importance')}</figure>", intro)


def _quality_section(inputs: ReportInputs) -> str:
    clean = inputs.row_counts.get("clean", {})
    rows_in = clean.get("rows_in")

    def share(value: object) -> str:
        if isinstance(value, int) and isinstance(rows_in, int) and rows_in > 0:
            return f"{value / rows_in:.2%}"
        return "—"

    rows: list[list[object]] = [
        ["rows in", num(rows_in), share(rows_in)],
        ["rows kept", num(clean.get("rows_kept")), share(clean.get("rows_kept"))],
        [
            "rows quarantined",
            num(clean.get("rows_quarantined")),
            share(clean.get("rows_quarantined")),
        ],
    ]
    rows += [[r, num(clean.get(r, 0)), share(clean.get(r, 0))] for r in QUARANTINE_REASONS]
    rows += [
        [
            "rows repaired (revenue = units × unit price)",
            num(clean.get("rows_repaired")),
            share(clean.get("rows_repaired")),
        ],
        ["rows late (kept)", num(clean.get("rows_late")), share(clean.get("rows_late"))],
        [
            "rows with a category spelling normalised (kept)",
            num(clean.get("rows_normalised", 0)),
            share(clean.get("rows_normalised", 0)),
        ],
    ]
    kept, quarantined = clean.get("rows_kept"), clean.get("rows_quarantined")
    if all(isinstance(v, int) for v in (rows_in, kept, quarantined)):
        ok = rows_in == kept + quarantined
        check = (
            f"Rows reconcile: {num(rows_in)} in = {num(kept)} kept + {num(quarantined)} "
            f"quarantined{'' if ok else ' — MISMATCH'}."
        )
    else:
        check = "Row counts not recorded."
    extra = []
    agg = inputs.row_counts.get("aggregate", {})
    if agg:
        extra.append(
            f"Panel: {num(agg.get('rows'))} rows, {num(agg.get('series'))} series, "
            f"{num(agg.get('periods_filled'))} missing periods filled."
        )
    files = inputs.row_counts.get("ingest", {}).get("files")
    if files is not None:
        extra.append(f"Input files: {num(files)}.")
    notes = "".join(f'<p class="note">{esc(t)}</p>' for t in [check, *extra])
    classes = ["", "", "strong"] + [
        "reason" if clean.get(r) else "reason zero" for r in QUARANTINE_REASONS
    ]
    body = table(["", "rows", "share of rows in"], rows, row_class=classes)
    return _section("data-quality", body + notes)


def _gate_section(inputs: ReportInputs) -> str:
    gate = inputs.metrics.get("gate", {})
    reasons = gate.get("reasons", []) or ["no reasons recorded"]
    items = "".join(f"<li>{esc(r)}</li>" for r in reasons)
    facts = [
        ["decision", badge(bool(gate.get("passed")))],
        ["model version", inputs.model_version or "not registered"],
        ["serving", inputs.serving],
    ]
    champ = gate.get("champion")
    if isinstance(champ, dict):
        compared = f"{champ.get('version')} (WAPE {pct(champ.get('wape'))})"
        facts.append(["compared with champion", compared])
    body = table(None, facts, numeric_from=9) + f'<ul class="reasons">{items}</ul>'
    return _section("gate", body)


def _champion_section(inputs: ReportInputs) -> str:
    events = inputs.champion_history
    if not events:
        empty = "No champion events yet: no model has been promoted."
        return _section("champion", f'<p class="note">{empty}</p>')
    rows = [
        [
            str(e.get("time", "")),
            str(e.get("event", "")),
            str(e.get("version", "")),
            str(e.get("actor", "")),
            str(e.get("reason", "")),
        ]
        for e in reversed(events)
    ]
    return _section(
        "champion",
        table(["time", "event", "version", "actor", "reason"], rows, numeric_from=9),
        "Newest first.",
    )


def render_report(inputs: ReportInputs) -> str:
    """The run's report as one self-contained HTML page (no I/O).

    Plots are inlined as base64 PNG, styles are inline and a Content-Security-Policy
    forbids loading anything else, so the file opens offline.
    """
    day, moment = stamp(inputs.generated_at)
    gate = inputs.metrics.get("gate", {})
    meta = [
        f"run <strong>{esc(inputs.run_id)}</strong>",
        f"generated {esc(moment)}",
        f"model version {esc(inputs.model_version or 'not registered')}",
        f"serving {esc(inputs.serving)}",
        f"gate {badge(bool(gate.get('passed')))}",
    ]
    nav = "".join(f'<a href="#{key}">{esc(title)}</a>' for key, title in SECTIONS.items())
    sections = [
        _summary(inputs),
        _section(
            "forecast",
            outlook.outlook_html(
                inputs.forecasts, inputs.series_keys, inputs.segment, inputs.last_served
            ),
        ),
        _series_section(inputs),
        _accuracy_section(inputs),
        monitoring.realised_section(inputs.realised, inputs.metrics),
        f'<div class="pair">{_features_section(inputs)}{_quality_section(inputs)}</div>',
        monitoring.quality_section(inputs.quality),
        monitoring.drift_section(inputs.drift),
        _gate_section(inputs),
        _champion_section(inputs),
    ]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Sales forecast report {esc(day)} · {esc(inputs.run_id)}</title>"
        f"<style>{STYLE}</style></head>\n<body>"
        f'<header><h1>Sales forecast report — <time datetime="{esc(day)}">{esc(day)}</time></h1>'
        f'<div class="meta">{"".join(f"<span>{m}</span>" for m in meta)}</div></header>'
        f"<nav>{nav}</nav><main>\n"
        + "\n".join(sections)
        + f"\n</main><footer>Sales forecast pipeline · run {esc(inputs.run_id)} · "
        f"generated {esc(moment)} · self-contained, opens offline</footer></body></html>\n"
    )


# ---------------------------------------------------------------- Prefect artifacts


def markdown_summary(inputs: ReportInputs, report_uri: str | None = None) -> str:
    """The headline numbers as Markdown for a Prefect markdown artifact.

    Run id, gate decision with its reasons, WAPE (and MAE, RMSE, bias) of the model
    against the baselines, rows in / kept / quarantined by reason, then one line each for
    data quality, drift and realised accuracy; ``report_uri`` (where ``report.html`` was
    written) is added when given.
    """
    day, moment = stamp(inputs.generated_at)
    gate = inputs.metrics.get("gate", {})
    backtest = inputs.metrics.get("backtest", {})
    clean = inputs.row_counts.get("clean", {})
    naive = _wape(backtest, "seasonal_naive")
    lines = [
        f"## Sales forecast run {md(inputs.run_id)}",
        "",
        (
            f"Generated {md(moment)} · model version "
            f"{md(inputs.model_version or 'not registered')} · serving {md(inputs.serving)}"
        ),
        "",
        f"**Gate: {'passed' if gate.get('passed') else 'failed'}**",
        "",
        *(f"- {md(r)}" for r in gate.get("reasons", [])),
        "",
        "| method | WAPE | vs seasonal naive | MAE | RMSE | bias |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in _methods(inputs):
        block = backtest.get(m, {})
        gain = "—" if m == "seasonal_naive" else versus(improvement(_wape(backtest, m), naive))
        lines.append(
            f"| {md(METHOD_LABELS[m])} | {pct(block.get('wape'))} | {gain} | "
            f"{num(block.get('mae'))} | {num(block.get('rmse'))} | "
            f"{pct(block.get('bias'), signed=True)} |"
        )
    reasons = ", ".join(f"{md(r)} {num(clean[r])}" for r in QUARANTINE_REASONS if clean.get(r))
    lines += [
        "",
        f"Rows in {num(clean.get('rows_in'))} · kept {num(clean.get('rows_kept'))} · "
        f"quarantined {num(clean.get('rows_quarantined'))}"
        + (f" ({reasons})" if reasons else "")
        + f" · repaired {num(clean.get('rows_repaired'))} · late {num(clean.get('rows_late'))}"
        + f" · categories normalised {num(clean.get('rows_normalised', 0))}",
        "",
        *monitoring.markdown_lines(inputs.quality, inputs.drift, inputs.realised),
        "",
        "**Coming forecast**",
        "",
        *outlook.outlook_markdown(
            inputs.forecasts, inputs.series_keys, inputs.segment, inputs.last_served
        ),
    ]
    if report_uri:
        lines += ["", f"Report ({md(day)}): `{report_uri.replace('`', '')}`"]
    return "\n".join(lines) + "\n"


def _round(value: object) -> object:
    return round(value, 4) if isinstance(value, float) else value


def segment_table(inputs: ReportInputs) -> list[dict[str, Any]]:
    """Per-segment backtest metrics, one flat row per segment, for a Prefect table artifact."""
    methods = _methods(inputs)
    rows: list[dict[str, Any]] = []
    for entry in inputs.metrics.get("per_segment", []):
        model = entry.get("model", {})
        row: dict[str, Any] = {"segment": str(entry.get("segment")), "rows": model.get("n")}
        row |= {f"{m}_wape": _round(_wape(entry, m)) for m in methods}
        row |= {
            "model_mae": _round(model.get("mae")),
            "model_rmse": _round(model.get("rmse")),
            "model_bias": _round(model.get("bias")),
            "wape_gain_vs_seasonal_naive": _round(
                improvement(_wape(entry, "model"), _wape(entry, "seasonal_naive"))
            ),
        }
        rows.append(row)
    return rows
