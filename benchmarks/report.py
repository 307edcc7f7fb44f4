"""Medians, ratios from interleaved rounds, targets, the printed table and the JSON."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks.runner import CaseRun

GIB = 1024.0
Metrics = dict[str, float]


def _stage(r: CaseRun, name: str) -> float:
    return float(r.result.get("stages", {}).get(name, {}).get("seconds", float("nan")))


def _after(r: CaseRun, name: str) -> float:
    return float(r.result.get("stages", {}).get(name, {}).get("maxrss_after_mib", float("nan")))


def pipeline_metrics(r: CaseRun) -> Metrics:
    """ours / pandas: stage groups and peaks (``ru_maxrss`` after features = prep peak)."""
    s = {n: _stage(r, n) for n in ("ingest", "clean", "panel", "features", "train", "forecast")}
    to_panel = s["ingest"] + s["clean"] + s["panel"]
    prep = to_panel + s["features"]
    out = {
        **s,
        "ingest_to_panel": to_panel,
        "prep": prep,
        "e2e": prep + s["train"] + s["forecast"],
        "prep_peak_mib": _after(r, "features"),
        "peak_mib": float(r.result.get("peak_rss_mib", float("nan"))),
        "baseline_mib": float(r.result.get("baseline_rss_mib", float("nan"))),
        "wall": r.wall_seconds,
    }
    if "evaluate" in r.result.get("stages", {}):
        out["evaluate"] = _stage(r, "evaluate")
    return out


def floor_metrics(r: CaseRun) -> Metrics:
    """floor: the one query and bare training."""
    return {
        "ingest_to_panel": _stage(r, "scan_to_panel"),
        "train": _stage(r, "train"),
        "ingest_to_panel_peak_mib": _after(r, "scan_to_panel"),
        "peak_mib": float(r.result.get("peak_rss_mib", float("nan"))),
        "wall": r.wall_seconds,
    }


def mlforecast_metrics(r: CaseRun) -> Metrics:
    """mlforecast: preprocess (= features) and fit (= features + train)."""
    return {
        "features": _stage(r, "preprocess"),
        "fit": _stage(r, "fit"),
        "forecast": _stage(r, "forecast"),
        "peak_mib": float(r.result.get("peak_rss_mib", float("nan"))),
        "wall": r.wall_seconds,
    }


def flow_metrics(r: CaseRun) -> Metrics:
    """flow: time of the flow call (server already up), start-up, steps, wall, peaks."""
    stages = r.result.get("stages", {})
    steps = {k.split(":", 1)[1]: v["seconds"] for k, v in stages.items() if k.startswith("step:")}
    pipeline = ("ingest", "clean", "aggregate", "features", "train", "forecast")
    return {
        "flow": _stage(r, "flow"),
        "server_startup": _stage(r, "server_startup"),
        "import": _stage(r, "import"),
        "steps_e2e": sum(steps.get(n, 0.0) for n in pipeline),
        **{f"step_{k}": float(v) for k, v in steps.items()},
        "cached_steps": sum(
            v.get("cached", 0.0) for k, v in stages.items() if k.startswith("step:")
        ),
        "wall": r.wall_seconds,
        "wall_minus_startup": r.wall_seconds - _stage(r, "server_startup"),
        "peak_mib": float(r.result.get("peak_rss_mib", float("nan"))),
        "tree_peak_mib": float(r.result.get("tree_peak_rss_mib", float("nan"))),
    }


METRICS: dict[str, Callable[[CaseRun], Metrics]] = {
    "ours": pipeline_metrics,
    "pandas": pipeline_metrics,
    "floor": floor_metrics,
    "mlforecast": mlforecast_metrics,
    "flow-cold": flow_metrics,
    "flow-cached": flow_metrics,
}


def median(values: list[float]) -> float:
    """Median of the finite values (nan when there are none)."""
    good = [v for v in values if not math.isnan(v)]
    return statistics.median(good) if good else float("nan")


def summarize(runs: list[CaseRun]) -> dict[str, dict[str, Any]]:
    """Per case label: median of each metric over the rounds that succeeded."""
    out: dict[str, dict[str, Any]] = {}
    for label in dict.fromkeys(r.label for r in runs):
        mine = [r for r in runs if r.label == label]
        good = [METRICS[label](r) for r in mine if r.ok]
        entry: dict[str, Any] = {"runs": len(mine), "ok": len(good)}
        if good:
            entry["median"] = {k: median([g.get(k, float("nan")) for g in good]) for k in good[0]}
            entry["min"] = {k: min(g.get(k, float("inf")) for g in good) for k in good[0]}
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


def ratios(runs: list[CaseRun]) -> dict[str, float]:
    """The ratios the README quotes, each a median of per-round ratios."""
    direct_full = lambda o: o["e2e"] + o.get("evaluate", float("nan"))  # noqa: E731
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
        "ours/floor train": paired(runs, "ours", "floor", lambda o, f: o["train"] / f["train"]),
        "ours/mlforecast features": paired(
            runs, "ours", "mlforecast", lambda o, m: o["features"] / m["features"]
        ),
        "ours/mlforecast features+train": paired(
            runs, "ours", "mlforecast", lambda o, m: (o["features"] + o["train"]) / m["fit"]
        ),
        "flow/direct ingest..forecast": paired(
            runs, "flow-cold", "ours", lambda f, o: f["steps_e2e"] / o["e2e"]
        ),
        "prefect overhead / cold flow": paired(
            runs,
            "flow-cold",
            "ours",
            lambda f, o: (f["flow"] - f.get("step_publish", 0.0) - direct_full(o)) / f["flow"],
        ),
        "cached/cold flow time": paired(
            runs, "flow-cached", "flow-cold", lambda c, f: c["flow"] / f["flow"]
        ),
    }


@dataclass(frozen=True)
class Target:
    """One claim of the README: a measured value, its bound and the size it is judged at."""

    name: str
    metric: str
    bound: float
    higher_is_better: bool
    size: int | None

    def judge(self, value: float) -> bool | None:
        """True/False, or None when it was not measured."""
        if math.isnan(value):
            return None
        return value >= self.bound if self.higher_is_better else value <= self.bound


def targets(sizes: list[int]) -> list[Target]:
    """The issue's targets, at 10M rows (or the largest size run below 100M), 1M for Prefect."""
    main = [s for s in sizes if s < 100_000_000]
    at10 = 10_000_000 if 10_000_000 in sizes else (max(main) if main else None)
    at1 = 1_000_000 if 1_000_000 in sizes else (min(main) if main else None)
    return [
        Target("prep >= 10x faster than pandas", "pandas/ours prep time", 10.0, True, at10),
        Target("prep peak RSS <= 1/3 of pandas", "ours/pandas prep peak RSS", 1 / 3, False, at10),
        Target("end to end >= 3x faster than pandas", "pandas/ours e2e time", 3.0, True, at10),
        Target("ingest->panel within 1.5x of floor", "ours/floor ingest->panel", 1.5, False, at10),
        Target("features no slower than mlforecast", "ours/mlforecast features", 1.0, False, at10),
        Target("train within 1.1x of bare lightgbm", "ours/floor train", 1.1, False, at10),
        Target(
            "Prefect overhead < 10% of cold run", "prefect overhead / cold flow", 0.10, False, at1
        ),
        Target("fully cached re-run < 5 s flow time", "cached flow seconds", 5.0, False, at1),
        Target("100M end to end peak RSS < 24 GiB", "100M peak RSS GiB", 24.0, False, 100_000_000),
        Target("100M time no worse than linear", "100M/10M time per row", 1.0, False, 100_000_000),
    ]


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Judge every target on the summarized result."""
    sizes = [int(s) for s in result["sizes"]]
    out = []
    for t in targets(sizes):
        value = float("nan")
        if t.size is not None and str(t.size) in result["sizes"]:
            value = _target_value(result, t)
        out.append({**t.__dict__, "value": value, "passed": t.judge(value)})
    return out


def _target_value(result: dict[str, Any], t: Target) -> float:
    size = result["sizes"][str(t.size)]
    if t.metric == "cached flow seconds":
        return float(
            size["summary"].get("flow-cached", {}).get("median", {}).get("flow", float("nan"))
        )
    if t.metric == "100M peak RSS GiB":
        ours = size["summary"].get("ours", {})
        if ours.get("ok"):
            return float(ours["median"]["peak_mib"]) / GIB
        return float("inf") if ours.get("errors") else float("nan")
    if t.metric == "100M/10M time per row":
        return _scaling(result)
    return float(size["ratios"].get(t.metric, float("nan")))


def _scaling(result: dict[str, Any]) -> float:
    try:
        big, ten = result["sizes"]["100000000"], result["sizes"]["10000000"]
        t_big = big["summary"]["ours"]["median"]["e2e"] / big["rows"]
        t_ten = ten["summary"]["ours"]["median"]["e2e"] / ten["rows"]
    except KeyError:
        return float("nan")
    return float(t_big / t_ten)
