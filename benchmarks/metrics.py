"""What each case's run measured, as flat name -> number dicts (one per run)."""

from __future__ import annotations

from collections.abc import Callable

from benchmarks.flowcase import PIPELINE_STEPS
from benchmarks.runner import CaseRun

NAN = float("nan")
Metrics = dict[str, float]
PIPELINE = ("ingest", "clean", "panel", "features", "train", "forecast")


def stage(r: CaseRun, name: str) -> float:
    """Seconds of one recorded stage (nan when absent)."""
    return float(r.result.get("stages", {}).get(name, {}).get("seconds", NAN))


def after(r: CaseRun, name: str) -> float:
    """The process's peak RSS (high-water mark) right after a stage, MiB."""
    return float(r.result.get("stages", {}).get(name, {}).get("maxrss_after_mib", NAN))


def _prefixed(r: CaseRun, prefix: str) -> dict[str, float]:
    stages = r.result.get("stages", {})
    n = len(prefix)
    return {k[n:]: float(v["seconds"]) for k, v in stages.items() if k.startswith(prefix)}


def pipeline_metrics(r: CaseRun) -> Metrics:
    """ours / pandas: stage groups and peaks (peak RSS after features = prep peak)."""
    s = {n: stage(r, n) for n in PIPELINE}
    to_panel = s["ingest"] + s["clean"] + s["panel"]
    prep = to_panel + s["features"]
    return {
        **s,
        "ingest_to_panel": to_panel,
        "prep": prep,
        "e2e": prep + s["train"] + s["forecast"],
        "prep_peak_mib": after(r, "features"),
        "peak_mib": float(r.result.get("peak_rss_mib", NAN)),
        "baseline_mib": float(r.result.get("baseline_rss_mib", NAN)),
        "wall": r.wall_seconds,
    }


def floor_metrics(r: CaseRun) -> Metrics:
    """floor: the one query, bare training, and ``train_model`` alternated with it."""
    return {
        "ingest_to_panel": stage(r, "scan_to_panel"),
        "train": stage(r, "train"),
        "train_ours": stage(r, "train_ours"),
        "train_ratio": float(r.result.get("info", {}).get("train_ratio", NAN)),
        "ingest_to_panel_peak_mib": after(r, "scan_to_panel"),
        "peak_mib": float(r.result.get("peak_rss_mib", NAN)),
        "wall": r.wall_seconds,
    }


def mlforecast_metrics(r: CaseRun) -> Metrics:
    """mlforecast: preprocess (= features) and fit (= features + train)."""
    return {
        "features": stage(r, "preprocess"),
        "fit": stage(r, "fit"),
        "forecast": stage(r, "forecast"),
        "peak_mib": float(r.result.get("peak_rss_mib", NAN)),
        "wall": r.wall_seconds,
    }


def _flow_peak(r: CaseRun, key: str) -> float:
    """A peak RSS sampled during the flow call only (not the direct replay), MiB."""
    return float(r.result.get("stages", {}).get("flow", {}).get(key, NAN))


def flow_metrics(r: CaseRun) -> Metrics:
    """flow: the flow call (server already up), its steps, and Prefect's overhead.

    ``pipeline_steps`` are the steps that run the stage functions the ``ours`` case times
    (ingest … forecast, and the backtest); ``direct`` is those same functions called
    directly in the same process right after the flow (cold run only, see ``flowcase``);
    ``overhead`` is the difference. ``other_steps`` (quality, champion, gate, registry,
    monitoring, serving, report, publish) is work the direct case does not do;
    ``outside_steps`` is the flow's own time around its steps (flow-run bookkeeping,
    config composition, manifest assembly).
    """
    steps = _prefixed(r, "step:")
    direct = _prefixed(r, "direct:")
    flow = stage(r, "flow")
    pipeline = sum(steps.get(n, 0.0) for n in PIPELINE_STEPS)
    cached = r.result.get("info", {}).get("states", {})
    out = {
        "flow": flow,
        "server_startup": stage(r, "server_startup"),
        "import": stage(r, "import"),
        "pipeline_steps": pipeline,
        "other_steps": sum(v for k, v in steps.items() if k not in PIPELINE_STEPS),
        "outside_steps": flow - sum(steps.values()),
        "cached_steps": float(sum(state == "Cached" for state in cached.values())),
        "steps": float(len(steps)),
        "wall": r.wall_seconds,
        "peak_mib": _flow_peak(r, "stage_peak_rss_mib"),
        "tree_peak_mib": _flow_peak(r, "stage_tree_peak_rss_mib"),
        **{f"step_{k}": v for k, v in steps.items()},
    }
    if direct:
        same = sum(direct.get(d, NAN) for d in PIPELINE_STEPS.values())
        out |= {"direct": same, "overhead": pipeline - same}
        for step, d in PIPELINE_STEPS.items():
            out[f"overhead_{step}"] = steps.get(step, NAN) - direct.get(d, NAN)
    return out


METRICS: dict[str, Callable[[CaseRun], Metrics]] = {
    "ours": pipeline_metrics,
    "pandas": pipeline_metrics,
    "floor": floor_metrics,
    "mlforecast": mlforecast_metrics,
    "flow-cold": flow_metrics,
    "flow-cached": flow_metrics,
}
