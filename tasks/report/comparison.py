"""A sweep's jobs side by side: what differed in their configs, their backtest, their cost.

Pure: takes what each job left (its resolved config, ``metrics.json``, timings) and returns
a Markdown table and a self-contained HTML page. ``flows.sweep`` reads the files and writes
the results into Hydra's multirun folder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tasks.report.format import STYLE, badge, esc, md, table

METRICS = ("wape", "bias", "mae", "rmse")


@dataclass(frozen=True)
class JobResult:
    """One job of a sweep, as it ended.

    ``config`` is the run's resolved config (``config.yaml``), ``metrics`` its
    ``metrics.json``; both are empty for a job that failed before writing them.
    """

    job: int
    overrides: list[str]
    status: str  # "completed" or "failed"
    wall_seconds: float | None
    run_id: str | None = None
    run_dir: str | None = None
    flow_seconds: float | None = None
    error: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested dict as ``{"a.b.c": value}`` (lists stay values)."""
    if not isinstance(node, dict):
        return {prefix: node}
    found: dict[str, Any] = {}
    for key, value in node.items():
        found.update(flatten(value, f"{prefix}{key}." if isinstance(value, dict) else prefix + key))
    return found


def differing_keys(jobs: list[JobResult]) -> list[str]:
    """Config keys whose value is not the same in every job that wrote a config, sorted."""
    flat = [flatten(j.config) for j in jobs if j.config]
    keys = sorted({k for f in flat for k in f})
    return [k for k in keys if len({repr(f.get(k, "<absent>")) for f in flat}) > 1]


def _metric(job: JobResult, method: str, name: str) -> float | None:
    value = ((job.metrics.get("backtest") or {}).get(method) or {}).get(name)
    return float(value) if isinstance(value, int | float) else None


def best_job(jobs: list[JobResult]) -> int | None:
    """The job number with the lowest model WAPE (ties: the lower job number)."""
    scored = [(w, j.job) for j in jobs if (w := _metric(j, "model", "wape")) is not None]
    return min(scored)[1] if scored else None


def _fmt(value: float | None, decimals: int = 4) -> str:
    return "—" if value is None else f"{value:.{decimals}f}"


def rows(jobs: list[JobResult]) -> tuple[list[str], list[list[str]]]:
    """The comparison's header and one row of plain text per job, in job order."""
    keys = differing_keys(jobs)
    header = [
        "job",
        *keys,
        *(f"model {m}" for m in METRICS),
        "seasonal naive wape",
        "moving average wape",
        "gate",
        "wall s",
        "flow s",
        "run",
    ]
    body = []
    for job in sorted(jobs, key=lambda j: j.job):
        flat = flatten(job.config)
        gate = (job.metrics.get("gate") or {}).get("passed")
        body.append(
            [
                str(job.job),
                *(str(flat.get(k, "—")) for k in keys),
                *(_fmt(_metric(job, "model", m)) for m in METRICS),
                _fmt(_metric(job, "seasonal_naive", "wape")),
                _fmt(_metric(job, "moving_average", "wape")),
                "failed job" if job.status != "completed" else _gate_word(gate),
                _fmt(job.wall_seconds, 1),
                _fmt(job.flow_seconds, 1),
                job.run_id or (job.error or "—"),
            ]
        )
    return header, body


def _gate_word(passed: object) -> str:
    return "—" if passed is None else ("passed" if passed else "failed")


def markdown(jobs: list[JobResult], sweep_dir: str) -> str:
    """The comparison as a Markdown document (``comparison.md``)."""
    header, body = rows(jobs)
    best = best_job(jobs)
    lines = [
        f"# Sweep comparison: {md(sweep_dir)}",
        "",
        (
            f"{len(jobs)} jobs; the columns before the metrics are the config keys that differ "
            "between them. Backtest metrics are pooled over the run's rolling-origin windows; "
            "wall s is the job from start to end (Prefect start-up included), flow s the flow "
            "run itself."
        ),
        "",
        "| " + " | ".join(md(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(md(c) for c in row) + " |" for row in body),
        "",
        f"Lowest model WAPE: job {best}." if best is not None else "No job has a model WAPE.",
        "",
    ]
    return "\n".join(lines)


def html_page(jobs: list[JobResult], sweep_dir: str, generated_at: dt.datetime) -> str:
    """The comparison as one self-contained HTML page (``comparison.html``)."""
    header, body = rows(jobs)
    best = best_job(jobs)
    gate_col = header.index("gate")
    shown: list[list[object]] = []
    for row in body:
        cells: list[object] = list(row)
        if row[gate_col] in ("passed", "failed"):
            cells[gate_col] = badge(row[gate_col] == "passed")
        shown.append(cells)
    classes = ["lv-warn" if best is not None and row[0] == str(best) else "" for row in body]
    lead = (
        f"{len(jobs)} jobs. Columns before the metrics: the config keys that differ. "
        f"Highlighted: the lowest model WAPE (job {best})."
        if best is not None
        else f"{len(jobs)} jobs; none has a model WAPE."
    )
    when = generated_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        "<title>Sweep comparison</title>"
        f"<style>{STYLE}</style></head><body>"
        f'<header><h1>Sweep comparison</h1><div class="meta"><span>{esc(sweep_dir)}</span>'
        f"<span>generated {esc(when)}</span></div></header><main>"
        f'<section id="comparison"><p class="lead">{esc(lead)}</p>'
        f"{table(header, shown, numeric_from=1, row_class=classes)}</section>"
        "</main></body></html>\n"
    )
