"""Medians per case and the ratios, each from runs of the same round (interleaved)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.metrics import METRICS, Metrics
from benchmarks.runner import CaseRun


def median(values: list[float]) -> float:
    """Median of the finite values (nan when there are none)."""
    good = [v for v in values if not math.isnan(v)]
    return statistics.median(good) if good else float("nan")


def summarize(runs: list[CaseRun]) -> dict[str, dict[str, Any]]:
    """Per case label: median (and min) of each metric over the rounds that succeeded."""
    out: dict[str, dict[str, Any]] = {}
    for label in dict.fromkeys(r.label for r in runs):
        mine = [r for r in runs if r.label == label]
        good = [METRICS[label](r) for r in mine if r.ok]
        entry: dict[str, Any] = {"runs": len(mine), "ok": len(good)}
        if good:
            names = list(dict.fromkeys(k for g in good for k in g))
            entry["median"] = {k: median([g.get(k, math.nan) for g in good]) for k in names}
            entry["min"] = {k: min(g.get(k, math.inf) for g in good) for k in names}
        errors = [str(r.result.get("error", ""))[-400:] for r in mine if not r.ok]
        if errors:
            entry["errors"] = errors
        out[label] = entry
    return out


def paired(runs: list[CaseRun], a: str, b: str, fn: Callable[[Metrics, Metrics], float]) -> float:
    """Median over rounds of ``fn(metrics of a, metrics of b)`` from the same round."""
    by_round: dict[int, dict[str, CaseRun]] = {}
    for r in runs:
        if r.ok:
            by_round.setdefault(r.round, {})[r.label] = r
    vals = [
        fn(METRICS[a](rs[a]), METRICS[b](rs[b])) for rs in by_round.values() if a in rs and b in rs
    ]
    return median(vals)


def single(runs: list[CaseRun], label: str, fn: Callable[[Metrics], float]) -> float:
    """Median over rounds of ``fn(metrics)`` of one case (a ratio measured inside a run)."""
    return median([fn(METRICS[label](r)) for r in runs if r.ok and r.label == label])


def ratios(runs: list[CaseRun]) -> dict[str, float]:
    """The ratios the README quotes, each a median of per-round (or per-run) ratios."""
    return {
        "pandas/ours prep time": paired(runs, "pandas", "ours", lambda p, o: p["prep"] / o["prep"]),
        "ours/pandas prep peak RSS": paired(
            runs, "ours", "pandas", lambda o, p: o["prep_peak_mib"] / p["prep_peak_mib"]
        ),
        "pandas/ours e2e time": paired(runs, "pandas", "ours", lambda p, o: p["e2e"] / o["e2e"]),
        "ours/pandas e2e peak RSS": paired(
            runs, "ours", "pandas", lambda o, p: o["peak_mib"] / p["peak_mib"]
        ),
        "ours/floor ingest->panel": paired(
            runs, "ours", "floor", lambda o, f: o["ingest_to_panel"] / f["ingest_to_panel"]
        ),
        "ours/floor train": single(runs, "floor", lambda f: f["train_ratio"]),
        "ours/floor train (across processes)": paired(
            runs, "ours", "floor", lambda o, f: o["train"] / f["train"]
        ),
        "ours/mlforecast features": paired(
            runs, "ours", "mlforecast", lambda o, m: o["features"] / m["features"]
        ),
        "ours/mlforecast features+train": paired(
            runs, "ours", "mlforecast", lambda o, m: (o["features"] + o["train"]) / m["fit"]
        ),
        "flow/direct pipeline stages": single(
            runs, "flow-cold", lambda f: f["pipeline_steps"] / f["direct"]
        ),
        "prefect overhead / cold flow": single(
            runs, "flow-cold", lambda f: f["overhead"] / f["flow"]
        ),
        "outside steps / cold flow": single(
            runs, "flow-cold", lambda f: f["outside_steps"] / f["flow"]
        ),
        "cached/cold flow time": paired(
            runs, "flow-cached", "flow-cold", lambda c, f: c["flow"] / f["flow"]
        ),
    }
